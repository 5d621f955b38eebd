"""Exact-arithmetic and size-measuring helpers shared by the prior/frontier constructions.

Every float64 number is a dyadic rational, so a network with float64 weights can be
evaluated *exactly* at float64 inputs with Python integers and ``fractions.Fraction``.
These helpers do that (vectorised over points with NumPy object arrays: each element
operation is an exact Python-number operation), and measure the sizes the frontier
figure plots (parameters, neurons, bits per weight) from the built arrays.

Levels follow :mod:`capacity.verify`: ``certified-exact`` only when the exact residual
is 0; ``certified-bound`` when the exact residual (itself a rigorous number) is <= tol.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np


def exact_array(a) -> np.ndarray:
    """An object array of exact numbers (ints stay ints, floats become Fractions)."""
    a = np.asarray(a)
    if a.dtype == object:
        return a
    if np.issubdtype(a.dtype, np.integer):
        return np.vectorize(int, otypes=[object])(a) if a.size else a.astype(object)
    return np.vectorize(Fraction, otypes=[object])(a.astype(np.float64)) if a.size else a.astype(object)


def exact_level(exact_residual, tol: float) -> str:
    """Certification level supported by an exact residual (a rational number)."""
    if exact_residual == 0:
        return "certified-exact"
    return "certified-bound" if exact_residual <= Fraction(tol) else "failed"


def dyadic_ints(a) -> tuple[np.ndarray, int]:
    """(ints, k) with a = ints / 2^k exactly, for a float64 array (object array of Python ints)."""
    a = np.asarray(a, np.float64)
    flat = a.ravel()
    nz = flat[flat != 0]
    if not nz.size:
        return np.zeros(a.shape, dtype=object) * 0, 0
    m, e = np.frexp(flat)  # flat = m 2^e, |m| in [0.5, 1)
    mant = (m * 2.0**53).astype(np.int64)  # exact: a = mant 2^(e - 53)
    k = int(-(e[flat != 0] - 53).min())
    shifts = (e - 53 + k).astype(np.int64)  # >= 0 where a != 0
    out = np.empty(flat.shape, dtype=object)
    for i, (mv, sh) in enumerate(zip(mant.tolist(), shifts.tolist())):
        out[i] = (mv << sh) if mv else 0
    return out.reshape(a.shape), k


def exact_mlp_outputs(kernels: Sequence, biases: Sequence, x) -> tuple[np.ndarray, int]:
    """f(x) of a float64 ReLU MLP in exact arithmetic, as (ints (N, dy), k): f = ints / 2^k.

    Every float64 is m 2^e, so each layer is evaluated in Python integers after scaling to a
    common power of two.  Cost: N * sum(in * out) integer operations.
    """
    h, kh = dyadic_ints(x)
    n = len(kernels)
    for i, (w, b) in enumerate(zip(kernels, biases)):
        wi, kw = dyadic_ints(w)
        bi, kb = dyadic_ints(b)
        kz = kh + kw
        z = h.dot(wi) if h.shape[1] else np.zeros((h.shape[0], wi.shape[1]), dtype=object)
        if kb <= kz:
            z = z + np.array([v << (kz - kb) for v in bi.tolist()], dtype=object)
        else:
            z = np.vectorize(lambda v: v << (kb - kz), otypes=[object])(z) + bi
            kz = kb
        h, kh = (np.where(z > 0, z, 0) if i < n - 1 else z), kz
    return h, kh


def exact_residual_ints(out: np.ndarray, k: int, y) -> Fraction:
    """max |out / 2^k - y| exactly, y float64."""
    yi, ky = dyadic_ints(y)
    kk = max(k, ky)
    a = np.vectorize(lambda v: v << (kk - k), otypes=[object])(out)
    b = np.vectorize(lambda v: v << (kk - ky), otypes=[object])(yi)
    d = np.abs(a - b)
    return Fraction(int(max(d.ravel().tolist(), default=0)), 1 << kk)


def max_abs_diff(out: np.ndarray, y) -> Fraction:
    """max |out - y| exactly (y float64 or exact)."""
    d = np.abs(out - exact_array(y))
    return max(d.ravel().tolist(), default=Fraction(0))


def frac_str(q) -> str:
    q = Fraction(q)
    if q == 0:
        return "0"
    return f"{float(q):.6e} (exact rational, {q.numerator.bit_length()}/{q.denominator.bit_length()} bits)"


# ------------------------------------------------------------------ measured sizes


def float_significand_bits(a) -> int:
    """Largest number of significant bits of any non-zero float in ``a`` (<= 53 for float64)."""
    a = np.abs(np.asarray(a, np.float64).ravel())
    a = a[a > 0]
    if not a.size:
        return 0
    m, _ = np.frexp(a)  # a = m 2^e, m in [0.5, 1)
    ints = (m * 2.0**53).astype(np.uint64)  # exact
    tz = np.zeros(ints.shape, np.int64)
    v = ints.copy()
    for _ in range(53):  # trailing zeros
        z = (v & np.uint64(1)) == 0
        if not z.any():
            break
        tz += z
        v = np.where(z, v >> np.uint64(1), v)
    return int(53 - tz.min())


def exact_bits(v) -> int:
    """Bits to write an exact number: numerator + denominator bit lengths (ints: bit length + sign)."""
    q = Fraction(v)
    return q.numerator.bit_length() + (q.denominator.bit_length() - 1 if q.denominator > 1 else 0)


def count_parameters(arrays_2d: Sequence, arrays_1d: Sequence) -> dict:
    """Dense, non-zero and *distinct* parameter counts of kernels (in, out) and biases.

    distinct: non-zero kernel entries where identical columns of one kernel (a shared
    projection, as in Zhang et al.) count once, plus non-zero biases.
    """
    dense = sum(int(np.size(k)) for k in arrays_2d) + sum(int(np.size(b)) for b in arrays_1d)
    nonzero = sum(int(np.count_nonzero(np.asarray(k) != 0)) for k in arrays_2d) + \
        sum(int(np.count_nonzero(np.asarray(b) != 0)) for b in arrays_1d)
    distinct = 0
    for k in arrays_2d:
        k = np.asarray(k)
        if k.dtype == object:
            cols = {tuple(k[:, j].tolist()) for j in range(k.shape[1])}
            distinct += sum(sum(1 for v in c if v != 0) for c in cols)
        else:
            cols = np.unique(k.T, axis=0) if k.size else k.T
            distinct += int(np.count_nonzero(cols))
    distinct += sum(int(np.count_nonzero(np.asarray(b) != 0)) for b in arrays_1d)
    return {"dense": dense, "nonzero": nonzero, "distinct": distinct}


def weight_magnitudes(arrays: Sequence) -> dict:
    """max |w|, min non-zero |w|, and log2 of their ratio, over float arrays."""
    allw = np.concatenate([np.abs(np.asarray(a, np.float64).ravel()) for a in arrays])
    nz = allw[allw > 0]
    mx = float(allw.max()) if allw.size else 0.0
    mn = float(nz.min()) if nz.size else 0.0
    return {"max_abs_weight": mx, "min_abs_weight": mn,
            "log2_dynamic_range": math.log2(mx / mn) if mn > 0 else 0.0}


def exact_result(residual, tol: float, n_checked: int, seconds: float, method: str):
    """A :class:`capacity.certify.ExactResult` for an exact residual (a rational number)."""
    from capacity.certify import ExactResult

    r = Fraction(residual)
    return ExactResult(level=exact_level(r, tol), exact_residual=frac_str(r) if r else "0",
                       exact_residual_float=float(r), n_checked=int(n_checked), seconds=float(seconds),
                       backend="python ints / fractions (" + method + ")")
