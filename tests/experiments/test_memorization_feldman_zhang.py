"""Feldman-Zhang estimators: synthetic cases with known answers, and twins in a real vmapped run."""

import numpy as np
import pytest

from capacity.experiments.memorization import _common as C
from capacity.experiments.memorization import feldman_zhang as FZ


def test_memorization_estimator_recovers_known_contrast():
    # correctness ~ Bernoulli(a_i) when i is in the subset, Bernoulli(b_i) when held out
    rng = np.random.default_rng(0)
    k, n = 4000, 50
    a, b = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    masks = FZ.random_subsets(k, n, 0.7, rng)
    correct = np.where(masks, rng.random((k, n)) < a, rng.random((k, n)) < b)
    mem = FZ.memorization_scores(masks, correct)
    n_in, n_out = masks.sum(0), (~masks).sum(0)
    se = np.sqrt(a * (1 - a) / n_in + b * (1 - b) / n_out)
    assert np.all(np.abs(mem - (a - b)) <= 5 * se + 1e-12)
    # the Feldman-Zhang RMSE bound holds (it is loose)
    assert np.sqrt(np.mean((mem - (a - b)) ** 2)) <= FZ.estimator_rmse_bound(0.7, k)


def test_influence_matrix_matches_direct_average():
    rng = np.random.default_rng(1)
    masks = FZ.random_subsets(40, 7, 0.5, rng)
    tc = rng.random((40, 5)) < 0.6
    infl = FZ.influence_matrix(masks, tc)
    for i in range(7):
        for j in range(5):
            direct = tc[masks[:, i], j].mean() - tc[~masks[:, i], j].mean()
            assert infl[i, j] == pytest.approx(direct, abs=1e-12)
    # mem is the influence of an example on itself
    c = rng.random((40, 7)) < 0.5
    assert np.allclose(FZ.memorization_scores(masks, c), np.diag(FZ.influence_matrix(masks, c)))


def test_held_out_accuracy_and_nan_for_never_held_out():
    masks = np.array([[1, 1], [1, 0], [1, 0]], bool)
    correct = np.array([[1, 1], [0, 0], [1, 1]], bool)
    assert np.isnan(FZ.memorization_scores(masks, correct)[0])  # never held out
    assert FZ.out_of_subset_accuracy(masks, correct)[1] == pytest.approx(0.5)


def test_duplicate_has_no_memorization_and_contradicting_twin_has_high_score():
    # three well separated clusters of a few points; example A has an identical duplicate with the
    # same label, example B an identical twin with the other label.
    rng = np.random.default_rng(3)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], float)
    x = np.concatenate([c + 0.3 * rng.standard_normal((8, 4)) for c in centers])
    y = np.repeat(np.arange(3), 8)
    a_dup, b_twin = 0, 8
    x = np.concatenate([x, x[[a_dup]], x[[b_twin]]]).astype(np.float32)
    y = np.concatenate([y, [y[a_dup]], [(y[b_twin] + 1) % 3]]).astype(np.int32)
    n = len(y)
    k = 96
    masks = FZ.random_subsets(k, n, 0.7, np.random.default_rng(4))
    spec = C.TrainSpec((4, 32, 3), steps=300, record_every=300)
    res = C.train_many(spec, x, y, weights=masks, seeds=range(k), lr=1e-2)
    mem = FZ.memorization_scores(masks, res.train_correct[-1])
    assert abs(mem[a_dup]) < 0.15 and abs(mem[n - 2]) < 0.15
    # the twin with the contradicting label is right exactly when it is trained on and its twin
    # (whose label agrees with the cluster) is not: so mem ≈ P[twin ∉ S] = 1 - r = 0.3, far above 0
    c = res.train_correct[-1][:, n - 1]
    i_in, j_in = masks[:, n - 1], masks[:, b_twin]
    assert c[i_in & ~j_in].mean() > 0.9
    assert c[j_in].mean() < 0.1 and c[~i_in].mean() < 0.1
    assert mem[n - 1] > 0.2
    # typical cluster points are not memorized
    assert np.nanmedian(np.abs(mem[:24])) < 0.05
