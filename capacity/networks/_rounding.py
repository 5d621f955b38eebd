r"""Rigorous floating-point error bounds for affine layers (one copy, used by every network kind).

Notation: an affine map z = h W + b with fan-in n (W (n, o), b (o,), the stored weights), h its
exact input (exact real arithmetic on the stored weights and data), ĥ the float value computed for
h, and e a float array with |ĥ - h| <= e elementwise (e = 0 at the input x, stored exactly).
u is the unit roundoff (2^-53 for float64), γ_k = k u / (1 - k u), τ the smallest positive
normal number (2^-1022), c_k = Σ_j A_jk the column sums of A (below).

**Arithmetic model.**  IEEE-754 binary round-to-nearest, any summation order, with or without
FMA, no fast-math reassociation beyond that.  Every operation's result is (exact)(1 + δ) + η with
|δ| <= u and |η| < τ: this covers gradual underflow *and* flush-to-zero of subnormal results.
Subnormal *operands* may be read as zero (denormals-are-zero): XLA on CPU does both (measured:
``jit(lambda v: v * 4.0)`` of 2^-1024 gives 0).  A subnormal weight is then a zero weight on the
device (it loses |ĥ_j| |W_jk| < τ |ĥ_j|), which :func:`bound_operands` covers by raising it to
2τ/γ_{n+1} in A; a subnormal input or activation read as zero loses less than τ |W_jk| per
product, which the guard G covers (its 4 c_k τ term).

**Claim 1 (pre-activation).**  ẑ = fl(fl(ĥ W) + b) satisfies

    |ẑ - z| <= e |W| + γ_{n+1} (|ĥ| |W| + |b|) + (2 n + 2 + c_k) τ + τ Σ_{j in S_k} |ĥ_j|,

S_k = {j : W_jk subnormal} (the last two terms are zero on hardware without flush-to-zero and
denormals-are-zero, and negligible on any).

Proof.  Higham (*Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1, Lemma 3.1): a
dot product of length n computed in any order, then one addition of b, is
Σ_j ĥ_j W_jk (1 + θ_j) + b_k (1 + θ_b) with |θ| <= γ_{n+1}, so
|ẑ - (ĥ W + b)| <= γ_{n+1} (|ĥ| |W| + |b|) when nothing underflows.  The n products and n
additions each add |η| < τ, carried by later roundings by at most a factor 1 + γ_n: below
(2 n + 2) τ (the bias, if read as zero, less than τ); activations read as zero lose less than
c_k τ and weights read as zero less than τ Σ_{j in S_k} |ĥ_j| (above).  Finally
|(ĥ - h) W| <= e |W|.

**Claim 2 (computing the bound: two matmuls per layer).**  With float constants g >= γ_{n+1}
(:func:`gamma_up`), κ = fl(1 + 2 γ_{n+5}) and G_k = fl((4 c_k + 5 n + 10) τ), the code computes

    q = fl(e + fl(g |ĥ|))                (q = fl(g |ĥ|) at the input layer, where e = 0),
    R = fl(fl(q A) + fl(g |b|)),         B = fl(fl(R κ) + G),

with A >= |W| (:func:`bound_operands`); after a ReLU ĥ >= 0 and |ĥ| = ĥ is not recomputed.
Then B is at least the right-hand side of Claim 1.  Proof.  Every operation acts on non-negative
numbers, so each rounding loses at most a factor (1 - u) and an absolute τ.  A path from an
input to R passes through at most n + 3 roundings (two for q, n for the dot product, one for
the addition of g|b|), so with M = e |W| + g (|ĥ| |W| + |b|) + 1.99 τ Σ_{j in S_k} |ĥ_j| (exact;
for j in S_k, g A_jk >= 2τ (1 - 2u)),
R >= (1 - u)^{n+3} M - (2 c_k + 2 n + 2) τ  (each q_j lost at most 2τ, weighted by A_jk).  The
two last roundings give B >= κ (1 - u)^{n+5} M - (2 c_k + 2 n + 2) κ τ - 2 τ + (1 - u) G, and
κ (1 - u)^{n+5} >= (1 + γ_{n+5})(1 - u)^{n+5} >= 1 (fl(1 + 2γ) >= 1 + γ since γ_{n+5} > u), while
(1 - u) G covers the τ terms of both claims (κ < 1.01 and the float column sums are within a
factor 1 - γ_n of exact).  An overflow gives inf (still an upper bound), or NaN from inf · 0,
which never certifies (a NaN comparison is false).  So B >= |ẑ - z|: the bound is rigorous for
the stored weights, at the cost of two matmul-equivalents per layer (ĥ W and q A) instead of the
three of e |W|, |ĥ| |W| and ĥ W computed separately, and equal to the three-matmul bound up to
O(n u) relative rounding of the bound itself.

**Claim 3 (activations).**  ReLU and hard-tanh are 1-Lipschitz and evaluated exactly, so
|act(ẑ) - act(z)| <= B.  Where the computed pre-activation is certainly past a flat piece the
error is zero (:func:`activation_error`): ReLU, if ẑ < -B then z <= ẑ + B < 0 and both outputs
are 0; hard-tanh, if fl(ẑ - B) > 1 then ẑ - B > 1 (rounding is monotone) so z > 1 and both are
1, symmetrically below -1.

**Relative kink margin (reported, not certified).**  The scale |ĥ| |W| + |b| is not formed any
more (it would cost a third matmul).  B >= γ_{n+1} (|ĥ| |W| + |b|) by Claim 2, so S = B / γ_{n+1}
is at least that scale, and dist / S is never larger than dist / (|ĥ| |W| + |b|): it equals it up
to the factor κ at the input layer (e = 0) and is smaller where the propagated error e |W|
dominates the local rounding, i.e. it is conservative.  :func:`relative_margin` computes it with
one division per unit; :func:`affine_bound` also returns S itself, rounded up (fl(B · c),
c >= (1 + 4u) / γ_{n+1}).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # float64 by design, even if JAX was imported before capacity
HIGHEST = jax.lax.Precision.HIGHEST


def unit_roundoff(dtype) -> float:
    """u = 2^-p for a binary floating type with p-bit significand."""
    return float(np.finfo(dtype).eps) / 2.0


def gamma(k: int, u: float) -> float:
    """γ_k = k u / (1 - k u) (Higham's constant), to the nearest float; inf when k u >= 1."""
    if k * u >= 1:
        return math.inf
    return k * u / (1.0 - k * u)


def gamma_up(k: int, u: float) -> float:
    """A float >= γ_k: k u and 1 - k u are exact (u a power of two, k u < 1), so only the quotient
    rounds, and the next float up from a correctly rounded quotient is above the exact one."""
    g = gamma(k, u)
    return g if math.isinf(g) else math.nextafter(g, math.inf)


def add_bias(z, b):
    """z + b with the bias broadcast explicitly over leading axes (no implicit rank promotion)."""
    return z + jnp.reshape(b, (1,) * (z.ndim - 1) + tuple(jnp.shape(b)))


class BoundOperands(NamedTuple):
    """Per-layer operands of the bound, computed once outside the chunk loop (:func:`bound_operands`)."""

    abs_w: jax.Array  # A >= |W|, subnormal entries raised to 2τ/γ_{n+1} (module docstring)
    guard: jax.Array  # G (o,): the absolute underflow guard


def _subnormal(w):
    """Nonzero |w| below the smallest normal, tested on the bits (a DAZ unit reads them as zero)."""
    info = np.finfo(np.dtype(w.dtype))
    itype = jnp.int64 if info.bits == 64 else jnp.int32
    mag = jax.lax.bitcast_convert_type(w, itype) & ((1 << (info.bits - 1)) - 1)
    return (mag > 0) & (mag < (1 << info.nmant))


def bound_operands(w, u: float) -> BoundOperands:
    """A >= |W| and the guard G = (4 c + 5 n + 10) τ of Claim 2 for one kernel W (n, o)."""
    n = w.shape[0]
    tiny = float(np.finfo(np.dtype(w.dtype)).tiny)
    aw = jnp.where(_subnormal(w), 2.0 * tiny / gamma(n + 1, u), jnp.abs(w))
    guard = (4.0 * jnp.sum(aw, axis=0) + (5.0 * n + 10.0)) * tiny
    return BoundOperands(aw, guard)


def propagated_bound(q, ops: BoundOperands, extra, n: int, u: float):
    """B = fl(fl(fl(q A) + extra) κ + G) of Claim 2, for q >= 0 and ``extra`` >= 0 (g|b|, broadcast
    over rows, or a per-row array)."""
    r = jnp.matmul(q, ops.abs_w, precision=HIGHEST)
    r = add_bias(r, extra) if jnp.ndim(extra) == 1 else r + extra
    return add_bias(r * (1.0 + 2.0 * gamma_up(n + 5, u)), ops.guard)


def affine_bound(h, e, w, b, u: float, *, nonneg: bool = False, ops: BoundOperands | None = None):
    """(ẑ, B, S) for z = h @ w + b: the output, a rigorous bound B >= |ẑ - z| (Claims 1-2) and a
    scale S >= |ĥ||W| + |b| for relative kink margins (module docstring).

    Args:
      h: (m, n) the computed input ĥ.
      e: (m, n) its error bound, or None when h is exact (the input layer: one term less).
      w, b: the stored kernel (n, o) and bias (o,).
      nonneg: h >= 0 is known (a ReLU output), so |ĥ| = ĥ.
      ops: :func:`bound_operands` of ``w`` if already computed (outside a chunk loop).
    """
    n = w.shape[0]
    ops = bound_operands(w, u) if ops is None else ops
    g = gamma_up(n + 1, u)
    z = add_bias(jnp.matmul(h, w, precision=HIGHEST), b)
    q = g * (h if nonneg else jnp.abs(h))
    if e is not None:
        q = e + q
    bound = propagated_bound(q, ops, g * jnp.abs(b), n, u)
    scale = bound * ((1.0 / gamma(n + 1, u)) * (1.0 + 8.0 * u))
    return z, bound, scale


def relative_margin(dist, bound, n: int, u: float):
    """min over the last axis of dist / S, S = B / γ_{n+1} >= |ĥ||W| + |b|: computed as
    fl(min fl(dist / B) · c) with c = fl(γ_{n+1}) (1 - 4u), so never larger than min dist / S, even
    after its own roundings (reported, not certified: module docstring)."""
    return jnp.min(dist / bound, axis=-1, initial=jnp.inf) * (gamma(n + 1, u) * (1.0 - 4.0 * u))


def activation_error(z, bound, activation: str):
    """Error bound after the activation (Claim 3): ``bound``, or 0 where ẑ is certainly on a flat piece."""
    if activation == "relu":
        flat = z < -bound
    else:  # hard-tanh
        flat = ((z - bound) > 1.0) | ((z + bound) < -1.0)
    return jnp.where(flat, jnp.zeros_like(bound), bound)


def cache_rows(chunk: int, width: int) -> int:
    """Rows per step of a bounded pass: at most ``chunk``, and few enough that one (rows, width)
    float64 block is about 128 KiB (at least 128 rows), so the elementwise work of the bound runs
    from cache.  Measured on the 2-core EPYC (loaded, wall time): width 632, 256-row steps 1.3-1.5x
    faster than 4096-row steps; widths 88/92 at N = 2000, 128-row steps 1.3x faster than one step."""
    return max(1, min(chunk, max(128, 1 << max(0, (2**14 // max(width, 1)).bit_length() - 1))))


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
    if n_chunks == 1:  # no loop (and no copies) for a single step
        return tuple(f(x))
    pad = n_chunks * chunk - n
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])], axis=0) if pad else x
    xs = xp.reshape((n_chunks, chunk) + x.shape[1:])
    res = jax.lax.map(f, xs)
    return tuple(a.reshape((n_chunks * chunk,) + a.shape[2:])[:n] for a in res)
