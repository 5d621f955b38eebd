"""Entropy and MI estimators against closed forms on Gaussian data."""

import numpy as np
import pytest

from capacity.experiments.memorization import information as I


def test_binned_entropy_matches_gaussian_closed_form():
    # H(binned) ≈ h(X) - log Δ for a fine grid; h(N(0, σ²)) = ½ log(2πeσ²)
    rng = np.random.default_rng(0)
    sigma, s, bins = 2.0, 400_000, 200
    a = rng.standard_normal((s, 2)) * sigma
    h = I.binned_entropy(a, bins)
    delta = np.ptp(a, axis=0) / bins
    expected = 0.5 * np.log(2 * np.pi * np.e * sigma**2) - np.log(delta)
    # discretisation error O(Δ²/σ²) and sampling error O(sqrt(bins/s)): both well under 0.02 nats
    np.testing.assert_allclose(h, expected, atol=0.02)
    assert I.binned_entropy(np.ones((10, 1)), 5)[0] == 0.0  # a constant unit has no entropy


def test_binned_mutual_information_matches_gaussian_closed_form():
    rng = np.random.default_rng(1)
    s, rho = 50_000, 0.8
    z = rng.standard_normal((s, 2))
    a = np.stack([z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1], rng.standard_normal(s)], 1)
    mi = I.binned_mutual_information(a, 40)
    closed = -0.5 * np.log(1 - rho**2)
    # binning bias: coarse bins under-estimate, finite samples over-estimate ((bins-1)²/2s ≈ 0.015)
    assert mi[0, 1] == pytest.approx(closed, abs=0.05)
    # independent pair: only the plug-in estimator's positive bias, about (bins-1)²/(2s)
    assert mi[0, 2] < 2 * 39**2 / (2 * s)
    np.testing.assert_allclose(np.diag(mi), I.binned_entropy(a, 40), atol=1e-12)  # I(X; X) = H(X)
    np.testing.assert_allclose(mi, mi.T, atol=1e-12)


def test_knn_mutual_information_on_gaussians():
    rng = np.random.default_rng(2)
    rho = 0.6
    z = rng.standard_normal((3000, 2))
    a = np.stack([z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]], 1)
    est = I.knn_mutual_information(a, np.array([[0, 1]]))[0]
    assert est == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.05)
