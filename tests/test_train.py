"""Training many MLPs in one vmapped call: it memorizes what it can, and only that."""

import numpy as np
import pytest

from capacity.data import generate
from capacity.errors import CapacityError, ShapeError
from capacity.train import Run, TrainConfig, he_init, train_runs
from theory.bounds import mlp_parameter_count as n_params

EPS = np.finfo(np.float64).eps


def _np_forward(kernels, biases, x):
    """Independent NumPy forward pass (float64)."""
    h = x
    for i, (w, b) in enumerate(zip(kernels, biases)):
        h = h @ w + b
        h = np.maximum(h, 0.0) if i < len(kernels) - 1 else h
    return h


def _residual(kernels, biases, x, y):
    return float(np.max(np.abs(_np_forward(kernels, biases, x) - y)))


def test_n_params_and_he_init():
    assert n_params([4, 16, 16, 1]) == 4 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    ks, bs = he_init([50, 400, 1], seed=0)
    assert ks[0].shape == (50, 400) and bs[0].shape == (400,) and not bs[0].any()
    # variance 2/fan_in within 5 standard errors of the sample variance (20,000 draws)
    var = ks[0].var()
    assert abs(var - 2 / 50) < 5 * (2 / 50) * np.sqrt(2 / ks[0].size)


def test_memorizes_an_easy_case_and_the_weights_really_fit():
    """4 points, 24 hidden units (121 parameters): Adam fits to max residual < tol."""
    ds = generate("gaussian", 4, 2, seed=0)
    cfg = TrainConfig(max_steps=2000, chunk=500, tol=1e-3)
    (r,) = train_runs([Run(ds.x, ds.y, (24,), 7, 1e-2, 1)], cfg, return_params=True)
    assert r["fitted"] and 0 < r["steps_to_fit"] < cfg.max_steps
    assert r["final_residual"] < cfg.tol
    # the returned (frozen) weights are the ones that fit: recompute independently
    res = _residual(r["kernels"], r["biases"], ds.x, ds.y)
    assert res == pytest.approx(r["final_residual"], rel=0, abs=64 * EPS)
    assert res < cfg.tol


def test_fails_a_hopeless_case():
    """13 parameters cannot interpolate 64 generic real labels: never fits, residual stays large."""
    ds = generate("gaussian", 64, 4, seed=1)
    cfg = TrainConfig(max_steps=1500, chunk=500, tol=1e-2)
    runs = [Run(ds.x, ds.y, (2,), s, lr, 1) for s in range(2) for lr in (3e-3, 3e-2)]
    out = train_runs(runs, cfg)
    assert n_params([4, 2, 1]) < 64
    for r in out:
        assert not r["fitted"] and r["steps_to_fit"] == -1 and r["steps_run"] == cfg.max_steps
        assert r["final_residual"] > 10 * cfg.tol


def test_classes_reach_full_accuracy_with_adam_and_with_minibatch_sgd():
    ds = generate("gaussian", 8, 3, seed=2, classes=3)
    for cfg in (TrainConfig(loss="xent", max_steps=2000, chunk=500),
                TrainConfig(loss="xent", optimizer="sgd", momentum=0.9, batch_size=4, max_steps=2000, chunk=500)):
        (r,) = train_runs([Run(ds.x, ds.y, (32, 32), 3, 3e-2, 3)], cfg, return_params=True)
        assert r["fitted"], cfg
        out = _np_forward(r["kernels"], r["biases"], ds.x)
        assert np.all(np.argmax(out, axis=1) == ds.y)
        assert r["final_residual"] < 0  # worst margin max_{c != y} f_c - f_y


def test_padding_is_exact_and_batching_does_not_change_a_run():
    """A run trained alone equals the same run batched (and padded) with a wider one."""
    ds = generate("gaussian", 12, 3, seed=3)
    cfg = TrainConfig(max_steps=300, chunk=100, tol=1e-9)
    a = Run(ds.x, ds.y, (5, 3), 11, 1e-2, 1)
    wide = Run(ds.x, ds.y, (16, 9), 12, 1e-2, 1)
    (alone,) = train_runs([a], cfg, return_params=True)
    batched = train_runs([a, wide], cfg, return_params=True)[0]
    assert [k.shape for k in batched["kernels"]] == [(3, 5), (5, 3), (3, 1)]
    # same arithmetic up to the summation order of a longer (zero-padded) dot product:
    # rounding-level differences, amplified over 300 Adam steps
    for k1, k2 in zip(alone["kernels"], batched["kernels"]):
        np.testing.assert_allclose(k1, k2, rtol=0, atol=np.sqrt(EPS))
    assert batched["final_loss"] == pytest.approx(alone["final_loss"], rel=np.sqrt(EPS))


def test_finished_runs_are_frozen_while_others_continue():
    """One hidden unit on 1-d inputs gives a flat piece and a linear piece: it fits at most 3 of 4
    generic points, while 24 units fit them."""
    easy = generate("gaussian", 4, 1, seed=4)
    hard = generate("gaussian", 4, 1, seed=5)
    cfg = TrainConfig(max_steps=2000, chunk=500, tol=1e-3)
    runs = [Run(easy.x, easy.y, (24,), 1, 1e-2, 1), Run(hard.x, hard.y, (1,), 2, 1e-2, 1)]
    fast, slow = train_runs(runs, cfg, return_params=True)
    assert fast["fitted"] and not slow["fitted"]
    # the frozen weights are exactly those checked at the fit (same residual to rounding)
    assert _residual(fast["kernels"], fast["biases"], easy.x, easy.y) == pytest.approx(
        fast["final_residual"], abs=64 * EPS)


def test_bad_configurations_raise_specific_errors():
    with pytest.raises(CapacityError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(CapacityError, match="tol"):
        TrainConfig(tol=0)
    ds = generate("gaussian", 4, 2, seed=0)
    other = generate("gaussian", 5, 2, seed=0)
    with pytest.raises(ShapeError, match="run 1"):
        train_runs([Run(ds.x, ds.y, (4,), 0, 1e-2, 1), Run(other.x, other.y, (4,), 0, 1e-2, 1)], TrainConfig())
    with pytest.raises(ShapeError, match="xent"):
        train_runs([Run(ds.x, ds.y, (4,), 0, 1e-2, 1)], TrainConfig(loss="xent"))
