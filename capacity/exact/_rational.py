"""The rational path: per-entry canonical rationals for layers with long, unrelated denominators.

The integer paths (:mod:`capacity.exact._modular`, :mod:`capacity.exact._sweep`) put a layer over
ONE common denominator, the lcm of its entries' denominators.  That is ideal for float64 weights
(the lcm is the largest power of two) and for short rationals, but exact rebuilds of constructions
carry entries such as p/q with unrelated q of hundreds of bits: the lcm of 8000 such q has
~2e5 bits (yun3, N = 2000), every integer becomes that long, and the cost explodes.  Canonical
(reduced) rationals keep each value as short as it really is, and the cancellations that such
networks are built on (relu(z + 1) - relu(z - 1) = 2 on a saturated unit) shrink the sums again.

Which layers are "long" is decided by an exact test of the stored weights (:func:`is_long`): the
lcm of the layer's denominators (computed exactly, with an early exit) is longer than
``4 * (longest denominator) + 256`` bits.  A network with a long layer is evaluated here
entirely in canonical rationals (python-flint ``fmpq``: GMP arithmetic in C; ``Fraction``
without it): the rank-one sweep runs on these numbers directly (:mod:`capacity.exact._sweep`), and
every other layer as an exact rational matrix product (FLINT ``fmpq_mat``: per-row / per-column
denominator clearing and multimodular integer products in C), ReLU / hard-tanh as exact
comparisons per entry.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

try:  # pragma: no cover - import guard
    import flint
except ImportError:  # pragma: no cover
    flint = None


def num_den(v) -> tuple[int, int]:
    """(numerator, denominator > 0) of one exact number (int, Fraction, fmpq, fmpz, float)."""
    if isinstance(v, Fraction):
        return v.numerator, v.denominator
    if isinstance(v, (int, np.integer)):
        return int(v), 1
    if flint is not None and isinstance(v, flint.fmpq):
        return int(v.p), int(v.q)
    if flint is not None and isinstance(v, flint.fmpz):
        return int(v), 1
    from capacity.exact._numbers import as_fraction

    q = as_fraction(v)
    return q.numerator, q.denominator


def is_long(*arrays) -> bool:
    """Exact test: is lcm(denominators) longer than 4 * (longest denominator) + 256 bits?

    Float and integer arrays never are (their lcm is their largest power of two / 1).  The lcm
    is accumulated exactly and the loop stops as soon as it passes the limit."""
    dens = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype != object:
            continue
        dens.extend(num_den(v)[1] for v in a.ravel().tolist())
    if not dens:
        return False
    limit = 4 * max(d.bit_length() for d in dens) + 256
    lcm = 1
    for d in set(dens):
        if lcm % d:
            lcm = lcm * (d // math.gcd(lcm, d))
            if lcm.bit_length() > limit:
                return True
    return False


def q(v):
    """One exact number as the rational type of this path (fmpq, or Fraction without flint)."""
    n, d = num_den(v)
    return flint.fmpq(n, d) if flint is not None else Fraction(n, d)


def q_of_float_array(a) -> list:
    """A float64 or exact array's entries (row-major) as rationals of this path."""
    a = np.asarray(a)
    if a.dtype != object:
        a = np.asarray(a, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("non-finite value (inf/nan) in a network or data array; "
                             "exact certification needs finite values")
        return [q(Fraction(*v.as_integer_ratio())) if flint is None else flint.fmpq(*v.as_integer_ratio())
                for v in a.ravel().tolist()]
    return [q(v) for v in a.ravel().tolist()]


def to_fraction(v) -> Fraction:
    n, d = num_den(v)
    return Fraction(n, d)


class RatMatrix:
    """A dense exact rational matrix (fmpq_mat, or rows of Fractions without flint)."""

    def __init__(self, rows: int, cols: int, entries: list):
        self.rows, self.cols = rows, cols
        if flint is not None:
            self.m = flint.fmpq_mat(rows, cols, entries)
        else:  # pragma: no cover - flint is a dependency
            self.m = [entries[i * cols:(i + 1) * cols] for i in range(rows)]

    def entries(self) -> list:
        if flint is not None:
            return list(self.m.entries())
        return [v for row in self.m for v in row]  # pragma: no cover

    def matmul(self, other: "RatMatrix") -> "RatMatrix":
        out = RatMatrix.__new__(RatMatrix)
        out.rows, out.cols = self.rows, other.cols
        if flint is not None:
            out.m = self.m * other.m
        else:  # pragma: no cover
            cols = list(zip(*other.m))
            out.m = [[sum((a * b for a, b in zip(row, col)), Fraction(0)) for col in cols] for row in self.m]
        return out


class RatLayer:
    """One affine layer as canonical rationals (kernel (n, o) as a RatMatrix, bias as a list)."""

    def __init__(self, kernel, bias):
        k = np.asarray(kernel)
        self.n, self.o = k.shape
        self.k = RatMatrix(self.n, self.o, q_of_float_array(k))
        self.b = q_of_float_array(np.asarray(bias).reshape(-1))


def rational_chunk(layers: list, activation: str, h: list, m: int, y: list | None, *, start_layer: int = 0,
                   want_outputs: bool = False):
    """Exact evaluation of ``m`` points (``h``: their inputs to layer ``start_layer``, row-major
    rationals) through RatLayers.  Returns (residual Fraction, kink Fraction | None, outputs | None):
    the exact max |f - y| over the chunk (y row-major rationals, or None), the exact min distance of
    a hidden pre-activation from the kink(s), and the outputs (a list of rows of Fractions)."""
    zero, one = q(0), q(1)
    relu = activation == "relu"
    kink = None
    width = len(h) // m if m else layers[start_layer].n
    for li in range(start_layer, len(layers)):
        lay = layers[li]
        if m == 0:
            h, width = [], lay.o
            continue
        z = RatMatrix(m, width, h).matmul(lay.k).entries()
        b = lay.b
        o = lay.o
        z = [v + b[i % o] for i, v in enumerate(z)]
        width = o
        if li == len(layers) - 1:
            h = z
            break
        if relu:
            mk = min(abs(v) for v in z)
            h = [v if v > zero else zero for v in z]
        else:
            mk = min(min(abs(v - one), abs(v + one)) for v in z)
            h = [one if v > one else (-one if v < -one else v) for v in z]
        kink = mk if kink is None else min(kink, mk)
    residual = Fraction(0)
    if y is not None and m:
        residual = to_fraction(max(abs(f - t) for f, t in zip(h, y)))
    outputs = None
    if want_outputs:
        fr = [to_fraction(v) for v in h]
        outputs = [fr[i * width:(i + 1) * width] for i in range(m)]
    return residual, (None if kink is None else to_fraction(kink)), outputs


def _add_bias(z: list, b: list) -> list:
    o = len(b)
    return [v + b[i % o] for i, v in enumerate(z)]


def rational_residual_chunk(params_q, x: list, m: int, y: list):
    """A residual network (params as RatLayers: inp, [(U_b with bias s_b, V_b)], out) on ``m`` points in
    canonical rationals: (exact max |f - y|, exact min |branch pre-activation| or None)."""
    inp, blocks, out = params_q
    zero = q(0)
    h = _add_bias(RatMatrix(m, inp.n, x).matmul(inp.k).entries(), inp.b) if m else []
    d = inp.o
    kink = None
    for lu, lv in blocks:
        if not m:
            break
        z = _add_bias(RatMatrix(m, d, h).matmul(lu.k).entries(), lu.b)
        mk = min((abs(v) for v in z), default=None)
        if mk is not None:
            kink = mk if kink is None else min(kink, mk)
        a = [v if v > zero else zero for v in z]
        t = RatMatrix(m, lu.o, a).matmul(lv.k).entries()
        h = [u + v for u, v in zip(h, t)]
    if not m:
        return Fraction(0), None
    f = _add_bias(RatMatrix(m, d, h).matmul(out.k).entries(), out.b)
    res = max((abs(u - v) for u, v in zip(f, y)), default=zero)
    return to_fraction(res), (None if kink is None else to_fraction(kink))
