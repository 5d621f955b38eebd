"""Batched float64 verification with a rigorous a-priori rounding bound.

For a network f (see :mod:`capacity.networks`) and data (x_i, y_i) this computes, in
one jit-compiled, chunked pass over the N points (memory stays bounded):

* the float64 outputs f̂(x_i) and the max residual  max_i |f̂(x_i) - y_i|;
* a **rigorous** bound e_i >= |f̂(x_i) - f(x_i)|, where f is the same stored weights
  evaluated in exact real arithmetic.  Layer by layer, with n the fan-in and
  γ_k = k·u/(1 - k·u) (u = 2^-53 for float64),

      |ẑ - z| <= e_prev·|W| + γ_{n+1}·(|ĥ|·|W| + |b|)

  (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1: valid for any
  summation order, with or without FMA), and ReLU / hard-tanh are 1-Lipschitz so the
  bound passes through the activation unchanged.  The bound itself is computed in
  floating point from non-negative terms and inflated by (1 + 2γ_{n+3}) plus an
  absolute underflow guard, which makes it an upper bound.  Assumptions: IEEE-754
  binary64 round-to-nearest, no fast-math, matmuls at ``precision="highest"``.
* the kink margin: min over data and hidden units of the distance of a
  pre-activation from the activation's kink(s) (0 for ReLU, ±1 for hard-tanh), both
  absolute and relative to (|ĥ||W| + |b|) (the scale at which rounding acts);
* the weight dynamic range: max |w| and min non-zero |w| over all layers.

Certification levels (never more than is shown):

* ``certified-exact``: exact rational arithmetic shows f(x_i) = y_i (see
  :mod:`capacity.certify`);
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
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from capacity.data import Dataset
from capacity.errors import ShapeError
from capacity.networks import NetFile, activation_fn, add_bias

HIGHEST = jax.lax.Precision.HIGHEST
DEFAULT_TOL = 1e-6
LEVELS = ("certified-exact", "certified-bound", "measured", "failed")


def unit_roundoff(dtype) -> float:
    """u = 2^-p for a binary floating type with p-bit significand."""
    return float(np.finfo(dtype).eps) / 2.0


def gamma(k: int, u: float) -> float:
    """γ_k = k u / (1 - k u) (Higham's constant)."""
    if k * u >= 1:
        return math.inf
    return k * u / (1.0 - k * u)


def _layer_pass(kernels, biases, x, activation: str, u: float):
    """Forward pass of a chunk with rigorous error bounds and kink margins.

    Returns (out, bound, margin, rel_margin): out/bound (m, dy); margin/rel_margin (m,)
    minimised over all hidden units of all layers.
    """
    act = activation_fn(activation)
    dtype = x.dtype
    tiny = jnp.asarray(np.finfo(np.dtype(dtype)).tiny, dtype)
    h = x
    e = jnp.zeros_like(x)
    margin = jnp.full(x.shape[:1], jnp.inf, dtype)
    rel = jnp.full(x.shape[:1], jnp.inf, dtype)
    n_layers = len(kernels)
    for i, (w, b) in enumerate(zip(kernels, biases)):
        n = w.shape[0]
        aw = jnp.abs(w)
        z = add_bias(jnp.matmul(h, w, precision=HIGHEST), b)
        scale = add_bias(jnp.matmul(jnp.abs(h), aw, precision=HIGHEST), jnp.abs(b))
        prop = jnp.matmul(e, aw, precision=HIGHEST)
        g = gamma(n + 1, u)
        infl = 1.0 + 2.0 * gamma(n + 3, u)
        e = (prop + g * scale) * infl + (n + 2) * tiny
        if i < n_layers - 1:
            if activation == "relu":
                dist = jnp.abs(z)
            else:
                dist = jnp.minimum(jnp.abs(z - 1.0), jnp.abs(z + 1.0))
            margin = jnp.minimum(margin, jnp.min(dist, axis=-1))
            rel = jnp.minimum(rel, jnp.min(dist / jnp.maximum(scale, tiny), axis=-1))
            h = act(z)
        else:
            h = z
    return h, e, margin, rel


@functools.partial(jax.jit, static_argnames=("activation", "chunk"))
def forward_checked(kernels, biases, x, activation: str = "relu", chunk: int = 4096):
    """Chunked, jit-compiled forward pass with bounds (see module docstring).

    Args:
      kernels, biases: sequences of (in, out) / (out,) arrays.
      x: (N, dx) inputs.
      chunk: rows per step; memory is O(chunk x max width).

    Returns:
      out (N, dy), bound (N, dy), margin (N,), rel_margin (N,).
    """
    u = unit_roundoff(x.dtype)
    return map_chunks(lambda xc: _layer_pass(kernels, biases, xc, activation, u), x, chunk)


def map_chunks(f, x, chunk: int):
    """Apply ``f`` to row-chunks of ``x`` with ``lax.map`` (bounded memory) and stitch the results.

    The last chunk is padded with copies of row 0, whose results are dropped.  ``f`` returns a
    tuple of arrays with a leading axis of chunk length.
    """
    n = x.shape[0]
    chunk = max(1, min(chunk, n))
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])], axis=0) if pad else x
    xs = xp.reshape((n_chunks, chunk) + x.shape[1:])
    res = jax.lax.map(f, xs)
    return tuple(a.reshape((n_chunks * chunk,) + a.shape[2:])[:n] for a in res)


def _summaries(out, bound, margin, rel, y, u):
    res = jnp.abs(out - y)
    cert = (res * (1.0 + u) + bound) * (1.0 + 2.0 * u)
    return jnp.max(res), jnp.max(cert), jnp.max(bound), jnp.min(margin), jnp.min(rel)


@functools.partial(jax.jit, static_argnames=("activation", "chunk"))
def verify_many(kernels, biases, xs, ys, activation: str = "relu", chunk: int = 4096):
    """Check many same-shape networks on many same-shape datasets in one call.

    Args:
      kernels, biases: sequences of stacked arrays, leading axis = network (B, in, out).
      xs: (B, N, dx); ys: (B, N, dy) targets.

    Returns:
      dict of (B,) arrays: max_residual, certified_residual (residual + rigorous
      bound), max_bound, kink_margin, rel_kink_margin.
    """
    u = unit_roundoff(xs.dtype)

    def one(k, b, x, y):
        return _summaries(*forward_checked(k, b, x, activation, chunk), y, u)

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
                   f"exact residual      {self.exact_residual}  (rational arithmetic)",
                   f"certification       {self.level}  (tol {self.tol:.1e})"]
            return out + [f"note: {n}" for n in self.notes]
        out = [
            f"points N            {self.n}",
            f"widths              {self.widths_text()} ({self.activation}, {self.dtype})",
            f"max residual        {self.max_residual:.3e}  (float64 forward pass)",
            f"rigorous bound      {self.certified_residual:.3e}  (residual + a-priori rounding bound {self.max_bound:.2e})",
            f"kink margin         {self.kink_margin:.3e}  (relative {self.rel_kink_margin:.2e})",
            f"max|W|              {self.max_abs_weight:.3e}  (dynamic range {self.dynamic_range:.2e})",
        ]
        if self.accuracy is not None:
            out.append(f"argmax accuracy     {self.accuracy:.6f}")
        if self.exact_residual is not None:
            out.append(f"exact residual      {self.exact_residual}  (rational arithmetic)")
        out.append(f"certification       {self.level}  (tol {self.tol:.1e})")
        out.append(f"time                {self.seconds:.2f} s")
        out.extend(f"note: {n}" for n in self.notes)
        return out

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["passed"] = self.passed
        d["dynamic_range"] = self.dynamic_range
        return d


def targets(ds: Dataset, out_dim: int) -> np.ndarray:
    """Float targets: the labels, or the one-hot vectors for classification."""
    if ds.is_classification:
        if int(ds.y.max()) >= out_dim:
            raise ShapeError(f"labels go up to class {int(ds.y.max())} but the network has only {out_dim} outputs")
        return np.eye(out_dim)[ds.y]
    return ds.y_original


def weight_range(kernels: Sequence, biases: Sequence) -> tuple[float, float]:
    """(max |w|, min |w| over the weights above float64 resolution) over all kernels and biases.

    Weights with |w| <= eps * max|w| (eps = 2^-52) are below the resolution of the largest
    weight and are left out of the minimum; the dynamic range is max/min of the rest.
    """
    allw = np.concatenate([np.abs(np.ravel(a)) for a in list(kernels) + list(biases)])
    wmax = float(allw.max()) if allw.size else 0.0
    nz = allw[allw > np.finfo(np.float64).eps * wmax]
    return wmax, float(nz.min()) if nz.size else 0.0


def level_of(max_residual: float, certified_residual: float, tol: float) -> str:
    """The certification level a float check supports (never ``certified-exact``)."""
    if not np.isfinite(max_residual) or max_residual > tol:
        return "failed"
    if certified_residual <= tol:
        return "certified-bound"
    return "measured"


def verify_network(net: NetFile, ds: Dataset, *, tol: float = DEFAULT_TOL, chunk: int = 4096) -> Report:
    """Verify that ``net`` interpolates ``ds`` (float64, rigorous bound, margins)."""
    if net.kind != "mlp":
        raise ShapeError(f"verify_network handles plain MLPs; this network is of kind {net.kind!r}")
    if net.widths[0] != ds.dx:
        raise ShapeError(f"the network takes inputs of dimension {net.widths[0]} but the data have dx = {ds.dx}")
    y = targets(ds, net.widths[-1])
    if y.shape[1] != net.widths[-1]:
        raise ShapeError(f"the network has {net.widths[-1]} outputs but the labels have dy = {y.shape[1]}")
    t0 = time.perf_counter()
    ks = [jnp.asarray(k, jnp.float64) for k in net.kernels]
    bs = [jnp.asarray(b, jnp.float64) for b in net.biases]
    x = jnp.asarray(ds.x, jnp.float64)
    out, bound, margin, rel = forward_checked(ks, bs, x, net.activation, chunk)
    u = unit_roundoff(np.float64)
    mr, cr, mb, km, rk = (float(v) for v in _summaries(out, bound, margin, rel, jnp.asarray(y), u))
    seconds = time.perf_counter() - t0
    acc = None
    if ds.is_classification:
        acc = float(np.mean(np.argmax(np.asarray(out), axis=1) == ds.y))
    wmax, wmin = weight_range(net.kernels, net.biases)
    return Report(n=ds.n, widths=tuple(int(w) for w in net.widths), activation=net.activation, dtype="float64",
                  tol=tol, max_residual=mr, certified_residual=cr, max_bound=mb, kink_margin=km,
                  rel_kink_margin=rk, max_abs_weight=wmax, min_abs_weight=wmin,
                  level=level_of(mr, cr, tol), seconds=seconds, accuracy=acc)
