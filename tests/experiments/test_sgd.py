"""SGD near a memorizing minimum: the simulation against its linearized theory (theory/sgd.py).

Tolerances: float64 eps; the linearization error is O(ρ) relative, so halving ρ must
roughly halve it (the slack is the next-order term, of the size of the deviation itself).
"""

import argparse

import jax
import numpy as np
import pytest

from capacity.data import generate
from capacity.errors import CapacityError
from capacity.experiments.minima import local_geometry, preactivation_shift_bound, preactivations_flat, trained_minimum
from capacity.experiments.sgd import initial_points, make_step, mean_square_rate, simulate
from theory.linearized import SGDConfig, expected_risk, expected_risk_operator, gd_risk_prediction, safe_learning_rate

EPS = np.finfo(np.float64).eps
TARGET = 1e-20


@pytest.fixture(scope="module")
def tiny():
    ds = generate("gaussian", 8, 3, seed=1)
    m = trained_minimum(ds, [16, 16], seed=0, adam_steps=1500)
    return m, local_geometry(m)


def test_trained_minimum_reaches_target_and_is_regular(tiny):
    m, g = tiny
    assert m.risk() <= TARGET
    assert g.kink_margin > 0
    assert g.rank == m.n * m.dy  # over-parameterized: J has full row rank
    assert 0 < g.no_flip_radius < g.kink_margin


def test_shift_bound_is_an_upper_bound(tiny):
    m, _ = tiny
    rng = np.random.default_rng(0)
    z0 = np.asarray(preactivations_flat(m.layout, m.theta, m.x))
    for rho in (1e-4, 1e-2, 1e-1):
        bound = np.concatenate(preactivation_shift_bound(m, rho), axis=1)
        for _ in range(20):
            d = rng.standard_normal(m.layout.size)
            z = np.asarray(preactivations_flat(m.layout, m.theta + rho * d / np.linalg.norm(d), m.x))
            assert np.all(np.abs(z - z0) <= bound * (1 + 1e-12) + 1e3 * EPS * np.abs(z0))


def test_no_flip_radius_is_sharp_up_to_the_margin_and_holds(tiny):
    m, g = tiny
    z0 = np.asarray(preactivations_flat(m.layout, m.theta, m.x))
    i, j = np.unravel_index(np.argmin(np.abs(z0)), z0.shape)
    # the bias of hidden unit j (global index over hidden layers) moves z_j by exactly the bias change
    widths = m.layout.widths
    offset, layer_start = 0, 0
    for a, b in zip(widths[:-2], widths[1:-1]):
        if j < layer_start + b:
            bias_index = offset + a * b + (j - layer_start)
            break
        offset += a * b + b
        layer_start += b
    mu = g.kink_margin
    assert g.no_flip_radius <= mu
    for factor, flips in ((1 - 1e-6, False), (1 + 1e-6, True)):  # one step below / above the boundary
        th = m.theta.copy()
        th[bias_index] -= np.sign(z0[i, j]) * mu * factor
        z = np.asarray(preactivations_flat(m.layout, th, m.x))
        assert ((z[i, j] > 0) != (z0[i, j] > 0)) == flips
    # SGD started on the provable radius: no pattern change at θ₀, nor while within ρ_safe
    cfg = SGDConfig(steps=200, batch=2, lr=safe_learning_rate(g.gram, m.n, m.dy, 2), record_every=10)
    theta0, keys, _ = initial_points(m, [g.no_flip_radius], directions=16, seeds=1, seed=3)
    rec = simulate(m, g, theta0, keys, cfg)
    assert np.all(rec["flips0"] == 0)
    inside = rec["dist_max"] <= g.no_flip_radius * (1 + 1e-9)
    assert inside.sum() >= 8  # linearized SGD at the safe η is non-expansive; the O(ρ²) excess is tiny
    assert np.all(rec["flips_max"][inside] == 0)


def test_linearized_gd_matches_and_deviation_scales_like_rho(tiny):
    m, g = tiny
    n = m.n
    cfg = SGDConfig(steps=120, batch=n, lr=safe_learning_rate(g.gram, n, m.dy, n), record_every=4)
    rho = 1e-3
    theta0, keys, idx = initial_points(m, [rho, rho / 2, rho / 4], directions=1, seeds=1, seed=5)
    rec = simulate(m, g, theta0, keys, cfg)
    times = np.arange(cfg.n_records + 1) * cfg.record_every
    pred = gd_risk_prediction(g.gram, rec["e0"], n, cfg.lr, times)
    assert np.all(rec["flips_max"] == 0)
    # the in-scan pathwise recursion (B = N: GD) equals the closed form up to rounding
    np.testing.assert_allclose(rec["risk_lin"], pred, rtol=1e3 * cfg.steps * EPS)
    dev = np.max(np.abs(rec["risk"] / pred - 1.0), axis=1)  # relative deviation of the risk curves
    assert pred[0, -1] < 1e-2 * pred[0, 0]  # the window covers a real decay
    assert np.all(dev < 0.1)
    for big, small in ((dev[0], dev[1]), (dev[1], dev[2])):
        # dev = a ρ + b ρ² (+ rounding ~ eps/ρ): ratio 0.5 up to the next-order term, of size ~dev
        assert abs(small / big - 0.5) <= 4 * big + 1e6 * EPS / rho


def test_vmapped_trajectories_equal_per_trajectory_loop(tiny):
    m, g = tiny
    cfg = SGDConfig(steps=30, batch=3, lr=safe_learning_rate(g.gram, m.n, m.dy, 3), record_every=30)
    theta0, keys, _ = initial_points(m, [1e-3, 1e-2], directions=2, seeds=1, seed=7)
    rec = simulate(m, g, theta0, keys, cfg, return_theta=True)
    step = make_step(m, cfg)
    for k in range(theta0.shape[0]):
        th = jax.numpy.asarray(theta0[k])
        for t in range(cfg.steps):
            th, _ = step(th, t, keys[k])
        scale = np.linalg.norm(theta0[k])
        np.testing.assert_allclose(rec["theta_end"][k], np.asarray(th), rtol=0, atol=1e2 * cfg.steps * EPS * scale)


def test_expected_sgd_recursion_matches_monte_carlo():
    rng = np.random.default_rng(0)
    n, batch = 6, 2
    jac = rng.standard_normal((n, 10))
    gram = jac @ jac.T
    lr = 0.3 * n / np.linalg.eigvalsh(gram)[-1]
    cfg = SGDConfig(steps=20, batch=batch, lr=lr, record_every=5)
    e0 = rng.standard_normal((1, n))
    pred = expected_risk(expected_risk_operator(gram, n, 1, cfg), e0, n)[0]
    c, runs = 2 * lr / batch, 4000
    samples = np.empty((runs, cfg.n_records + 1))
    for r in range(runs):
        e = e0[0].copy()
        samples[r, 0] = e @ e / n
        for t in range(1, cfg.steps + 1):
            s = rng.permutation(n)[:batch]
            e = e - c * gram[:, s] @ e[s]
            if t % cfg.record_every == 0:
                samples[r, t // cfg.record_every] = e @ e / n
    mean, se = samples.mean(axis=0), samples.std(axis=0) / np.sqrt(runs)
    assert np.all(np.abs(mean - pred) <= 5 * se + 1e3 * EPS * pred)
    # the asymptotic rate: Arnoldi equals the dense spectrum, and is >= the GD factor (E e_t follows GD)
    c, p, q = 2 * lr / batch, batch / n, batch * (batch - 1) / (n * (n - 1))
    qmat = np.where(np.eye(n, dtype=bool), p, q)
    eye = np.eye(n)
    dense = (np.kron(eye, eye) - c * p * (np.kron(gram, eye) + np.kron(eye, gram))
             + c * c * np.diag(qmat.ravel()) @ np.kron(gram, gram))
    exact = np.max(np.abs(np.linalg.eigvals(dense)))
    rate = mean_square_rate(gram, n, 1, batch, lr)
    assert abs(rate - exact) <= 1e3 * EPS
    assert rate >= (1 - 2 * lr * np.linalg.eigvalsh(gram)[0] / n) ** 2 - 1e3 * EPS


def test_cli_rejects_bad_input():
    from capacity.cli import sgd

    p = argparse.ArgumentParser()
    sgd.register(p.add_subparsers(dest="command"))
    for argv in (["sgd", "--n", "4", "--batch", "8"], ["sgd", "--radii=-1e-3"]):
        args = p.parse_args(argv)
        with pytest.raises(CapacityError):
            args.func(args)
