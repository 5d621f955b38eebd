"""Rigorous floating-point error bounds for affine layers (one copy, used by every network kind).

With u the unit roundoff (2^-53 for float64) and γ_k = k u / (1 - k u), an affine map
z = h @ W + b with fan-in n, evaluated in floating point from an input ĥ that carries an error
bound e (|ĥ - h| <= e elementwise), satisfies

    |ẑ - z| <= e |W| + γ_{n+1} (|ĥ| |W| + |b|)

(Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1: valid for any summation order,
with or without FMA).  The right-hand side is itself computed in floating point from
non-negative terms, so it is inflated by (1 + 2 γ_{n+3}) and an absolute guard (n + 2)·tiny for
underflow, which makes the computed number an upper bound.  Assumptions: IEEE-754 binary
arithmetic, round-to-nearest, no fast-math, matmuls at ``precision="highest"``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # float64 by design, even if JAX was imported before capacity
HIGHEST = jax.lax.Precision.HIGHEST


def unit_roundoff(dtype) -> float:
    """u = 2^-p for a binary floating type with p-bit significand."""
    return float(np.finfo(dtype).eps) / 2.0


def gamma(k: int, u: float) -> float:
    """γ_k = k u / (1 - k u) (Higham's constant); inf when k u >= 1."""
    if k * u >= 1:
        return math.inf
    return k * u / (1.0 - k * u)


def add_bias(z, b):
    """z + b with the bias broadcast explicitly over leading axes (no implicit rank promotion)."""
    return z + jnp.reshape(b, (1,) * (z.ndim - 1) + tuple(jnp.shape(b)))


def affine_bound(h, e, w, b, u: float):
    """(ẑ, bound on |ẑ - z|, scale |ĥ||W| + |b|) for z = h @ w + b with input error bound e.

    The bound is the module docstring's; ``scale`` is returned for relative kink margins.
    """
    n = w.shape[0]
    tiny = jnp.asarray(np.finfo(np.dtype(h.dtype)).tiny, h.dtype)
    aw = jnp.abs(w)
    z = add_bias(jnp.matmul(h, w, precision=HIGHEST), b)
    scale = add_bias(jnp.matmul(jnp.abs(h), aw, precision=HIGHEST), jnp.abs(b))
    prop = jnp.matmul(e, aw, precision=HIGHEST)
    bound = (prop + gamma(n + 1, u) * scale) * (1.0 + 2.0 * gamma(n + 3, u)) + (n + 2) * tiny
    return z, bound, scale


def map_chunks(f, x, chunk: int):
    """Apply ``f`` to row-chunks of ``x`` with ``lax.map`` (bounded memory) and stitch the results.

    The rows are split into equal chunks of at most ``chunk`` rows; the last is padded with fewer
    than one row per chunk (copies of row 0, whose results are dropped).  ``f`` returns a
    tuple of arrays with a leading axis of chunk length.
    """
    n = x.shape[0]
    chunk = max(1, min(chunk, n))
    n_chunks = -(-n // chunk)
    chunk = -(-n // n_chunks)  # equal chunks: at most n_chunks - 1 padded rows (not up to chunk - 1)
    pad = n_chunks * chunk - n
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])], axis=0) if pad else x
    xs = xp.reshape((n_chunks, chunk) + x.shape[1:])
    res = jax.lax.map(f, xs)
    return tuple(a.reshape((n_chunks * chunk,) + a.shape[2:])[:n] for a in res)
