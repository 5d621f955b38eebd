"""The exact engine: certify a stored network exactly, chunked over points, in linear memory.

Every float64 is m 2^e, so a network with float64 (or exact rational / integer) weights, evaluated
on float64 (or exact) data, has an exact output that rational arithmetic can compute.  This
package computes it without per-entry Python rationals:

* **Integer matrices** (:mod:`capacity.exact._modular`): each layer is one integer matrix and one
  integer bias over a common denominator (a power of two for float64 weights, the lcm of the
  denominators for rational weights).  The products are exact multimodular products: residues
  modulo primes p < 2^26, multiplied with float64 BLAS (exact, since every partial sum stays below
  2^53) and combined by the Chinese remainder theorem only where a value is needed.  ReLU is an
  exact sign test, hard-tanh an exact comparison with ±1.  Work is chunked over points: memory is
  O(chunk × width × primes + parameters), independent of N.
* **The rank-one sweep** (:mod:`capacity.exact._sweep`): when the stored first kernel is exactly
  rank one (tested exactly on the stored weights) and the activation is ReLU, the first two
  hidden layers are evaluated by a sweep over the sorted projection, O((kinks + 1) d2 + N) exact
  operations; a third (output) layer is folded into the sweep, deeper layers continue on integer
  matrices.
* **Canonical rationals** (:mod:`capacity.exact._rational`): when some layer's lcm denominator is
  long (an exact test of the stored weights: lcm longer than 4 x the longest denominator + 256
  bits, as in the exact rebuilds of constructions with unrelated denominators), the network is
  evaluated in reduced rationals (python-flint ``fmpq`` / ``fmpq_mat``): the sweep on them
  directly, other layers as exact rational matrix products; residual networks likewise.
* **Exact-weight networks** (no float pass): signs and rigorous magnitude bounds of every entry
  come from :func:`capacity.exact._numbers.crt_float` (a float CRT, O(primes) passes, proved
  there), exact values only for the candidates of the extremes; a layer fed with exact integers
  (the sweep's output) is first put over the smallest common denominator (a gcd), so integer-valued
  layers fed with float data (Vardi's bit extraction) work with their own small integers.
* **The float filter** (:mod:`capacity.exact._filter`): a float64 pass with a rigorous a-posteriori
  error bound per point (proved there).  When ``tol > 0`` a point whose residual bound is <= tol is
  certified without exact work (tier ``float_filter``); its sign information also spares the exact
  tier most digit reconstructions.

Levels: ``certified-exact`` iff the exact residual is 0 at every point (this needs exact work on
every point, so it requires ``tol == 0`` or ``float_filter=False`` whenever the filter could
certify points); ``certified-bound`` iff every point is certified with residual <= tol (exactly,
or by the filter's rigorous bound); ``failed`` otherwise.

Example:
  >>> import numpy as np
  >>> from capacity.exact import certify_mlp
  >>> k = [np.array([[1.0, -1.0]]), np.array([[1.0], [1.0]])]
  >>> b = [np.zeros(2), np.zeros(1)]
  >>> x = np.array([[0.5], [-0.25]]); y = np.abs(x)
  >>> certify_mlp(k, b, x, y).level
  'certified-exact'
"""

from __future__ import annotations

import dataclasses
import math
import resource
import time
from fractions import Fraction

import numpy as np

from capacity.exact._filter import FloatPass, ResidualFloatPass
from capacity.exact._modular import Layer, mlp_chunk
from capacity.exact._numbers import (Pow2Table, Scaled, float_down, float_up, frac_str, to_dyadic,  # noqa: F401
                                     to_scaled_ints)
from capacity.exact._rational import (RatLayer, is_long, q, q_of_float_array, rational_chunk,
                                     rational_residual_chunk)
from capacity.exact._residual import ResidualNet, residual_chunk
from capacity.exact._sweep import rank_one, sweep

__all__ = ["ExactResult", "certify_mlp", "certify_residual", "exact_outputs", "to_dyadic", "to_scaled_ints",
           "is_rank_one", "LEVELS"]

LEVELS = ("certified-exact", "certified-bound", "failed")
BACKEND = "numpy multimodular (float64 BLAS residues) + Python ints; python-flint fmpq for long denominators"


@dataclasses.dataclass
class ExactResult:
    """Outcome of an exact check.

    ``residual`` is the exact rational max_i |f(x_i) - y_i| over the points evaluated exactly
    (``residual_is_exact`` says whether that is every point); ``exact_residual`` its decimal text
    ("0" only when exactly zero; "<= bound" when some points were certified by the float filter);
    ``exact_residual_float`` the smallest float64 >= the residual (rounded UPWARD; with filtered
    points, the rigorous upper bound ``residual_upper``).  ``kink_distance`` is the exact minimum
    over points and hidden units of the distance of a pre-activation from the kink(s) (0 for ReLU,
    ±1 for hard-tanh) when every point was evaluated exactly, else None; ``min_abs_preactivation``
    is a float64 lower bound of that minimum (rounded DOWN), also covering filtered points.
    ``tiers`` counts points certified by each tier; ``peak_rss_bytes`` is the process's peak
    resident memory after the check (a process-wide high-water mark, ru_maxrss).
    """

    level: str
    exact_residual: str
    exact_residual_float: float
    n_checked: int
    seconds: float
    backend: str
    min_abs_preactivation: float | None = None
    notes: list = dataclasses.field(default_factory=list)
    residual: Fraction | None = None
    kink_distance: Fraction | None = None
    method: str = ""
    tiers: dict = dataclasses.field(default_factory=dict)
    peak_rss_bytes: int | None = None
    residual_upper: float | None = None
    residual_is_exact: bool = True

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for key in ("residual", "kink_distance"):
            v = getattr(self, key)
            d[key] = None if v is None else f"{v.numerator}/{v.denominator}"
        return d

    @property
    def passed(self) -> bool:
        return self.level != "failed"


def _peak_rss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def _progress_fn(progress):
    if progress is None or progress is False:
        return None, None
    if callable(progress):
        return progress, None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None, None
    bar = tqdm(total=0, desc="exact", unit="chunk")

    def f(done, total):
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return f, bar


def _check_tol(tol) -> Fraction:
    t = float(tol)
    if not (t >= 0 and math.isfinite(t)):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    return Fraction(t)


def _targets(y, n: int, dy: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 1 and dy == 1:
        y = y.reshape(-1, 1)
    if y.shape != (n, dy):
        raise ValueError(f"targets have shape {y.shape}; expected (N, dy) = ({n}, {dy}) (one-hot encode labels first)")
    return y


def _default_chunk(widths) -> int:
    return int(max(64, min(4096, 2**21 // max(1, max(widths)))))


def is_rank_one(kernel) -> bool:
    """Whether a stored kernel (in, out) is exactly u ⊗ a (exact test on its integers)."""
    return rank_one(Scaled.from_array(kernel).ints()) is not None


def min_known(a, b):
    """min(a, b) where None means "no value yet" (kink distances of chunks without hidden units)."""
    return b if a is None else a if b is None else min(a, b)


def _level(residual: Fraction, tolq: Fraction, all_exact: bool) -> str:
    if residual > tolq:
        return "failed"
    if residual == 0 and all_exact:
        return "certified-exact"
    return "certified-bound"


def _validate_mlp(kernels, biases, x, activation):
    if activation not in ("relu", "hardtanh"):
        raise ValueError(f"activation must be 'relu' or 'hardtanh', got {activation!r}")
    if len(kernels) != len(biases) or not kernels:
        raise ValueError(f"need one bias per kernel and at least one layer; got {len(kernels)} kernels, "
                         f"{len(biases)} biases")
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be (N, dx); got shape {x.shape}")
    w = x.shape[1]
    for i, (k, b) in enumerate(zip(kernels, biases)):
        k, b = np.asarray(k), np.asarray(b)
        if k.ndim != 2 or k.shape[0] != w or np.shape(b) != (k.shape[1],):
            raise ValueError(f"layer {i}: kernel {k.shape} / bias {np.shape(b)} do not fit an input of width {w} "
                             "(kernels are (in, out), biases (out,))")
        w = k.shape[1]
    return x, w


def certify_mlp(kernels, biases, x, y, *, activation: str = "relu", tol: float = 0.0, chunk: int | None = None,
                fast_path="auto", float_filter: bool = True, progress=None) -> ExactResult:
    """Certify exactly that the MLP (kernels (in, out), biases (out,)) maps the rows of x to y.

    Args:
      kernels, biases: float64 arrays or object arrays of exact numbers (int, Fraction, fmpq).
      x: (N, dx) float64 or exact; y: (N, dy) targets (float64 or exact; one-hot for classes).
      activation: "relu" or "hardtanh".
      tol: a point passes when its exact residual is <= tol.
      chunk: points per chunk (memory O(chunk × width)); default from the widest layer.
      fast_path: "auto" (rank-one sweep when the stored kernel_0 is exactly rank one, ReLU, >= 3
        layers), True (require it; ValueError if it does not apply), False (general path).
      float_filter: with tol > 0, let the rigorous float bound certify points without exact work.
      progress: None, a callable(done, total), or True for a tqdm bar.
    """
    t0 = time.perf_counter()
    tolq = _check_tol(tol)
    x, dy = _validate_mlp(kernels, biases, x, activation)
    n = x.shape[0]
    y = _targets(y, n, dy)
    layers, rational = _build_layers(kernels, biases)
    widths = [x.shape[1]] + [lay.o for lay in layers]
    chunk = int(chunk) if chunk else _default_chunk(widths)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    fan_max = max(lay.n for lay in layers)
    prog, bar = _progress_fn(progress)
    notes = []
    use_fast = False
    if fast_path not in ("auto", True, False):
        raise ValueError(f"fast_path must be 'auto', True or False, got {fast_path!r}")
    if fast_path is not False:
        ok = _sweep_applies(layers, activation)
        if fast_path is True and not ok:
            raise ValueError("fast_path=True needs ReLU, >= 3 layers and an exactly rank-one kernel_0; "
                             "use fast_path='auto' or False")
        use_fast = ok
    pow2 = Pow2Table()
    if use_fast:
        y_s = Scaled.from_array(y)

        def tail(h, den, rows):
            if rational:
                res, kk, _ = rational_chunk(layers, activation, [q(v) / den for v in h.ravel().tolist()], len(rows),
                                            q_of_float_array(y[rows]), start_layer=2)
                return res, kk, None
            r = mlp_chunk(layers, activation, None, Scaled.from_array(y[rows]), start_layer=2, h_ints=h, h_den=den,
                          pow2=pow2, fan_max=fan_max)
            return r.residual, r.kink, None

        out = sweep(kernels, biases, x, y_s, layers, chunk=chunk, tail=tail, progress=prog)
        residual, kink = out["residual"], out["kink"]
        tiers = {"float_filter": 0, "exact": n, "pattern_certified": None}
        method = "rank-one sweep" + (" on canonical rationals (long denominators)" if rational else "")
        notes.append(f"rank-one sweep: {out['kinks']} first-layer kinks, {out['switches']} layer-2 switches")
        all_exact, upper, kink_lo = True, float_up(residual), None
    elif rational:
        residual, kink = _general_rational(layers, (kernels[0], biases[0]), activation, x, y, chunk, prog)
        tiers = {"float_filter": 0, "exact": n, "pattern_certified": None}
        method = "canonical rationals (long denominators)"
        all_exact, upper, kink_lo = True, float_up(residual), None
    else:
        residual, kink, tiers, upper, kink_lo, all_exact = _general(layers, activation, x, y, tolq, chunk, fan_max,
                                                                    float_filter, pow2, prog)
        method = "integer matrices (multimodular)"
    if bar is not None:
        bar.close()
    return _result(residual, kink, tolq, n, dy, t0, method, tiers, notes, all_exact, upper, kink_lo)


def _result(residual: Fraction, kink, tolq: Fraction, n: int, dy: int, t0: float, method: str, tiers: dict,
            notes: list, all_exact: bool = True, upper: float | None = None, kink_lo: float | None = None
            ) -> ExactResult:
    """The one place an :class:`ExactResult` is assembled: the level, the residual's text (exact, or
    ``<= bound`` when the float filter certified some points), the float kink lower bound (the exact
    kink distance of the points evaluated exactly, with ``kink_lo`` covering filtered points)."""
    upper = float_up(residual) if upper is None else max(upper, float_up(residual))
    kd_float = float_down(kink) if kink is not None else None
    kd_float = min_known(kd_float, kink_lo)
    if all_exact:
        res_text, res_float = frac_str(residual), float_up(residual)
    else:
        res_text, res_float = f"<= {upper:.6e}", upper
        notes = notes + [f"{tiers['float_filter']} of {n} points certified by the float filter (bound <= tol); "
                         "the exact residual covers the other points"]
    return ExactResult(level=_level(residual, tolq, all_exact), exact_residual=res_text, exact_residual_float=res_float,
                       n_checked=n * dy, seconds=time.perf_counter() - t0, backend=BACKEND,
                       min_abs_preactivation=kd_float, notes=notes, residual=residual,
                       kink_distance=kink if all_exact else None, method=method, tiers=tiers,
                       peak_rss_bytes=_peak_rss(), residual_upper=upper, residual_is_exact=all_exact)


def _build_layers(kernels, biases):
    """(layers, rational): integer layers over common denominators, or, when some layer's lcm
    denominator is long (an exact test of the stored weights, :func:`capacity.exact._rational.is_long`),
    canonical-rational layers (the first one stays integer when it is short: the sweep needs it)."""
    long_ = [is_long(k, b) for k, b in zip(kernels, biases)]
    if not any(long_):
        return [Layer(k, b) for k, b in zip(kernels, biases)], False
    layers = [RatLayer(k, b) for k, b in zip(kernels, biases)]
    if not long_[0]:
        layers[0] = Layer(kernels[0], biases[0])
    return layers, True


def _sweep_applies(layers, activation) -> bool:
    return (activation == "relu" and len(layers) >= 3 and isinstance(layers[0], Layer)
            and rank_one(layers[0].k.ints()) is not None)


def _general_rational(layers, first, activation, x, y, chunk, prog, want_outputs=False):
    """Every layer in canonical rationals (the long-denominator path), chunked over points;
    ``first`` = (kernel, bias) of layer 0 as stored."""
    if isinstance(layers[0], Layer):
        layers = [RatLayer(*first)] + list(layers[1:])
    n = x.shape[0]
    residual, kink, outs = Fraction(0), None, []
    n_chunks = -(-n // chunk) if n else 0
    for ci, a in enumerate(range(0, n, chunk)):
        b = min(n, a + chunk)
        res, kk, o = rational_chunk(layers, activation, q_of_float_array(x[a:b]), b - a,
                                    None if y is None else q_of_float_array(y[a:b]), want_outputs=want_outputs)
        residual = max(residual, res)
        kink = min_known(kink, kk)
        if o is not None:
            outs.extend(o)
        if prog is not None:
            prog(ci + 1, n_chunks)
    return (residual, kink, outs) if want_outputs else (residual, kink)


def _general(layers, activation, x, y, tolq, chunk, fan_max, float_filter, pow2, prog):
    n = x.shape[0]
    is_float = all(lay.k.is_float and lay.b.is_float for lay in layers) and x.dtype != object
    y_float = y.dtype != object
    if is_float:
        kf = [np.asarray(k, dtype=np.float64) for k in _orig(layers, "k")]
        bf = [np.asarray(b, dtype=np.float64) for b in _orig(layers, "b")]
    use_filter = bool(float_filter) and is_float and y_float and tolq > 0
    residual = Fraction(0)
    kink = None
    n_filter = n_pattern = 0
    upper = 0.0
    kink_lo = None
    n_chunks = -(-n // chunk) if n else 0
    for ci, a in enumerate(range(0, n, chunk)):
        b = min(n, a + chunk)
        xc, yc = x[a:b], y[a:b]
        fp = FloatPass(kf, bf, xc, activation) if is_float else None
        rows = np.arange(b - a)
        if fp is not None:
            n_pattern += int(fp.pattern_ok.sum())
        if use_filter:
            rbound = fp.residual_bound(np.asarray(yc, dtype=np.float64))
            filt = rbound <= float(tolq)  # float(tolq) == tol exactly
            n_filter += int(filt.sum())
            if filt.any():
                upper = max(upper, float(rbound[filt].max()))
                lo = _kink_lower_rows(fp, filt, activation)
                kink_lo = min_known(kink_lo, lo)
            rows = np.flatnonzero(~filt)
        if len(rows):
            yf = np.asarray(yc[rows], dtype=np.float64) if (fp is not None and y_float) else None
            r = mlp_chunk(layers, activation, Scaled.from_array(xc[rows]), Scaled.from_array(yc[rows]),
                          fp=fp, rows=rows if fp is not None else None, pow2=pow2, fan_max=fan_max, yf=yf)
            residual = max(residual, r.residual)
            kink = min_known(kink, r.kink)
        if prog is not None:
            prog(ci + 1, n_chunks)
    tiers = {"float_filter": n_filter, "exact": n - n_filter, "pattern_certified": n_pattern if is_float else None}
    return residual, kink, tiers, upper, kink_lo, n_filter == 0


def _orig(layers, which):
    out = []
    for lay in layers:
        s = lay.k if which == "k" else lay.b
        out.append(np.ldexp(s.mant.astype(np.float64), (s.shift - s.exp2).astype(np.int64)))
    return out


def _kink_lower_rows(fp, rows, activation) -> float:
    best = math.inf
    for z, e in zip(fp.z, fp.e):
        z, e = z[rows], e[rows]
        dist = np.abs(z) if activation == "relu" else np.nextafter(np.minimum(np.abs(z - 1.0), np.abs(z + 1.0)), 0.0)
        lo = np.nextafter(np.maximum(dist - e, 0.0), 0.0)
        if lo.size:
            best = min(best, float(lo.min()))
    return best


def exact_outputs(kernels, biases, x, activation: str = "relu", *, fast_path=False, chunk: int | None = None):
    """Exact outputs f(x_i) as an (N, dy) object array of Fractions (for checks and tests)."""
    x, dy = _validate_mlp(kernels, biases, x, activation)
    layers, rational = _build_layers(kernels, biases)
    fan_max = max(lay.n for lay in layers)
    n = x.shape[0]
    if fast_path:
        if not _sweep_applies(layers, activation):
            raise ValueError("fast_path needs ReLU, >= 3 layers and an exactly rank-one kernel_0")
        pow2 = Pow2Table()

        def tail(h, den, rows):
            if rational:
                _, kk, outs = rational_chunk(layers, activation, [q(v) / den for v in h.ravel().tolist()], len(rows),
                                             None, start_layer=2, want_outputs=True)
                return Fraction(0), kk, outs
            r = mlp_chunk(layers, activation, None, None, start_layer=2, h_ints=h, h_den=den, pow2=pow2,
                          fan_max=fan_max, want_outputs=True)
            return Fraction(0), r.kink, list(r.outputs)

        return sweep(kernels, biases, x, None, layers, want_outputs=True, tail=tail,
                     chunk=chunk or 4096)["outputs"]
    chunk = chunk or _default_chunk([x.shape[1]] + [lay.o for lay in layers])
    if rational:
        _, _, outs = _general_rational(layers, (kernels[0], biases[0]), activation, x, None, chunk, None,
                                       want_outputs=True)
        out = np.empty((n, dy), dtype=object)
        for i, row in enumerate(outs):
            out[i, :] = row
        return out
    pow2 = Pow2Table()
    outs = []
    for a in range(0, n, chunk):
        r = mlp_chunk(layers, activation, Scaled.from_array(x[a:a + chunk]), None, pow2=pow2, fan_max=fan_max,
                      want_outputs=True)
        outs.append(r.outputs)
    return np.concatenate(outs, axis=0) if outs else np.empty((0, dy), dtype=object)


def certify_residual(params, x, y, *, tol: float = 0.0, chunk: int | None = None, float_filter: bool = True,
                     progress=None) -> ExactResult:
    """Certify exactly a residual network (see :mod:`capacity.exact._residual`).

    params: (w_in (dx, D), b_in (D,), U (nb, D, k), s (nb, k), V (nb, k, D), R (D, dy), c (dy,)),
    float64 or exact object arrays; x (N, dx); y (N, dy).  Levels, tiers and ``float_filter`` as in
    :func:`certify_mlp` (the filter's bound for residual networks is proved in
    :class:`capacity.exact._filter.ResidualFloatPass`).  Exact work grows with depth squared (the
    common denominator gains the weights' exponent range at every block), so for deep residual
    networks the filter tier (tol > 0) is what makes large N practical.
    """
    t0 = time.perf_counter()
    tolq = _check_tol(tol)
    if len(params) != 7:
        raise ValueError("params must be the 7 arrays (w_in, b_in, U, s, V, R, c)")
    if any(is_long(p) for p in params):  # long, unrelated denominators: canonical rationals throughout
        return _certify_residual_rational(params, x, y, tolq, chunk, progress, t0)
    net = ResidualNet(*params)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.inp.n:
        raise ValueError(f"x must be (N, {net.inp.n}); got shape {x.shape}")
    n = x.shape[0]
    dy = net.out.o
    y = _targets(y, n, dy)
    width = max([net.inp.o] + [lu.o for lu, _ in net.blocks])
    chunk = int(chunk) if chunk else _default_chunk([width])
    prog, bar = _progress_fn(progress)
    pow2 = Pow2Table()
    residual, kink = Fraction(0), None
    n_chunks = -(-n // chunk) if n else 0
    is_float = x.dtype != object and all(np.asarray(p).dtype != object for p in params)
    pf = [np.asarray(p, dtype=np.float64) for p in params] if is_float else None
    y_float = y.dtype != object
    use_filter = bool(float_filter) and is_float and y_float and tolq > 0
    n_filter, upper, kink_lo = 0, 0.0, None
    for ci, a in enumerate(range(0, n, chunk)):
        xc, yc = x[a:a + chunk], y[a:a + chunk]
        fp = None
        rows = np.arange(xc.shape[0])
        if is_float:
            with np.errstate(over="ignore", invalid="ignore"):
                fp = ResidualFloatPass(pf, xc)
        if use_filter:
            rbound = fp.residual_bound(np.asarray(yc, dtype=np.float64))
            filt = rbound <= float(tolq)
            n_filter += int(filt.sum())
            if filt.any():
                upper = max(upper, float(rbound[filt].max()))
                lo = _kink_lower_rows(fp, filt, "relu")
                kink_lo = min_known(kink_lo, lo)
            rows = np.flatnonzero(~filt)
            fp = fp.take(rows)
        if len(rows):
            r, k = residual_chunk(net, Scaled.from_array(xc[rows]), Scaled.from_array(yc[rows]), pow2, fp=fp,
                                  yf=np.asarray(yc[rows], dtype=np.float64) if (fp is not None and y_float) else None)
            residual = max(residual, r)
            kink = min_known(kink, k)
        if prog is not None:
            prog(ci + 1, n_chunks)
    if bar is not None:
        bar.close()
    all_exact = n_filter == 0
    tiers = {"float_filter": n_filter, "exact": n - n_filter, "pattern_certified": None}
    return _result(residual, kink, tolq, n, dy, t0, "integer matrices (multimodular), residual", tiers, [],
                   all_exact, upper, kink_lo)


def _certify_residual_rational(params, x, y, tolq, chunk, progress, t0) -> ExactResult:
    """certify_residual on the canonical-rational path (see :mod:`capacity.exact._rational`)."""
    w_in, b_in, U, s, V, R, c = (np.asarray(p) for p in params)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != w_in.shape[0]:
        raise ValueError(f"x must be (N, {w_in.shape[0]}); got shape {x.shape}")
    n = x.shape[0]
    y = _targets(y, n, R.shape[1])
    blocks = [(RatLayer(U[b], s[b]), RatLayer(V[b], np.zeros(V.shape[2]))) for b in range(U.shape[0])]
    net = (RatLayer(w_in, b_in), blocks, RatLayer(R, c))
    chunk = int(chunk) if chunk else _default_chunk([w_in.shape[1]])
    prog, bar = _progress_fn(progress)
    residual, kink = Fraction(0), None
    n_chunks = -(-n // chunk) if n else 0
    for ci, a in enumerate(range(0, n, chunk)):
        b = min(n, a + chunk)
        r, k = rational_residual_chunk(net, q_of_float_array(x[a:b]), b - a, q_of_float_array(y[a:b]))
        residual = max(residual, r)
        kink = min_known(kink, k)
        if prog is not None:
            prog(ci + 1, n_chunks)
    if bar is not None:
        bar.close()
    tiers = {"float_filter": 0, "exact": n, "pattern_certified": None}
    return _result(residual, kink, tolq, n, y.shape[1], t0, "canonical rationals (long denominators), residual",
                   tiers, [])
