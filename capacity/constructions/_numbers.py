"""Exact and float scalars for the constructions that run the same code on float64 and on rationals.

A construction written once runs in float64 (the build) and on exact rationals (the exact
rebuild, python-flint ``fmpq`` or ``fractions.Fraction``): arrays of dtype ``object`` hold
exact numbers, and :func:`const` gives a constant in the number type of a given array.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np



def rational_type():
    try:
        import flint

        return lambda p, q=1: flint.fmpq(p, q)
    except ImportError:  # pragma: no cover - python-flint is a test dependency
        return Fraction


def to_exact(a) -> np.ndarray:
    """float64 array -> object array of exact rationals (every float is a dyadic rational)."""
    q = rational_type()
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        n, d = float(v).as_integer_ratio()
        out[idx] = q(n, d)
    return out


def const(v, like):
    """A scalar constant in the number type of array ``like``."""
    if isinstance(like, np.ndarray) and like.dtype == object:
        return to_exact(np.array(v))[()]
    return float(v)


def wmax(a, b):
    return np.where(a > b, a, b)


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
