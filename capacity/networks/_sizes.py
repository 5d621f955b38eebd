"""Measured sizes of a network's arrays: parameter counts, significand bits, exact bit lengths.

The frontier figure plots these (what a construction *actually* uses), next to the closed
forms of :mod:`theory.bounds`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np


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
    """Bits to write an exact number: numerator + denominator bit lengths (ints: bit length)."""
    q = Fraction(v)
    return q.numerator.bit_length() + (q.denominator.bit_length() - 1 if q.denominator > 1 else 0)


def count_parameters(arrays_2d: Sequence, arrays_1d: Sequence) -> dict:
    """Dense, non-zero and *distinct* parameter counts of kernels (in, out) and biases.

    distinct: non-zero kernel entries where identical columns of one kernel (a shared
    projection, as in Zhang et al.) count once, plus non-zero biases.  Arrays of higher rank
    (stacked residual blocks) count as their 2-D slices.
    """
    flat2d = []
    for k in arrays_2d:
        k = np.asarray(k)
        flat2d.extend(k.reshape((-1,) + k.shape[-2:]) if k.ndim > 2 else [k])
    flat1d = [np.ravel(np.asarray(b)) for b in arrays_1d]
    dense = sum(int(np.size(k)) for k in flat2d) + sum(int(np.size(b)) for b in flat1d)
    nonzero = sum(int(np.count_nonzero(k != 0)) for k in flat2d) + sum(int(np.count_nonzero(b != 0)) for b in flat1d)
    distinct = 0
    for k in flat2d:
        if k.dtype == object:
            cols = {tuple(k[:, j].tolist()) for j in range(k.shape[1])}
            distinct += sum(sum(1 for v in c if v != 0) for c in cols)
        else:
            cols = np.unique(k.T, axis=0) if k.size else k.T
            distinct += int(np.count_nonzero(cols))
    distinct += sum(int(np.count_nonzero(b != 0)) for b in flat1d)
    return {"dense": dense, "nonzero": nonzero, "distinct": distinct}


def weight_range(kernels: Sequence, biases: Sequence) -> tuple[float, float]:
    """(max |w|, min |w| over the weights above float64 resolution) over all kernels and biases.

    Weights with |w| <= eps * max|w| (eps = 2^-52) are below the resolution of the largest
    weight and are left out of the minimum; the dynamic range is max/min of the rest.
    """
    allw = np.concatenate([np.abs(np.ravel(np.asarray(a, dtype=np.float64))) for a in list(kernels) + list(biases)])
    wmax = float(allw.max()) if allw.size else 0.0
    nz = allw[allw > np.finfo(np.float64).eps * wmax]
    return wmax, float(nz.min()) if nz.size else 0.0
