"""Exact number representations for the exact engine: scaled integers and residues.

Every finite float64 is m * 2^e with |m| < 2^53, so a float64 array ``a`` is exactly
``ints / 2^k`` for one power of two per array (:func:`to_dyadic`).  Arrays of exact
rationals (Python ints, ``fractions.Fraction``, ``flint.fmpq``) become ``ints / D`` with
D the lcm of the denominators.  :class:`Scaled` holds either form; for float arrays the
integers are kept *implicitly* as (mantissa, shift) int64 pairs, so that their residues
modulo word-size primes are computed by vectorised NumPy without creating Python ints.

Multimodular arithmetic (:func:`primes_for`, :func:`garner`, :func:`assemble`): an integer
matrix product whose exact result lies in (-M/2, M/2), M = p_0 ... p_{k-1}, is determined
by its residues modulo each p_i.  With symmetric residues |r| <= (p-1)/2 and fan-in n,
every partial sum of a float64 matmul of residues is an integer of absolute value at most
n (p-1)^2 / 4 < 2^53, hence exact in float64 whatever the summation order: the float64
matmul (BLAS) followed by ``fmod`` is the exact product modulo p.  Garner's algorithm
gives the mixed-radix digits of the value in [0, M), from which the sign (compare with
(M-1)/2 digit by digit) and, where needed, the exact Python integer follow.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import numpy as np

try:  # pragma: no cover - import guard
    import flint
except ImportError:  # pragma: no cover
    flint = None

_MANT = 53


def as_fraction(v) -> Fraction:
    """One exact number (int, Fraction, fmpq, fmpz, float, numpy scalar) as a Fraction."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    if flint is not None and isinstance(v, flint.fmpq):
        return Fraction(int(v.p), int(v.q))
    if flint is not None and isinstance(v, flint.fmpz):
        return Fraction(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"non-finite number {f!r} in a network or data array; "
                             "exact certification needs finite values")
        return Fraction(*f.as_integer_ratio())
    raise TypeError(f"cannot read {type(v).__name__} as an exact number (use float64, int, Fraction or fmpq)")


def is_exact_array(a) -> bool:
    """True for object arrays (exact numbers), False for float arrays."""
    return np.asarray(a).dtype == object


def to_dyadic(a) -> tuple[np.ndarray, int]:
    """(ints, k) with a == ints / 2^k exactly: ints an object array of Python ints, k >= 0 minimal
    for the array as a whole.  ``a`` is a float64 array (or anything exactly representable as one).

    >>> to_dyadic(np.array([0.5, 3.0, -0.25]))
    (array([2, 12, -1], dtype=object), 2)
    """
    s = Scaled.from_array(np.asarray(a, dtype=np.float64))
    return s.ints(), s.exp2


def to_scaled_ints(a) -> tuple[np.ndarray, int]:
    """(ints, D) with a == ints / D exactly, D > 0 the lcm of the denominators (any exact array)."""
    s = Scaled.from_array(a)
    return s.ints(), s.denom


class Scaled:
    """An array of exact numbers as integers over one positive common denominator.

    Float arrays: value * 2^exp2 == mant * 2^shift (int64 mant, shift >= 0), denom = 2^exp2.
    Exact arrays: value * denom == obj (object array of Python ints).
    """

    def __init__(self, shape, denom: int, *, mant=None, shift=None, exp2=None, obj=None):
        self.shape = tuple(shape)
        self.denom = int(denom)
        self.mant, self.shift, self.exp2, self.obj = mant, shift, exp2, obj

    @classmethod
    def from_array(cls, a) -> "Scaled":
        a = np.asarray(a)
        if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:  # exact ints (int64 may exceed 2^53)
            obj = np.empty(a.size, dtype=object)
            obj[:] = [int(v) for v in a.ravel().tolist()]
            return cls(a.shape, 1, obj=obj.reshape(a.shape))
        if a.dtype != object:
            f = np.asarray(a, dtype=np.float64)
            if not np.all(np.isfinite(f)):
                raise ValueError("non-finite value (inf/nan) in a network or data array; "
                                 "exact certification needs finite values")
            m, e = np.frexp(f)  # f = m 2^e, 0.5 <= |m| < 1
            mant = (m * 2.0**_MANT).astype(np.int64)  # exact: f = mant 2^(e - 53)
            nz = mant != 0
            am = np.abs(mant)
            low = am & -am  # lowest set bit (a power of two, exact in float64)
            tz = np.where(nz, np.log2(np.where(nz, low, 1).astype(np.float64)), 0).astype(np.int64)
            mant = mant >> tz  # odd (or 0): f = mant 2^(e - 53 + tz)
            ex = e.astype(np.int64) - _MANT + tz
            k = int(max(0, (-ex[nz]).max())) if nz.any() else 0  # the smallest k with all shifts >= 0
            shift = np.where(nz, ex + k, 0).astype(np.int64)
            return cls(f.shape, 1 << k, mant=mant, shift=shift, exp2=k)
        fr = [as_fraction(v) for v in a.ravel().tolist()]
        d = 1
        for q in fr:
            if q.denominator != 1:
                d = d * q.denominator // math.gcd(d, q.denominator)
        obj = np.empty(len(fr), dtype=object)
        obj[:] = [q.numerator * (d // q.denominator) for q in fr]
        return cls(a.shape, d, obj=obj.reshape(a.shape))

    @property
    def is_float(self) -> bool:
        return self.mant is not None

    def ints(self) -> np.ndarray:
        """The integers (object array of Python ints)."""
        if self.obj is not None:
            return self.obj
        out = np.empty(self.mant.size, dtype=object)
        out[:] = [m << s for m, s in zip(self.mant.ravel().tolist(), self.shift.ravel().tolist())]
        return out.reshape(self.shape)

    def max_abs(self) -> int:
        """max |ints| (an exact Python int; 0 for an empty array)."""
        if self.obj is not None:
            return max((abs(v) for v in self.obj.ravel().tolist()), default=0)
        if not self.mant.size:
            return 0
        best = 0
        # the largest value has the largest shift + bitlength; compare a few candidates exactly
        lg = np.where(self.mant != 0, self.shift + np.floor(np.log2(np.abs(self.mant) + 0.5)), -1)
        top = np.flatnonzero(lg.ravel() >= lg.max() - 1)
        for i in top.tolist():
            best = max(best, abs(int(self.mant.ravel()[i])) << int(self.shift.ravel()[i]))
        return best

    def scaled_by(self, c: int) -> "Scaled":
        """Same values, integers multiplied by the positive integer c (denominator times c)."""
        c = int(c)
        if c == 1:
            return self
        if self.is_float and c & (c - 1) == 0:
            sh = c.bit_length() - 1
            return Scaled(self.shape, self.denom * c, mant=self.mant, shift=self.shift + sh, exp2=self.exp2 + sh)
        return Scaled(self.shape, self.denom * c, obj=self.ints() * c)

    def residues(self, primes: np.ndarray, pow2: "Pow2Table") -> np.ndarray:
        """Symmetric residues, float64 array (len(primes), *shape)."""
        k = len(primes)
        if self.obj is not None:
            flat = self.obj.ravel()
            out = np.empty((k, flat.size), dtype=np.float64)
            for i, p in enumerate(primes.tolist()):
                out[i] = np.asarray(flat % p, dtype=np.float64) if flat.size else 0.0
            return symmetric(out, primes).reshape((k,) + self.shape)
        mant = self.mant.ravel()
        shift = self.shift.ravel()
        ps = primes.astype(np.int64)[:, None]
        mr = np.remainder(mant[None, :], ps)  # [0, p)
        sr = pow2.get(ps[:, 0], shift)  # (k, n) in [0, p)
        r = np.remainder(mr * sr, ps).astype(np.float64)
        return symmetric(r, primes).reshape((k,) + self.shape)


class Pow2Table:
    """2^s mod p for the primes in use, extended on demand."""

    def __init__(self):
        self.tables: dict = {}

    def get(self, ps: np.ndarray, shift: np.ndarray) -> np.ndarray:
        smax = int(shift.max()) if shift.size else 0
        out = np.empty((len(ps), shift.size), dtype=np.int64)
        for i, p in enumerate(ps.tolist()):
            t = self.tables.get(p)
            if t is None or len(t) <= smax:
                n = max(smax + 1, 64)
                t = np.empty(n, dtype=np.int64)
                v = 1
                for s in range(n):
                    t[s] = v
                    v = (v * 2) % p
                self.tables[p] = t
            out[i] = t[shift]
        return out


def symmetric(r: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Map residues in (-p, p) (float64, integer valued) to [-(p-1)/2, (p-1)/2]."""
    p = primes.astype(np.float64).reshape((-1,) + (1,) * (r.ndim - 1))
    h = (p - 1) / 2
    r = np.where(r > h, r - p, r)
    return np.where(r < -h, r + p, r)


def mod_sym(r: np.ndarray, primes: np.ndarray, inplace: bool = False, add=None) -> np.ndarray:
    """Reduce integer-valued float64 residues with |r| <= 2^52 modulo p, to |result| <= (p+1)/2.

    q = rint(r * fl(1/p)) is within 1/2 + 2^-24 of r/p (p < 2^26), so |q p| < 2^52 + 2p is an
    exactly representable integer, r - q p is computed exactly, and |r - q p| < p/2 + 1, an
    integer, hence <= (p+1)/2 (p odd).  (Two vectorised multiplies instead of a libm fmod.)
    ``inplace``: overwrite r.  ``add`` (k, ...) broadcastable: reduce r + add instead (the sum
    must also stay within 2^52).  Large arrays are split over the primes between threads (NumPy
    releases the GIL in these loops).
    """
    out = r if inplace else np.empty_like(r)
    ps = [float(p) for p in primes.tolist()]

    def one(i):
        ri = r[i]
        if add is not None:
            ri = np.add(ri, add[i], out=out[i])
        t = ri * (1.0 / ps[i])
        np.rint(t, out=t)
        t *= ps[i]
        np.subtract(ri, t, out=out[i])

    if r.size >= 1 << 20 and len(ps) > 1 and _THREADS > 1:
        list(_pool().map(one, range(len(ps))))
        return out
    pp = primes.astype(np.float64).reshape((-1,) + (1,) * (r.ndim - 1))  # small: one vectorised pass
    ri = r if add is None else np.add(r, add, out=out)
    t = ri * (1.0 / pp)
    np.rint(t, out=t)
    t *= pp
    return np.subtract(ri, t, out=out)


_THREADS = min(8, os.cpu_count() or 1)
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(_THREADS)
    return _POOL


_PRIME_CACHE: dict = {}


def prime_list(fan_in: int, count: int) -> np.ndarray:
    """``count`` distinct odd primes p with fan_in * ((p+1)/2)^2 <= 2^52, largest first: float64
    matmuls of residues of magnitude <= (p+1)/2 (what :func:`mod_sym` returns) are then exact
    and their results are valid inputs of :func:`mod_sym`."""
    fan_in = max(1, int(fan_in))
    pmax = 2 * math.isqrt(2**52 // fan_in) - 1
    pmax = min(pmax, 2**26)  # keep products of residues (< p^2) inside int64 for the mulmods
    key = pmax
    lst = _PRIME_CACHE.setdefault(key, [])
    cand = lst[-1] - 2 if lst else (pmax if pmax % 2 else pmax - 1)
    while len(lst) < count:
        while not _is_prime(cand) or fan_in * ((cand + 1) // 2) ** 2 > 2**52:
            cand -= 2
        lst.append(cand)
        cand -= 2
    return np.array(lst[:count], dtype=np.int64)


def _is_prime(n: int) -> bool:
    if flint is not None:
        return bool(flint.fmpz(n).is_prime())
    if n < 2 or n % 2 == 0:
        return n == 2
    return all(n % d for d in range(3, math.isqrt(n) + 1, 2))


def primes_needed(bound: int, primes: np.ndarray) -> int:
    """Smallest k with p_0 ... p_{k-1} > 2 * bound (so values in [-bound, bound] are determined)."""
    target = 2 * int(bound) + 1
    m = 1
    for k, p in enumerate(primes.tolist(), start=1):
        m *= p
        if m > target:
            return k
    raise ValueError("internal: not enough primes prepared")


def garner(res: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Mixed-radix digits (int64, same shape as res) of the value in [0, M) with the given
    residues: value = v_0 + v_1 p_0 + v_2 p_0 p_1 + ...  (res: float or int, any sign, |res| < 2^52).

    Float64 arithmetic, exact: every operand is an integer below 2^52 in magnitude ((t - v_j) in
    (-p, p) times an inverse below p), and t - floor(t fl(1/p)) p is exact and lies in (-p, 2p),
    brought into [0, p) by one conditional step each way."""
    k = len(primes)
    ps = [int(p) for p in primes.tolist()]
    if np.asarray(res)[0].size < 8192:  # small: fewer NumPy calls per step (int64 remainders)
        return _garner_int(res, ps)
    r = np.asarray(res, dtype=np.float64)
    v = np.empty(r.shape, dtype=np.float64)

    def red(t, p, ip):
        t -= np.floor(t * ip) * p
        t += np.where(t < 0, p, 0.0)
        t -= np.where(t >= p, p, 0.0)
        return t

    for i in range(k):
        p = ps[i]
        pf, ip = float(p), 1.0 / p
        t = red(r[i].copy(), pf, ip)
        for j in range(i):
            inv = float(pow(ps[j] % p, -1, p))
            t -= v[j]
            t *= inv
            t = red(t, pf, ip)
        v[i] = t
    return v.astype(np.int64)


def _garner_int(res, ps: list) -> np.ndarray:
    r = np.asarray(res)
    v = np.empty(r.shape, dtype=np.int64)
    for i, p in enumerate(ps):
        t = np.remainder(r[i].astype(np.int64), p)
        for j in range(i):
            t = np.remainder((t - v[j]) * pow(ps[j] % p, -1, p), p)  # |t - v_j| < 2^27, inv < 2^26: int64
        v[i] = t
    return v


def _half_digits(primes: np.ndarray) -> list:
    """Mixed-radix digits of (M - 1) / 2."""
    h = (math.prod(int(p) for p in primes.tolist()) - 1) // 2
    out = []
    for p in primes.tolist():
        out.append(h % p)
        h //= p
    return out


def sign_from_digits(v: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Sign (int8: -1, 0, 1) of the symmetric value (in (-M/2, M/2)) whose mixed-radix digits of
    value mod M are v: zero iff all digits vanish, positive iff value mod M <= (M-1)/2."""
    hd = _half_digits(primes)
    k = len(primes)
    le = np.ones(v.shape[1:], dtype=bool)  # value <= half, decided from the top digit down
    undecided = np.ones(v.shape[1:], dtype=bool)
    for i in range(k - 1, -1, -1):
        lt = v[i] < hd[i]
        gt = v[i] > hd[i]
        le = np.where(undecided & gt, False, le)
        undecided &= ~(lt | gt)
    zero = np.all(v == 0, axis=0)
    s = np.where(le, 1, -1).astype(np.int8)
    s[zero] = 0
    return s


def assemble(v: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Exact symmetric values (object array of Python ints) from mixed-radix digits (k, n)."""
    ps = [int(p) for p in primes.tolist()]
    m = math.prod(ps)
    acc = np.zeros(v.shape[1:], dtype=object)
    w = 1
    for i, p in enumerate(ps):
        acc = acc + v[i].astype(object) * w
        w *= p
    half = (m - 1) // 2
    return np.where(acc > half, acc - m, acc)


def crt_values(res: np.ndarray, primes: np.ndarray) -> list:
    """Exact symmetric values (Python ints) of a few entries (res (k, n)) by the textbook CRT in
    Python integers: O(k) big-integer operations per entry instead of Garner's O(k^2) vector passes
    (faster when n is small and k large)."""
    ps = [int(p) for p in primes.tolist()]
    m = math.prod(ps)
    coef = [(m // p) * pow(m // p % p, -1, p) for p in ps]
    half = (m - 1) // 2
    out = []
    for col in np.asarray(res).reshape(len(ps), -1).T.tolist():
        v = sum(int(r) * c for r, c in zip(col, coef)) % m
        out.append(v - m if v > half else v)
    return out


def reconstruct(res: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Exact values (object array) from symmetric residues (k, ...)."""
    return assemble(garner(res, primes), primes)


def extend_residues(res: np.ndarray, primes: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Residues modulo the primes ``new`` of the values given by ``res`` modulo ``primes``
    (|value| < M/2, M = Π primes): from the mixed-radix digits, value mod q = Σ v_i (P_i mod q)
    - M [value < 0]  (P_i = p_0 ... p_{i-1}), every step an int64 mulmod below 2^53."""
    k = len(primes)
    shape = res.shape[1:]
    r = res.reshape(k, -1)
    v = garner(r, primes)
    neg = sign_from_digits(v, primes) < 0
    out = np.empty((len(new), r.shape[1]), dtype=np.float64)
    ps = [int(p) for p in primes.tolist()]
    m = math.prod(ps)
    for j, q in enumerate(int(p) for p in new.tolist()):
        acc = np.zeros(r.shape[1], dtype=np.int64)
        w = 1
        for i in range(k):
            acc = np.remainder(acc + v[i] * (w % q), q)
            w *= ps[i]
        acc = np.where(neg, np.remainder(acc - m % q, q), acc)
        out[j] = acc
    return symmetric(out, new).reshape((len(new),) + shape)


def int_mod(c: int, primes: np.ndarray) -> np.ndarray:
    """A Python int's symmetric residues, float64 (k,)."""
    r = np.array([int(c) % int(p) for p in primes.tolist()], dtype=np.float64)
    return symmetric(r, primes)


def frac_str(q: Fraction) -> str:
    """Decimal text of an exact rational >= 0, rounded UP to seven significant digits (so the printed
    value is never below the exact one; "0" only when exactly zero)."""
    if q == 0:
        return "0"
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 7
        ctx.rounding = decimal.ROUND_CEILING
        d = decimal.Decimal(q.numerator) / decimal.Decimal(q.denominator)
    return f"{d:.6e}"


def float_up(q: Fraction) -> float:
    """The smallest float64 >= q (q >= 0 finite rational)."""
    f = float(q)  # correctly rounded (to nearest)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


def float_down(q: Fraction) -> float:
    """The largest float64 <= q."""
    f = float(q)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def _digits_bounds(r: np.ndarray, primes: np.ndarray):
    """(sign, lo, hi) as in :func:`crt_float`, from the mixed-radix digits of |Z| (exact signs; the
    float sum Σ v_i fl(P_i) of non-negative terms is within a factor 1 ± 1.01 (j + 2) u of |Z|)."""
    j = len(primes)
    v = garner(r, primes)
    sg = sign_from_digits(v, primes)
    neg = sg < 0
    if neg.any():
        v[:, neg] = garner(-r[:, neg], primes)
    w = []
    acc = 1
    for p in primes.tolist():
        w.append(float(acc) if acc.bit_length() < 1020 else math.inf)
        acc *= int(p)
    with np.errstate(over="ignore", invalid="ignore"):
        tot = np.zeros(v.shape[1])
        for i in range(j):
            tot += np.where(v[i] != 0, v[i] * w[i], 0.0)
    eps = 1.01 * (j + 2) * 2.0**-53
    lo = tot * (1 - eps)
    hi = tot * (1 + eps)
    return sg, np.where(np.isfinite(lo), lo, 0.0), hi


def crt_float(res: np.ndarray, primes: np.ndarray, levels: int = 1):
    """Exact signs and rigorous float bounds of values given by symmetric residues, in O(k) passes.

    ``res`` (k, n) residues of integers Z with |Z| < M/2, M = p_0 ... p_{k-1}.  Returns (sign int8 (n,),
    lo, hi float64 (n,)) with lo <= |Z| <= hi (hi = inf where the float range overflows).

    Proof.  By the CRT, Z = Σ a_i M_j/p_i (mod M_j) with a_i = r_i (M_j/p_i)^{-1} mod p_i in [0, p_i),
    so φ = frac(Z / M_j) = frac(Σ a_i / p_i) (M_j the product of the first j primes, whenever
    |Z| < M_j / 2).  Each a_i is computed exactly (products below 2^52).  Each term
    t_i = fl(a_i fl(1/p_i)) is within (2u + u^2) a_i/p_i < 2.001 u of a_i/p_i, and summing j terms
    in [0, 1) in any order adds at most γ_{j-1} j (1 + 2.001u) (Higham, Lemma 3.1 / eq. (4.4)): the
    float sum s is within δ_j = 1.01 (j^2 + 2j) u of Σ a_i/p_i, and f = s - floor(s) is exact
    (Sterbenz), so f is within δ_j of φ modulo 1.  For Z >= 0, φ = Z/M_j in [0, 1/2); for Z < 0,
    φ = 1 + Z/M_j in (1/2, 1).  Hence δ_j < f < 1/2 - δ_j proves Z > 0 with Z/M_j within δ_j of f,
    1/2 + δ_j < f < 1 - δ_j proves Z < 0 with |Z|/M_j within δ_j of 1 - f, and f <= δ_j or
    f >= 1 - δ_j proves |Z| <= 2 δ_j M_j: such entries are redone with the fewest primes j' whose
    product exceeds 4 δ_j M_j (+1), still with |Z| < M_{j'}/2.  With one prime left the value is
    its symmetric residue.  Entries whose residues are all one integer r_0 are r_0 (no other value
    in (-M/2, M/2) has these residues): small values cost one comparison.  After ``levels`` levels
    the entries still small get their signs and bounds from the mixed-radix digits
    (:func:`_digits_bounds`; each level removes only one prime, so values far below the bound are
    cheaper by digits).  Entries with f within δ_j of 1/2 (|Z| close to M_j/2, only when the bound
    is nearly attained) are decided exactly by the textbook CRT.
    """
    k = len(primes)
    r = np.asarray(res, dtype=np.float64).reshape(k, -1)
    n = r.shape[1]
    sign = np.zeros(n, dtype=np.int8)
    lo = np.zeros(n)
    hi = np.zeros(n)
    if n == 0:
        return sign, lo, hi
    ps = [int(p) for p in primes.tolist()]
    same = np.all(r == r[0], axis=0)  # Z = r_0 exactly: Z = r_0 (mod every p_i) and |r_0| <= (p_0+1)/2 < M/2
    if k == 1:
        same &= np.abs(r[0]) < primes[0] / 2.0
    v0 = r[0, same]
    sign[same] = np.sign(v0).astype(np.int8)
    lo[same] = hi[same] = np.abs(v0)
    idx = np.flatnonzero(~same)
    j = k
    level = 0
    while idx.size:
        if level == levels and j > 1:
            sg, lo_, hi_ = _digits_bounds(r[:j, idx], primes[:j])
            sign[idx], lo[idx], hi[idx] = sg, lo_, hi_
            break
        level += 1
        if j == 1:
            v = r[0, idx]
            p0 = float(ps[0])
            v = np.where(v > (p0 - 1) / 2, v - p0, np.where(v < -(p0 - 1) / 2, v + p0, v))  # |Z| < p_0/2
            sign[idx] = np.sign(v).astype(np.int8)
            lo[idx] = hi[idx] = np.abs(v)
            break
        mj = math.prod(ps[:j])
        pj = np.array(ps[:j], dtype=np.float64)[:, None]
        c = np.array([pow(mj // p % p, -1, p) for p in ps[:j]], dtype=np.float64)[:, None]
        a = r[:j, idx] * c  # |r| <= (p+1)/2, c < p: exact
        t = np.rint(a * (1.0 / pj))
        a -= t * pj  # exact, |a| <= (p+1)/2
        a += np.where(a < 0, pj, 0.0)  # in [0, p)
        s = np.sum(a * (1.0 / pj), axis=0)
        f = s - np.floor(s)
        delta = 1.01 * (j * j + 2 * j) * 2.0**-53
        mf = float(mj) if mj.bit_length() < 1020 else math.inf
        pos = (f > delta) & (f < 0.5 - delta)
        neg = (f > 0.5 + delta) & (f < 1.0 - delta)
        small = (f <= delta) | (f >= 1.0 - delta)
        mid = ~(pos | neg | small)
        d = np.where(pos, f, 1.0 - f)  # 1 - f exact for f >= 1/2
        dec = idx[pos | neg]
        sign[idx[pos]] = 1
        sign[idx[neg]] = -1
        with np.errstate(over="ignore"):
            lo[dec] = np.maximum(d[pos | neg] - delta, 0.0) * (mf if mf < math.inf else 0.0) * (1 - 4 * 2.0**-53)
            hi[dec] = (d[pos | neg] + delta) * mf * (1 + 4 * 2.0**-53)
        if mid.any():
            vals = crt_values(r[:j, idx[mid]], primes[:j])
            for i, v in zip(idx[mid].tolist(), vals):
                sign[i] = (v > 0) - (v < 0)
                big = abs(v).bit_length() >= 1020
                lo[i] = 0.0 if big else float_down(Fraction(abs(v)))
                hi[i] = math.inf if big else float_up(Fraction(abs(v)))
        idx = idx[small]
        if not idx.size:
            break
        bound = math.ceil(Fraction(2 * delta) * mj)  # |Z| <= bound for the small entries
        jn = 1
        m = ps[0]
        while m <= 2 * bound and jn < j - 1:
            jn += 1
            m *= ps[jn - 1]
        if m <= 2 * bound:  # pragma: no cover - impossible for j < 40 (δ < 2^-41, p > 2^20)
            vals = crt_values(r[:j, idx], primes[:j])
            for i, v in zip(idx.tolist(), vals):
                sign[i] = (v > 0) - (v < 0)
                big = abs(v).bit_length() >= 1020
                lo[i] = 0.0 if big else float_down(Fraction(abs(v)))
                hi[i] = math.inf if big else float_up(Fraction(abs(v)))
            break
        j = jn
    return sign, lo, hi
