"""Verification of every network kind: the float64 pass, its rigorous bound, the exact tier, the level.

One contract: :func:`verify` (float64 + rigorous bound, any kind) returns a :class:`Report`;
:func:`certify` (exact arithmetic, any kind) returns a :class:`capacity.exact.ExactResult`;
:func:`combine` turns the two into the level a report may claim.  The CLI only prints them.

The float pass (:func:`capacity.networks.mlp_forward_bounded` and its residual twin):

For a network f (see :mod:`capacity.networks`) and data (x_i, y_i) this computes, in
one jit-compiled, chunked pass over the N points (memory stays bounded):

* the float64 outputs f̂(x_i) and the max residual  max_i |f̂(x_i) - y_i|;
* a **rigorous** bound e_i >= |f̂(x_i) - f(x_i)|, where f is the same stored weights
  evaluated in exact real arithmetic: Higham's per-layer bound (γ_k = k·u/(1 - k·u),
  u = 2^-53), two matmuls per layer (ĥ·W and (e + γ|ĥ|)·|W|), propagated through the
  1-Lipschitz activations (a unit whose computed value lies past a flat piece by more than
  its bound passes on zero error), computed with upward inflation and a guard for flushed
  subnormals.  The proof and its assumptions are in :mod:`capacity.networks._rounding`.
* the kink margin: min over data and hidden units of the distance of a
  pre-activation from the activation's kink(s) (0 for ReLU, ±1 for hard-tanh), absolute,
  and relative to the scale at which rounding acts (a conservative value: never larger
  than distance / (|ĥ||W| + |b|), equal to it at the first layer; reported, not certified);
* the weight dynamic range: max |w| and min non-zero |w| over all layers.

Certification levels (never more than is shown):

* ``certified-exact``: exact rational arithmetic shows f(x_i) = y_i (see
  :mod:`capacity.exact`);
* ``certified-bound``: max_i (|f̂(x_i) - y_i| + e_i) <= tol, i.e. the exact-arithmetic
  network provably fits every label within tol;
* ``measured``: the float residual is <= tol but the rigorous bound is not;
* ``failed``: the float residual exceeds tol.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from capacity import exact as _exact
from capacity.data import Dataset
from capacity.errors import CapacityError, ShapeError
from capacity.networks import (ExactMLPNet, MLPNet, Network, ResidualNet, mlp_forward_bounded, unit_roundoff,
                               weight_range)

DEFAULT_TOL = 1e-6
LEVELS = ("certified-exact", "certified-bound", "measured", "failed")
ExactResult = _exact.ExactResult


def _summaries(out, bound, margin, rel, y, u):
    res = jnp.abs(out - y)
    cert = (res * (1.0 + u) + bound) * (1.0 + 2.0 * u)
    return jnp.max(res), jnp.max(cert), jnp.max(bound), jnp.min(margin), jnp.min(rel)


@functools.partial(jax.jit, static_argnames=("activation", "chunk"))
def verify_many(kernels, biases, xs, ys, activation: str = "relu", chunk: int = 4096):
    """Check many same-shape MLPs on many same-shape datasets in one call.

    Args:
      kernels, biases: sequences of stacked arrays, leading axis = network (B, in, out).
      xs: (B, N, dx); ys: (B, N, dy) targets.

    Returns:
      dict of (B,) arrays: max_residual, certified_residual (residual + rigorous
      bound), max_bound, kink_margin, rel_kink_margin.
    """
    u = unit_roundoff(xs.dtype)

    def one(k, b, x, y):
        return _summaries(*mlp_forward_bounded(k, b, x, activation, chunk), y, u)

    r = jax.vmap(one)(list(kernels), list(biases), xs, ys)
    names = ("max_residual", "certified_residual", "max_bound", "kink_margin", "rel_kink_margin")
    return dict(zip(names, r))


@dataclasses.dataclass
class Report:
    """What a verification found.  ``level`` is one of :data:`LEVELS`."""

    n: int
    widths: tuple
    activation: str
    dtype: str
    tol: float
    max_residual: float
    certified_residual: float  # max_i |f̂ - y| + rigorous forward bound
    max_bound: float
    kink_margin: float
    rel_kink_margin: float
    max_abs_weight: float
    min_abs_weight: float
    level: str
    seconds: float
    accuracy: float | None = None  # classification: fraction with argmax = class
    exact_residual: str | None = None  # from the exact tier, as a decimal string
    notes: list = dataclasses.field(default_factory=list)
    exact: "ExactResult | None" = None  # the exact result folded in by :func:`combine`, if any
    float_level: str = "n/a"  # the level of the float pass alone (``level`` may be raised or lowered by exact work)
    float_seconds: float = 0.0  # wall time of the float pass alone

    @property
    def passed(self) -> bool:
        return self.level != "failed"

    @property
    def dynamic_range(self) -> float:
        return self.max_abs_weight / self.min_abs_weight if self.min_abs_weight > 0 else math.inf

    def widths_text(self) -> str:
        w = self.widths
        if len(w) <= 10:
            return "-".join(map(str, w))
        return f"{w[0]}-...-{w[-1]} (depth {len(w) - 1}, max hidden width {max(w[1:-1])})"

    def lines(self) -> list[str]:
        if self.dtype == "exact":  # no float evaluation exists (weights beyond float64)
            out = [f"points N            {self.n}",
                   f"widths              {self.widths_text()} ({self.activation}, exact integers/rationals)",
                   f"exact residual      {self.exact_residual}  (exact arithmetic; decimal rounded up)",
                   f"certification       {self.level}  (tol {self.tol:.1e})"]
            return out + [f"note: {n}" for n in self.notes]
        out = [
            f"points N            {self.n}",
            f"widths              {self.widths_text()} ({self.activation}, {self.dtype})",
            f"max residual        {self.max_residual:.3e}  (float64 forward pass)",
            f"rigorous bound      {self.certified_residual:.3e}  (residual + a-priori rounding bound {self.max_bound:.2e})",
            f"kink margin         {self.kink_margin:.3e}  (smallest |pre-activation - kink|; relative to the "
            f"rounding scale |h||W|+|b|, conservatively: {self.rel_kink_margin:.2e})",
            f"max|W|              {self.max_abs_weight:.3e}  (dynamic range max|W|/min|W| = {self.dynamic_range:.2e})",
        ]
        if self.accuracy is not None:
            out.append(f"argmax accuracy     {self.accuracy:.6f}")
        if self.exact_residual is not None:
            out.append(f"exact residual      {self.exact_residual}  (exact arithmetic; decimal rounded up)")
        out.append(f"certification       {self.level}  (tol {self.tol:.1e})")
        out.append(f"time                {self.seconds:.2f} s")
        out.extend(f"note: {n}" for n in self.notes)
        return out

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["passed"] = self.passed
        d["dynamic_range"] = self.dynamic_range
        return d


TARGET_ENCODINGS = ("one-hot", "class-index")


def targets(ds: Dataset, out_dim: int, encoding: str = "one-hot") -> np.ndarray:
    """Float targets: the labels; for classification the one-hot vectors, or with
    ``encoding="class-index"`` (a network's ``meta["targets"]``; Vardi et al.'s memorizer outputs
    the label in [C]) the class index as one real output."""
    if encoding not in TARGET_ENCODINGS:
        raise ShapeError(f"unknown target encoding {encoding!r}; known: {', '.join(TARGET_ENCODINGS)}")
    if ds.is_classification:
        if encoding == "class-index":
            if out_dim != 1:
                raise ShapeError(f"class-index targets need a network with one output; this one has {out_dim}")
            return ds.y.astype(np.float64)[:, None]
        if int(ds.y.max()) >= out_dim:
            raise ShapeError(f"labels go up to class {int(ds.y.max())} but the network has only {out_dim} outputs")
        return np.eye(out_dim)[ds.y]
    return ds.y_original


def level_of(max_residual: float, certified_residual: float, tol: float) -> str:
    """The certification level a float check supports (never ``certified-exact``)."""
    if not np.isfinite(max_residual) or max_residual > tol:
        return "failed"
    if certified_residual <= tol:
        return "certified-bound"
    return "measured"


def certified_argmax(out: np.ndarray, bound: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean (N,): the exact-arithmetic network's argmax is provably ``labels[i]``.

    Needs out[y] - bound[y] > out[j] + bound[j] for all j != y; the comparison itself
    is made with a relative slack of 4u so rounding in it cannot flip the answer.
    """
    out = np.asarray(out, np.float64)
    bound = np.asarray(bound, np.float64)
    n = out.shape[0]
    if out.shape[1] < 2:
        return np.ones(n, dtype=bool)
    rows = np.arange(n)
    lo = out[rows, labels] - bound[rows, labels]
    hi = out + bound
    hi[rows, labels] = -np.inf
    best_other = np.max(hi, axis=1)
    slack = 4.0 * unit_roundoff(np.float64) * (np.abs(out[rows, labels]) + np.max(np.abs(out) + bound, axis=1))
    return lo - best_other > slack


def _check_shapes(net: Network, ds: Dataset) -> np.ndarray:
    if net.widths[0] != ds.dx:
        raise ShapeError(f"the network takes inputs of dimension {net.widths[0]} but the data have dx = {ds.dx}")
    encoding = net.meta.get("targets", "one-hot") if isinstance(net.meta, dict) else "one-hot"
    y = targets(ds, net.widths[-1], encoding)
    if y.shape[1] != net.widths[-1]:
        raise ShapeError(f"the network has {net.widths[-1]} outputs but the labels have dy = {y.shape[1]}")
    return y


def _exact_only_report(net: ExactMLPNet, ds: Dataset, tol: float) -> Report:
    rep = Report(n=ds.n, widths=net.widths, activation=net.activation, dtype="exact", tol=tol,
                 max_residual=math.nan, certified_residual=math.nan, max_bound=math.nan, kink_margin=math.nan,
                 rel_kink_margin=math.nan, max_abs_weight=math.nan, min_abs_weight=math.nan, level="failed",
                 seconds=0.0)
    rep.notes.append("weights exceed float64: no float check; the level comes from exact arithmetic alone")
    bits = net.meta.get("record", {}).get("max_weight_bits")
    if bits:
        rep.notes.append(f"largest weight needs {bits} bits")
    return combine(rep, certify(net, ds, tol=tol))


def verify(net: Network, ds: Dataset, *, tol: float = DEFAULT_TOL, chunk: int = 4096) -> Report:
    """Verify that ``net`` (any kind) interpolates ``ds``: float64 pass, rigorous bound, margins.

    For an :class:`ExactMLPNet` (weights beyond float64) there is no float pass: the level comes
    from :func:`certify` alone.  Classification data are compared with one-hot targets, and the
    report adds the argmax accuracy and at how many points the bound certifies the argmax.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise CapacityError(f"tol must be a finite positive number; got {tol!r}")
    if chunk < 1:
        raise CapacityError(f"chunk must be >= 1; got {chunk}")
    y = _check_shapes(net, ds)
    if isinstance(net, ExactMLPNet):
        return _exact_only_report(net, ds, tol)
    t0 = time.perf_counter()
    out, bound, margin, rel = net.forward_bounded(jnp.asarray(ds.x, jnp.float64), chunk)
    u = unit_roundoff(np.float64)
    mr, cr, mb, km, rk = (float(v) for v in _summaries(out, bound, margin, rel, jnp.asarray(y), u))
    seconds = time.perf_counter() - t0
    notes = []
    acc = None
    if isinstance(net, ResidualNet):
        dx, d, nb, k, dy = net.params.dims
        notes.append(f"residual network: stream width D = {d}, {nb} blocks x {k} ReLUs = {nb * k} hidden ReLUs, "
                     f"linear read-out to {dy} outputs")
        if net.meta.get("record", {}).get("block") == "tent":
            notes.append("tent blocks: each chunk point sits at the middle kink of its own tent by design, so the "
                         "kink margin is ~0 (the bound does not need it); block='trapezoid' gives positive margins")
    if ds.is_classification:
        out_np, bound_np = np.asarray(out), np.asarray(bound)
        acc = float(np.mean(np.argmax(out_np, axis=1) == ds.y))
        if isinstance(net, ResidualNet):
            ok = certified_argmax(out_np, bound_np, ds.y)
            notes.append(f"argmax certified by the rigorous bound at {int(ok.sum())}/{ds.n} points"
                         + ("" if ok.all() else f" (first uncertified: {np.flatnonzero(~ok)[:5].tolist()})"))
    wmax, wmin = weight_range(*net.weight_arrays())
    level = level_of(mr, cr, tol)
    if level == "measured":
        notes.append(f"the a-priori rounding bound ({mb:.1e}) exceeds tol: the float residual is measured, not "
                     "certified; --certify evaluates the stored weights exactly")
    return Report(n=ds.n, widths=tuple(int(w) for w in net.widths), activation=net.activation, dtype="float64",
                  tol=tol, max_residual=mr, certified_residual=cr, max_bound=mb, kink_margin=km,
                  rel_kink_margin=rk, max_abs_weight=wmax, min_abs_weight=wmin, level=level, seconds=seconds,
                  accuracy=acc, notes=notes, float_level=level, float_seconds=seconds)


def certify(net: Network, ds: Dataset, *, tol: float = DEFAULT_TOL, float_filter: bool = False,
            progress=None) -> ExactResult:
    """Evaluate the network exactly (any kind) at every data point: the one exact entry point.

    ``tol`` reaches every path: ``certified-exact`` when every output equals its target exactly,
    ``certified-bound`` when the exact residual is <= tol, ``failed`` otherwise.  What is certified
    is ``net`` itself, i.e. exactly the weights that are (or will be) saved.

    ``float_filter``: first certify points by the rigorous a-posteriori float bound of
    :mod:`capacity.exact` (no exact work for them; the level is then at most ``certified-bound``,
    and the residual reported for them is a bound); the default evaluates every point exactly.
    ``progress``: a callable ``(done, total)`` or True for a tqdm bar on stderr.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise CapacityError(f"tol must be a finite non-negative number; got {tol!r}")
    y = _check_shapes(net, ds)
    if isinstance(net, ResidualNet):
        return _exact.certify_residual(net.exact_params(), ds.x, y, tol=tol, float_filter=float_filter,
                                       progress=progress)
    if isinstance(net, (MLPNet, ExactMLPNet)):
        k, b = net.exact_params()
        return _exact.certify_mlp(k, b, ds.x, y, activation=net.activation, tol=tol, float_filter=float_filter,
                                  progress=progress)
    raise CapacityError(f"no exact evaluation for networks of kind {getattr(net, 'kind', type(net).__name__)!r}")


def combine(report: Report, exact: ExactResult | None, *, subject: str = "the stored weights") -> Report:
    """The one place a level is decided: fold an exact result into a float report (in place).

    * exact residual 0 -> ``certified-exact``; exact residual <= tol -> ``certified-bound``
      (exact arithmetic is a rigorous bound even when the float pass failed or measured);
    * an exact result that fails -> ``failed``, whatever the float pass said;
    * without an exact result the float level stands (at most ``certified-bound``).
    ``subject`` names what the exact result is about and goes into the notes.
    """
    if exact is None:
        return report
    report.exact_residual = exact.exact_residual
    report.level = exact.level
    report.notes = [n for n in report.notes if not n.startswith("the a-priori rounding bound")]  # superseded
    tiers = ", ".join(f"{k} {v}" for k, v in (exact.tiers or {}).items() if v)
    mem = f", peak RSS {exact.peak_rss_bytes / 2**30:.2f} GiB" if getattr(exact, "peak_rss_bytes", None) else ""
    report.notes.append(f"exact evaluation of {subject}: {exact.level}, residual {exact.exact_residual} "
                        f"({exact.seconds:.2f} s{mem}; {exact.method or exact.backend}"
                        f"{'; points certified by tier: ' + tiers if tiers else ''})")
    report.notes.extend(exact.notes)
    if report.dtype == "exact":
        report.max_residual = report.certified_residual = exact.exact_residual_float
        report.seconds = exact.seconds
    elif exact.level != "failed" and not (report.max_residual <= report.tol):
        report.notes.append(f"the float64 evaluation misses tol (max residual {report.max_residual:.2e}); the "
                            "exact-arithmetic network fits, float64 evaluation of it does not")
    report.exact = exact
    return report
