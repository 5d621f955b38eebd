"""Grokking pieces: the modular table, the 99% criterion, and training-before-generalization."""

import numpy as np

from capacity.experiments.memorization import _common as C
from capacity.experiments.memorization import grokking as G


def test_modular_addition_table():
    x, y = G.modular_addition(7)
    assert x.shape == (49, 14) and y.shape == (49,)
    a, b = x[:, :7].argmax(1), x[:, 7:].argmax(1)
    assert np.array_equal(y, (a + b) % 7)
    assert np.all(x.sum(1) == 2)


def test_first_step():
    assert G.first_step(np.array([0.5, 0.99, 1.0]), np.array([10, 20, 30])) == 20
    assert G.first_step(np.array([0.5, 0.9]), np.array([10, 20])) == -1


def test_training_set_fitted_long_before_validation():
    x, y = G.modular_addition(11)
    rng = np.random.default_rng(0)
    m = np.zeros(121, bool)
    m[rng.choice(121, 85, replace=False)] = True
    spec = C.TrainSpec((22, 64, 11), steps=400, record_every=20, b2=0.98)
    r = C.train_many(spec, x, y, weights=m, seeds=[0], lr=3e-3, weight_decay=1.0)
    tr = r.train_correct[:, 0][:, m].mean(1)
    va = r.train_correct[:, 0][:, ~m].mean(1)
    st = G.first_step(tr, r.steps)
    assert st > 0
    # when the training set is fitted, validation accuracy is still far from it
    assert va[list(r.steps).index(st)] < 0.5
