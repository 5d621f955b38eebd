"""Regression test for jax-ml/jax#39103 (jax/jaxlib 0.10.2 CPU miscompile).

Under ``jit`` on CPU, a vmapped matrix-vector product followed by a reduction,
``vmap(lambda row: jnp.sum((M @ row) ** 2))``, returned a wrong last element on
jax/jaxlib 0.10.2 (float64 at 16,385 rows: 267,911,424 instead of 268,435,456;
float32 at 32,769 rows).  That is the shape of our verification kernel, so the
release is excluded in pyproject.toml, and this test fails loudly if a bad jax is
ever resolved.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def test_installed_jax_is_not_an_excluded_release():
    import jaxlib

    for name, v in (("jax", jax.__version__), ("jaxlib", jaxlib.__version__)):
        assert v not in ("0.10.2", "0.11.1"), f"{name} {v} is excluded (see pyproject.toml)"


@pytest.mark.parametrize("dtype,n", [(jnp.float64, 16_385), (jnp.float32, 32_769)])
def test_vmapped_matvec_reduction_matches_eager(dtype, n):
    i = jnp.arange(n, dtype=dtype)
    x = jnp.stack((i, jnp.zeros_like(i), jnp.zeros_like(i)), axis=1)
    matrix = jnp.eye(3, dtype=dtype)

    def f(rows):
        return jax.vmap(lambda row: jnp.sum((matrix @ row) ** 2))(rows)

    jitted = np.asarray(jax.jit(f)(x))
    # i**2 is exact in float64 here; casting rounds once, as the device does
    expected = (np.arange(n, dtype=np.float64) ** 2).astype(np.dtype(dtype))
    assert jitted[-1] == expected[-1], f"jit gave {jitted[-1]} for the last row, correct value {expected[-1]}"
    np.testing.assert_array_equal(jitted, expected)
    np.testing.assert_array_equal(np.asarray(f(x)), jitted)
