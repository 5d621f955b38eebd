"""The general exact path: integer matrices over one common denominator per layer, multiplied
by multimodular float64 BLAS products (see :mod:`capacity.exact._numbers`), chunked over points.

Representation.  A layer's input is h = H / E_h (H integers, E_h > 0 one integer for the chunk).
A layer with weights K / D_k and bias B / D_b is stored as K' = K (L / D_k), B' = B (L / D_b),
L = lcm(D_k, D_b) (a power of two for float64 weights), so that

    z E_z = H K' + E_h B',   E_z = E_h L                         (exact integers).

ReLU keeps the entries with z > 0 (an exact sign test); hard-tanh replaces the entries with
Z > E_z by E_z and those with Z < -E_z by -E_z (exact comparisons with ±1).  All integers are
carried as residues modulo primes, as many per layer as that layer needs (M = Π p > 2 max |value|
for every quantity whose sign or value is needed).  The bound comes from the float filter when the
network is float64 (|z| <= |ẑ| + e, rigorous; then the prime counts are planned up front), else
from the exact maximum of the layer's input (read from the digits) and the exact weight sizes, with
residues extended to further primes through the mixed-radix digits when a deeper layer needs them
(so that bounds do not compound over depth).  A sign is read
from the float filter where |ẑ| > e (rigorous, Claim 1-3 of :mod:`capacity.exact._filter`) and
from the exact mixed-radix digits everywhere else; without a float pass (exact weights or data),
ReLU signs and per-entry magnitude bounds come from :func:`capacity.exact._numbers.crt_float`.
Exact values (for the kink distance and the
residual) are reconstructed only for the entries that can attain the minimum / maximum.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from capacity.exact._numbers import (Pow2Table, Scaled, assemble, crt_float, crt_values, extend_residues, garner,
                                     int_mod,
                                     mod_sym,
                                     prime_list, primes_needed, sign_from_digits, symmetric)

U = 2.0**-53


class Layer:
    """One affine layer as integers over a common denominator (see module docstring)."""

    def __init__(self, kernel, bias):
        k = Scaled.from_array(kernel)
        b = Scaled.from_array(np.asarray(bias).reshape(-1))
        lcm = k.denom * b.denom // math.gcd(k.denom, b.denom)
        self.k = k.scaled_by(lcm // k.denom)
        self.b = b.scaled_by(lcm // b.denom)
        self.L = lcm
        self.n, self.o = self.k.shape
        self.kmax = self.k.max_abs()
        self.bmax = self.b.max_abs()
        self._res: dict = {}

    def residues(self, primes: np.ndarray, pow2: Pow2Table):
        """(K' residues (k, n, o), B' residues (k, o)), cached per prime."""
        missing = [p for p in primes.tolist() if p not in self._res]
        if missing:
            ps = np.array(missing, dtype=np.int64)
            kr = self.k.residues(ps, pow2)
            br = self.b.residues(ps, pow2)
            for i, p in enumerate(missing):
                self._res[p] = (kr[i], br[i])
        kr = np.stack([self._res[p][0] for p in primes.tolist()])
        br = np.stack([self._res[p][1] for p in primes.tolist()])
        return kr, br


def affine(hr: np.ndarray, eh: int, layer: Layer, primes: np.ndarray, pow2: Pow2Table):
    """Residues of Z = H K' + E_h B' and E_z = E_h L.

    One float64 matmul per prime, the bias residue added in place, one reduction: every term is
    at most ((p+1)/2)^2 in magnitude and there are fan-in + 1 of them, which the primes allow
    (see :func:`capacity.exact._numbers.prime_list`, called with fan-in + 1).
    """
    kr, br = layer.residues(primes, pow2)
    bias = mod_sym(int_mod(eh, primes)[:, None] * br, primes)  # (k, o), |.| <= (p+1)/2
    z = np.matmul(hr, kr)
    return mod_sym(z, primes, inplace=True, add=bias[:, None, :]), eh * layer.L


def exact_signs(res: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Exact signs (int8) of values given by residues (k, ...), |value| < M/2."""
    if res[0].size == 0:
        return np.zeros(res.shape[1:], dtype=np.int8)
    if res[0].size * 4 <= len(primes):  # a few entries, many primes: Python CRT
        vals = crt_values(res, primes)
        return np.array([(v > 0) - (v < 0) for v in vals], dtype=np.int8).reshape(res.shape[1:])
    return sign_from_digits(garner(res, primes), primes)


def hybrid_signs(res: np.ndarray, primes_k: np.ndarray, zf=None, ef=None, shift: float = 0.0) -> np.ndarray:
    """Signs of the exact values Z (residues ``res``) of z - shift (z = Z / E): from the float filter
    where |ẑ - shift| > e (fl(ẑ - shift) is compared, monotone rounding keeps it rigorous, see
    :func:`_certain`), exactly elsewhere."""
    k = len(primes_k)
    if zf is None:
        return exact_signs(res[:k], primes_k)
    pos, neg = _certain(zf, ef, shift)
    s = np.zeros(zf.shape, dtype=np.int8)
    s[pos] = 1
    s[neg] = -1
    unc = ~(pos | neg)
    if unc.any():
        s[unc] = exact_signs(res[:k][:, unc], primes_k)
    return s


def _certain(zf, ef, shift):
    """(z - shift > 0 certain, z - shift < 0 certain) from |ẑ - z| <= e.

    fl(ẑ - e) > shift implies ẑ - e > shift (round to nearest is monotone and shift is a float),
    hence z > shift; symmetrically below."""
    return (zf - ef) > shift, (zf + ef) < shift


def bound_from_float(zf, ef, scale: int, shift: float = 0.0) -> int:
    """An integer >= max |z - shift| * scale from |ẑ - z| <= e (0 for empty)."""
    if zf.size == 0:
        return 0
    m = float(np.max(np.abs(zf - shift) + ef))
    m = m * (1 + 8 * U) + 2.0**-1022  # the float sum/abs above each lost at most a factor (1 - u)
    if not math.isfinite(m):
        return -1
    q = Fraction(m) * scale
    return int(math.ceil(q))


def abs_digits(res: np.ndarray, primes_k: np.ndarray) -> np.ndarray:
    """Mixed-radix digits of |value| (k, n) for values given by symmetric residues (k, n)."""
    v = garner(res, primes_k)
    s = sign_from_digits(v, primes_k)
    if (s < 0).any():
        v[:, s < 0] = garner(-res[:, s < 0], primes_k)
    return v


def extreme_abs_exact(res: np.ndarray, primes_k: np.ndarray, cand: np.ndarray | None, largest: bool) -> int | None:
    """Exact min (or max) |value| over the candidate entries (all when cand is None); None when
    empty.  Vectorised: |value| is compared through its mixed-radix digits (lexicographic from the
    most significant digit), and only the extreme entry becomes a Python int."""
    k = len(primes_k)
    r = res[:k].reshape(k, -1)
    if cand is not None:
        r = r[:, cand.ravel()]
    if r.shape[1] == 0:
        return None
    if r.shape[1] > 4 * k:  # narrow the entries down by the rigorous float bounds of crt_float
        _, lo, hi = crt_float(r, primes_k)
        keep = hi >= lo.max() if largest else lo <= hi.min()
        if np.isfinite(hi).all() and keep.sum() < r.shape[1]:
            r = r[:, keep]
    if r.shape[1] * 4 <= k or r.shape[1] <= 16:  # a few entries: Python CRT beats k^2 vector passes
        vals = [abs(v) for v in crt_values(r, primes_k)]
        return max(vals) if largest else min(vals)
    v = abs_digits(r, primes_k)
    order = np.lexsort(v)  # last row (most significant digit) is the primary key
    i = order[-1] if largest else order[0]
    return abs(int(assemble(v[:, i:i + 1], primes_k)[0]))


def min_abs_exact(res: np.ndarray, primes_k: np.ndarray, cand: np.ndarray | None) -> int | None:
    """Exact min |value| over the candidate entries (see :func:`extreme_abs_exact`)."""
    return extreme_abs_exact(res, primes_k, cand, largest=False)


def candidates_min(dist_f, ef):
    """Entries whose exact distance (within e of the float one) can attain the minimum.

    Non-finite floats (overflow) carry no information: such entries are always candidates, and
    if no finite upper bound exists every entry is."""
    with np.errstate(invalid="ignore", over="ignore"):
        lo = np.maximum(dist_f - ef, 0.0) * (1 - 8 * U)
        hi = (dist_f + ef) * (1 + 8 * U) + 2.0**-1022
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, np.inf)
    thr = hi.min() if hi.size else np.inf
    if not np.isfinite(thr):
        return np.ones(dist_f.shape, dtype=bool)
    return lo <= thr


class ChunkResult:
    def __init__(self):
        self.residual = Fraction(0)  # exact max over this chunk's exactly evaluated entries
        self.kink = None  # exact min kink distance (Fraction) over evaluated hidden entries
        self.outputs = None  # exact outputs (object array of Fractions) when asked for


def _prime_count(bound: int, fan: int) -> np.ndarray:
    """The shortest prefix of the prime list (for this fan-in) with product > 2 bound."""
    need = 4
    allp = prime_list(fan, need)
    while math.prod(int(p) for p in allp.tolist()) <= 2 * bound + 1:
        need *= 2
        allp = prime_list(fan, need)
    return allp[:primes_needed(bound, allp)]


def _adjust(hr: np.ndarray, primes: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Residues of the same exact values modulo ``want`` (a prefix-compatible prime list):
    a slice when fewer primes are wanted, an extension through the mixed-radix digits when more."""
    if len(want) <= len(primes):
        return hr[:len(want)]
    return np.concatenate([hr, extend_residues(hr, primes, want[len(primes):])], axis=0)


def mlp_chunk(layers: list, activation: str, x_s: Scaled, y_s: Scaled | None, fp=None, rows=None,
              want_outputs: bool = False, start_layer: int = 0, h_ints=None, h_den: int = 1,
              pow2: Pow2Table | None = None, fan_max: int = 1, yf=None) -> ChunkResult:
    """Exact evaluation of one chunk of points.

    x_s: the chunk's inputs (Scaled) unless ``h_ints`` (object ints over ``h_den``) gives the input of
    layer ``start_layer`` directly (the rank-one path for deeper networks).  ``fp`` a
    :class:`capacity.exact._filter.FloatPass` of the chunk and ``rows`` the selected rows of it (or
    None: no float information).  ``yf``: float targets of the selected rows (for the residual
    candidates), or None.

    Each layer uses just enough primes for its own values: a bound from the float filter (|z| <=
    |ẑ| + e) when there is one, else from the exact maximum of the layer's input (computed from the
    digits) and the exact weight sizes.  Residues are extended to more primes through the mixed-radix
    digits when a later layer needs them, so the bound does not compound over depth.
    """
    pow2 = pow2 or Pow2Table()
    if fp is not None and rows is not None and len(rows) == fp.out.shape[0]:
        rows = slice(None)  # every row (sorted, distinct indices): views instead of copies
    n_layers = len(layers)
    relu = activation == "relu"
    fan = fan_max + 1
    if h_ints is not None:
        vals = h_ints.ravel().tolist()
        g = math.gcd(int(h_den), *vals)  # the same rationals over the smallest common denominator
        if g > 1:  # (e.g. integer-valued layers of an integer network fed with float data: E -> 1)
            vals = [v // g for v in vals]
            h_ints = np.array(vals + [0], dtype=object)[:-1].reshape(h_ints.shape)
        hmax = max((abs(v) for v in vals), default=0)
        eh = int(h_den) // g
        primes = _prime_count(hmax, fan)
        flat = h_ints.reshape(-1)
        hr = np.empty((len(primes), flat.size))
        for i, p in enumerate(primes.tolist()):
            hr[i] = np.asarray(flat % p, dtype=np.float64) if flat.size else 0.0
        hr = symmetric(hr, primes).reshape((len(primes),) + h_ints.shape)
    else:
        hmax = x_s.max_abs()
        eh = x_s.denom
        primes = _prime_count(hmax, fan)
        hr = x_s.residues(primes, pow2) if fp is None else None  # with fp: the plan's primes below
    out = ChunkResult()

    def layer_need(li, eh, hmax):
        """(bound of |Z|, bound of every integer this layer must determine)."""
        lay = layers[li]
        ez = eh * lay.L
        last = li == n_layers - 1
        b = lay.n * hmax * lay.kmax + eh * lay.bmax  # exact a-priori bound of |Z|
        if fp is not None:
            fb = (bound_from_float(fp.out[rows], fp.e_out[rows], ez) if last
                  else bound_from_float(fp.z[li][rows], fp.e[li][rows], ez))
            if fb >= 0:
                b = min(b, fb)
        need = b if (relu or last) else b + ez
        if last and y_s is not None:  # R = Z (D_y / g) - Y (E_z / g) over E_z D_y / g, g = gcd(E_z, D_y)
            g = math.gcd(ez, y_s.denom)
            rb = b * (y_s.denom // g) + y_s.max_abs() * (ez // g)
            if fp is not None and yf is not None:
                d = np.abs(fp.out[rows] - yf) + fp.e_out[rows]
                if d.size:
                    m = float(np.max(d)) * (1 + 8 * U) + 2.0**-1022
                    if math.isfinite(m):
                        rb = min(rb, int(math.ceil(Fraction(m) * (ez * (y_s.denom // g)))))
            need = max(need, rb) if want_outputs else rb  # only R must be determined, not Z
        return b, need

    plan = None
    if fp is not None:
        # float bounds are tight and known up front: give every layer the primes of the largest
        # need at or after it (a suffix maximum), so residues are only ever sliced, never extended
        needs, bs_, e_, h_ = [], [], eh, hmax
        for li in range(start_layer, n_layers):
            b_, nd = layer_need(li, e_, h_)
            needs.append(nd)
            bs_.append(b_)
            h_ = b_ if relu else min(b_, e_ * layers[li].L)
            e_ = e_ * layers[li].L
        plan = [max(needs[i:]) for i in range(len(needs))]
        top = _prime_count(plan[0], fan)
        hr = x_s.residues(top, pow2) if h_ints is None else _adjust(hr, primes, top)
        primes = top
    for li in range(start_layer, n_layers):
        lay = layers[li]
        last = li == n_layers - 1
        if plan is not None:
            b, need = bs_[li - start_layer], plan[li - start_layer]
        else:
            b, need = layer_need(li, eh, hmax)
        want = _prime_count(need, fan)
        hr = _adjust(hr, primes, want)
        primes = want
        z, ez = affine(hr, eh, lay, primes, pow2)
        eh = ez
        if last:
            hr = z
            fbound = b
            break
        zf = fp.z[li][rows] if fp is not None else None
        efl = fp.e[li][rows] if fp is not None else None
        hmax_hi = None
        if relu and zf is None:  # exact signs and rigorous float bounds of every entry in one pass
            sg, lo, hi = crt_float(z.reshape(len(primes), -1), primes)
            s = sg.reshape(z.shape[1:])
            cand = (lo <= hi.min()).reshape(s.shape) if hi.size and np.isfinite(hi.min()) else None
            mk = min_abs_exact(z, primes, cand)
            hp = hi[sg > 0]
            hmax_hi = 0 if not hp.size else (math.ceil(Fraction(float(hp.max()))) if np.isfinite(hp.max()) else None)
            kink = None if mk is None else Fraction(mk, ez)
            z *= (s > 0)[None]
            hr = z
        elif relu:
            s = hybrid_signs(z, primes, zf, efl)
            cand = candidates_min(np.abs(zf), efl) if zf is not None else None
            mk = min_abs_exact(z, primes, cand)
            kink = None if mk is None else Fraction(mk, ez)
            z *= (s > 0)[None]  # ReLU on the residues: zero where the exact value is <= 0
            hr = z
        else:
            ezr = int_mod(ez, primes)[:, None, None]
            zm = mod_sym(z - ezr, primes)  # Z - E_z
            zp = mod_sym(z + ezr, primes)  # Z + E_z
            above = hybrid_signs(zm, primes, zf, efl, 1.0) > 0
            below = hybrid_signs(zp, primes, zf, efl, -1.0) < 0
            hr = mod_sym(np.where(above[None], ezr, np.where(below[None], -ezr, z)), primes)
            if zf is not None:
                cm = candidates_min(np.abs(zf - 1.0), efl)
                cp = candidates_min(np.abs(zf + 1.0), efl)
            else:
                cm = cp = None
            vals = [v for v in (min_abs_exact(zm, primes, cm), min_abs_exact(zp, primes, cp)) if v is not None]
            kink = Fraction(min(vals), ez) if vals else None
        if kink is not None:
            out.kink = kink if out.kink is None else min(out.kink, kink)
        if hmax_hi is not None:  # a rigorous bound of the layer's output (crt_float), within a factor 1 + 2^-40
            hmax = hmax_hi
        elif fp is None:  # the exact maximum of the layer's output keeps the next bound tight
            hmax = extreme_abs_exact(hr, primes, None, largest=True) or 0
        else:
            hmax = b if relu else min(b, ez)
    # ---- outputs and residual
    if want_outputs:
        pf = primes[:primes_needed(fbound, primes)]
        vals = assemble(garner(hr[:len(pf)].reshape(len(pf), -1), pf), pf)
        out.outputs = np.array([Fraction(int(v), eh) for v in vals.tolist()], dtype=object).reshape(hr.shape[1:])
    if y_s is not None:
        yr = y_s.residues(primes, pow2)
        g = math.gcd(eh, y_s.denom)
        r = mod_sym(hr * int_mod(y_s.denom // g, primes)[:, None, None] - yr * int_mod(eh // g, primes)[:, None, None],
                    primes)
        nonzero = np.any(r != 0, axis=0)
        if nonzero.any():
            if fp is not None and yf is not None:
                with np.errstate(invalid="ignore", over="ignore"):
                    rf = np.abs(fp.out[rows] - yf)
                    lo = np.maximum(rf - fp.e_out[rows], 0.0) * (1 - 8 * U)
                    hi = (rf + fp.e_out[rows]) * (1 + 8 * U) + 2.0**-1022
                lo = np.where(nonzero & np.isfinite(lo), lo, 0.0)  # a lower bound of each |R| (0: none known)
                hi = np.where(np.isfinite(hi), hi, np.inf)
                cand = nonzero & (hi >= lo.max())
            else:
                cand = nonzero
            mx = extreme_abs_exact(r, primes, cand, largest=True)
            out.residual = Fraction(mx, eh * (y_s.denom // g))
    out.out_den = eh
    return out
