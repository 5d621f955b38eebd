"""LayerMem/UnitMem pieces: UnitMem on activation patterns with known values, NT-Xent, augmentation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from capacity.experiments.memorization import layermem as LM


def test_unitmem_known_values():
    mu = np.zeros((5, 3))
    mu[2, 0] = 4.0  # unit 0 fires for one point only -> 1
    mu[:, 1] = 2.0  # unit 1 fires equally for every point -> 0
    mu[:, 2] = [3.0, 1.0, 1.0, 1.0, 1.0]  # (3 - 1) / (3 + 1) = 0.5
    np.testing.assert_allclose(LM.unit_mem(mu), [1.0, 0.0, 0.5], atol=1e-15)
    # mean (paper) and median (official code) differ when the others are skewed
    mu2 = np.array([[4.0], [0.0], [0.0], [3.0]])
    assert LM.unit_mem(mu2)[0] == pytest.approx((4 - 1) / (4 + 1))
    assert LM.unit_mem(mu2, use_median=True)[0] == pytest.approx(1.0)


def _nt_xent_direct(z1, z2, tau):
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        s = z @ z[i] / tau
        total += -s[j] + np.log(sum(np.exp(s[k]) for k in range(2 * n) if k != i))
    return total / (2 * n)


def test_nt_xent_matches_direct_sum():
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert float(LM.nt_xent(jnp.asarray(z1), jnp.asarray(z2), 0.5)) == pytest.approx(_nt_xent_direct(z1, z2, 0.5), rel=1e-12)


def test_augment_translates_by_at_most_one_pixel():
    img = np.zeros((1, 8, 8)); img[0, 3:5, 3:5] = 1.0  # away from the border: mass is preserved
    old, LM.NOISE = LM.NOISE, 0.0
    try:
        outs = [np.asarray(LM.augment(k, jnp.asarray(img.reshape(1, 64)))).reshape(8, 8)
                for k in jax.random.split(jax.random.key(0), 20)]
    finally:
        LM.NOISE = old
    for o in outs:
        assert o.sum() == pytest.approx(4.0)
        r, c = np.nonzero(o)
        assert r.min() in (2, 3, 4) and c.min() in (2, 3, 4)
    assert len({o.tobytes() for o in outs}) > 1
