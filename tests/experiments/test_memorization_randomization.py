"""Randomization test pieces: label corruption, fit times, clean-before-noisy, fitted vs parameters."""

import numpy as np

from capacity.experiments.memorization import _common as C


def test_noisy_labels_redraws_the_requested_fraction():
    y = np.arange(1000) % 10
    y2, changed = C.noisy_labels(y, 0.5, 10, np.random.default_rng(0))
    assert np.array_equal(changed, y2 != y)
    assert np.sum(y2 != y) <= 500
    assert 0.9 * 500 - 4 * np.sqrt(500 * 0.09) <= changed.sum()  # about 9/10 of the redrawn change


def test_first_stable_step():
    # (R=3 records, 3 examples); over the records example 0 is wrong, right, right; example 1
    # right, wrong, right; example 2 right, right, wrong
    correct = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], bool).T
    out = C.first_stable_step(correct, np.array([10, 20, 30]))
    assert list(out) == [20, 30, -1]


def test_clean_fitted_before_noisy_and_random_labels_fitted_grow_with_width():
    d = C.load_digits_split(200, 100, seed=0)
    y, noisy = C.noisy_labels(d.y_train, 0.4, 10, np.random.default_rng(1))
    spec = C.TrainSpec((64, 64, 10), steps=400, record_every=10)
    res = C.train_many(spec, d.x_train, y, seeds=[0, 1], lr=3e-3, x_eval=d.x_test, y_eval=d.y_test)
    fit = C.first_stable_step(res.train_correct, res.steps)
    assert (res.train_acc()[-1] == 1.0).all()
    for k in range(2):
        assert np.median(fit[k][~noisy]) * 3 <= np.median(fit[k][noisy])
    # test accuracy peaks before the noise is fitted (early stopping helps)
    assert res.eval_acc().max(0).min() > res.eval_acc()[-1].max() + 0.05
    # all labels random: a wider network fits more of them
    yr, _ = C.noisy_labels(d.y_train, 1.0, 10, np.random.default_rng(2))
    fitted = []
    for w in (2, 8, 64):
        r = C.train_many(C.TrainSpec((64, w, 10), steps=400, record_every=400), d.x_train, yr, seeds=[0], lr=3e-3)
        fitted.append(int(r.train_correct[-1, 0].sum()))
    assert fitted[0] < fitted[1] < fitted[2] == 200
