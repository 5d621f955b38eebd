"""van den Burg-Williams estimator: equals the KDE's closed-form leave-one-out score when K = n."""

import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from capacity.experiments.memorization import generative as G


def test_k_fold_estimator_equals_closed_form_loo_for_kde():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 64)) * 0.3
    h = 0.4
    masks = G.fold_masks(30, 30, 1, rng)  # K = n folds: leave-one-out
    logp = np.asarray(G._kde_logp(jnp.asarray(G.sq_dists(x, x)), jnp.asarray(masks), h))
    est = G.memorization_from_logp(logp, masks)
    # direct computation for K = n: the models that trained on i are the n - 1 leave-k-out KDEs, k != i
    n = 30
    # (log-kernels: the off-diagonal kernels are ~e^-36 of the diagonal one, so no subtraction of sums)
    logk = -G.sq_dists(x, x) / (2 * h * h)  # normalising constants cancel in the difference
    direct = np.empty(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        with_i = [logsumexp(logk[i, [j for j in range(n) if j != k]]) - np.log(n - 1) for k in others]
        without_i = logsumexp(logk[i, others]) - np.log(n - 1)
        direct[i] = logsumexp(with_i) - np.log(n - 1) - without_i
    # float64 log-sum-exps of 30 terms, values ~30: rounding ~1e-13
    np.testing.assert_allclose(est, direct, rtol=0, atol=1e-9)
    # the notes' closed form compares the model on all n points with the leave-i-out one; the
    # K = n estimator's "with" models have n - 1 points, so the two differ by about log(n / (n - 1))
    closed = G.kde_loo_memorization(x, h)
    np.testing.assert_allclose(est - closed, np.log(n / (n - 1)), atol=0.01)


def test_outlier_is_memorized_more_than_a_point_in_a_cluster():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal((40, 64)) * 0.1, [np.full(64, 1.0)]])
    masks = G.fold_masks(41, 5, 4, rng)
    logp = np.asarray(G._kde_logp(jnp.asarray(G.sq_dists(x, x)), jnp.asarray(masks), 0.3))
    mem = G.memorization_from_logp(logp, masks)
    assert mem[-1] > mem[:-1].max() + 1.0
    assert np.all(np.isfinite(mem))
