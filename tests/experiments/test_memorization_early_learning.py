"""ELR loss, gradient and target update against direct computations; the linear early-learning effect."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from capacity.experiments.memorization import _common as C
from capacity.experiments.memorization import early_learning as EL

RTOL = 1e-10  # float64 inputs, a handful of operations


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_elr_target_update_and_regularizer_match_formula():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    t = rng.dirichlet(np.ones(4), size=6) * 0.8
    beta = 0.7
    p, t_new = C.elr_terms(jnp.asarray(logits), jnp.asarray(t), beta)
    p_direct = np.clip(_softmax(logits), 1e-4, 1 - 1e-4)
    t_direct = beta * t + (1 - beta) * p_direct / p_direct.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(p), p_direct, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(t_new), t_direct, rtol=RTOL)
    w = np.array([1, 1, 0, 1, 1, 1.0])
    reg = C.elr_regularizer(p, t_new, jnp.asarray(w))
    direct = np.mean(np.log(1 - (t_direct * p_direct).sum(-1))[w > 0])
    assert float(reg) == pytest.approx(direct, rel=RTOL)


def test_elr_gradient_matches_closed_form():
    # d/dz_c log(1 - <t, p>) = p_c sum_k (t_k - t_c) p_k / (1 - <t, p>)   (t held fixed)
    rng = np.random.default_rng(1)
    z = rng.standard_normal(5)
    t = rng.dirichlet(np.ones(5))
    g = jax.grad(lambda zz: jnp.log(1 - jnp.dot(jnp.asarray(t), jax.nn.softmax(zz))))(jnp.asarray(z))
    p = _softmax(z)
    closed = p * ((t[None, :] - t[:, None]) * p[None, :]).sum(1) / (1 - t @ p)
    np.testing.assert_allclose(np.asarray(g), closed, rtol=1e-9, atol=1e-15)


def test_linear_model_learns_true_class_of_mislabelled_first_then_memorizes():
    P = dataclasses.replace(EL.PRESETS["quick"], dim=60, n=66, steps=6000, seeds=3)
    rows = EL.run_linear(P, seed=0)
    steps = sorted({r.step for r in rows})
    as_true = np.array([np.mean([r.mislabeled_as_true for r in rows if r.step == s]) for s in steps])
    as_noisy = np.array([np.mean([r.mislabeled_as_noisy for r in rows if r.step == s]) for s in steps])
    peak = int(np.argmax(as_true))
    assert as_true[peak] > 0.9  # early learning: the mislabelled are classified by their true class
    assert as_noisy[-1] > 0.9  # ... and eventually memorized (noisy labels separable since p/n > 1 - Δ/2)
    assert steps[peak] < steps[-1] / 10


def test_elr_reduces_memorization_of_noisy_labels():
    P = dataclasses.replace(EL.PRESETS["quick"], n_train=300, width=64, elr_steps=400, elr_seeds=1, lr=3e-3)
    _, summ = EL.run_elr(P, seed=0, progress=False)
    ce = next(s for s in summ if s.loss == "ce")
    elr = next(s for s in summ if s.loss == "elr")
    assert ce.final_noisy_as_given > 0.8  # cross-entropy memorizes the changed labels
    assert elr.final_noisy_as_given < ce.final_noisy_as_given - 0.3
