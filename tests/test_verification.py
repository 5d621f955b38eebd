"""Verification: batched checks equal single ones, levels never claim more than is shown, exact shortcuts."""

import jax.numpy as jnp
import numpy as np
import pytest
from netutil import numpy_forward, random_net

from capacity import data, exact
from capacity.networks import MLPNet
from capacity.verification import verify, verify_many


def test_verify_many_equals_per_network_checks():
    nets = [random_net(s, (2, 6, 6, 1)) for s in range(5)]
    xs = np.stack([np.random.default_rng(10 + s).standard_normal((13, 2)) for s in range(5)])
    ys = np.stack([numpy_forward(*nets[s], xs[s]) + 1e-3 * s for s in range(5)])
    ks = [jnp.stack([jnp.asarray(n[0][i]) for n in nets]) for i in range(3)]
    bs = [jnp.stack([jnp.asarray(n[1][i]) for n in nets]) for i in range(3)]
    res = verify_many(ks, bs, jnp.asarray(xs), jnp.asarray(ys))
    for s in range(5):
        ds = data.make_dataset(xs[s], ys[s], allow_out_of_box=True)
        rep = verify(MLPNet(list(nets[s][0]), list(nets[s][1])), ds)
        assert float(res["max_residual"][s]) == pytest.approx(rep.max_residual, rel=1e-12, abs=1e-15)
        assert float(res["kink_margin"][s]) == pytest.approx(rep.kink_margin, rel=1e-12)
    assert float(res["max_residual"][4]) == pytest.approx(4e-3, rel=1e-6)


def test_levels_are_never_more_than_shown():
    ks, bs = random_net(7, (2, 5, 1))
    x = np.random.default_rng(8).standard_normal((10, 2))
    y = numpy_forward(ks, bs, x)
    ds = data.make_dataset(x, y, allow_out_of_box=True)
    assert verify(MLPNet(ks, bs), ds, tol=1e-6).level == "certified-bound"
    ds_off = data.make_dataset(x, y + 1e-3, allow_out_of_box=True)
    assert verify(MLPNet(ks, bs), ds_off, tol=1e-6).level == "failed"
    assert verify(MLPNet(ks, bs), ds_off, tol=1.0e-3 * (1 + 1e-12)).level in ("measured", "certified-bound")


def test_exact_rank_one_fast_path_equals_the_general_evaluation():
    """The exact first-two-layer shortcut for a rank-one first kernel is exact algebra: it must give
    the same rationals as the plain exact evaluation, also for a point exactly on a kink and for a
    unit whose first-layer weight is 0."""
    rng = np.random.default_rng(11)
    u = rng.integers(-3, 4, 3).astype(float)
    u[0] = 1.0
    a = rng.integers(-4, 5, 9).astype(float)
    a[2] = 0.0
    b1 = rng.integers(-6, 7, 9).astype(float)
    b1[2] = 1.5
    ks = [np.outer(u, a), rng.standard_normal((9, 5)), rng.standard_normal((5, 2))]
    bs = [b1, rng.standard_normal(5), rng.standard_normal(2)]
    x = rng.integers(-5, 6, (30, 3)).astype(float)
    j = int(np.flatnonzero(a)[0])
    x[0] = 0.0
    x[0, 0] = -b1[j] / a[j]  # t = x.u lands exactly on unit j's kink
    fast = exact.exact_outputs(ks, bs, x, "relu", fast_path=True)
    slow = exact.exact_outputs(ks, bs, x, "relu", fast_path=False)
    assert (fast == slow).all()
    ks[0][1, 1] += 2.0**-40  # no longer rank one: the exact test of the stored weights refuses the shortcut
    assert not exact.is_rank_one(ks[0])
    with pytest.raises(ValueError):
        exact.exact_outputs(ks, bs, x, "relu", fast_path=True)
    assert not (exact.exact_outputs(ks, bs, x, "relu") == slow).all()  # and the perturbation is seen exactly
