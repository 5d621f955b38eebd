r"""Exact linear pieces of a ReLU (or hard-tanh) MLP restricted to a line, and impossibility certificates.

Restrict f to the line x(s) = x0 + s d, s in an interval I (default the whole real line).  Every hidden
vector is then a continuous piecewise-affine function of s.  Propagate it layer by layer: on each current
piece [t_{k-1}, t_k] the hidden vector is h(s) = A_k + s C_k, so a neuron's pre-activation is

.. math::  z(s) = (A_k W + b)_j + s (C_k W)_j,

which changes sign (ReLU) at the single root s* = -(A_k W + b)_j / (C_k W)_j when that root is strictly
inside the piece (hard-tanh: the two roots of z = -1 and z = +1).  All roots found this way are added as
breakpoints; on each new sub-piece the activation pattern is read off at an interior point and
h <- act(z) is again affine.  After the last (linear) layer the output is affine on every piece.

Two counts are reported:

* ``raw_pieces``: activation regions along the line (breakpoints = every s where some neuron in some layer
  switches, among those reachable through the earlier layers);
* ``pieces``: linear pieces of f itself, i.e. raw pieces after *merging* adjacent pieces with equal output
  slope (f is continuous, so equal slope means the same affine function).  ``kinks`` are the breakpoints
  that survive the merge.

Modes: ``exact=True`` uses rationals (python-flint ``fmpq``, falling back to :class:`fractions.Fraction`);
float weights are converted exactly, so breakpoints are exact and merging uses exact equality.  The float
mode is vectorized over a batch of same-shape networks (numpy); a root within its rounding error of an
existing breakpoint, or of another root, is treated as the same point, and two slopes are equal when they
differ by less than their rounding error.  The error model: with u = 2^-53 and gamma_k = k u / (1 - k u),
every pre-activation computed through inner dimensions summing to k satisfies
|z_computed - z| <= gamma_k (|A| |W| + |b|  +  |s| |C| |W|), propagated with the absolute values.

Piece bounds (on any line): one hidden layer, at most d1 + 1 pieces; two hidden layers, at most
2 d1 d2 + d2 + 1 (each second-layer pre-activation has <= d1 + 1 pieces, its ReLU at most 2(d1+1), and a
sum of d2 functions of <= P pieces has <= d2 (P - 1) + 1).
"""

from __future__ import annotations

import bisect
import dataclasses
from fractions import Fraction
from typing import Sequence

import numpy as np

from capacity.errors import CapacityError, ShapeError
from theory import bounds

try:  # exact rationals: python-flint when present, else the standard library
    from flint import fmpq as _fmpq

    def Q(x) -> "_fmpq":
        """Exact rational from an int, float, Fraction or fmpq."""
        if isinstance(x, _fmpq):
            return x
        f = Fraction(x)
        return _fmpq(f.numerator, f.denominator)

    RATIONAL_BACKEND = "python-flint fmpq"
except ImportError:  # pragma: no cover - exercised only without python-flint
    def Q(x) -> Fraction:
        return x if isinstance(x, Fraction) else Fraction(x)

    RATIONAL_BACKEND = "fractions.Fraction"

_U = 2.0 ** -53


def _gamma(k: int) -> float:
    return k * _U / (1 - k * _U)


@dataclasses.dataclass
class LinePieces:
    """Pieces of one network on one line.  Breakpoints are floats, or rationals when ``exact``."""

    breakpoints: list  # raw activation-region boundaries, increasing
    kinks: list  # breakpoints where the output slope changes (after merging)
    slopes: np.ndarray  # (raw_pieces, dy) output slope df/ds on each raw piece (float view)
    interval: tuple
    exact: bool
    widths: tuple

    @property
    def raw_pieces(self) -> int:
        return len(self.breakpoints) + 1

    @property
    def pieces(self) -> int:
        return len(self.kinks) + 1

    @property
    def bound(self) -> int | None:
        """The piece bound for this architecture (1 or 2 hidden layers, ReLU), else None."""
        hidden = self.widths[1:-1]
        if len(hidden) == 1:
            return bounds.two_layer_max_pieces(hidden[0])
        if len(hidden) == 2:
            return bounds.yun3_max_pieces(*hidden)
        return None

    def lines(self) -> list[str]:
        k = [float(t) for t in self.kinks]
        out = [f"network widths {'-'.join(map(str, self.widths))}, line s in {self.interval}, "
               f"{'exact rationals (' + RATIONAL_BACKEND + ')' if self.exact else 'float64'}",
               f"activation regions (raw pieces): {self.raw_pieces}  ({len(self.breakpoints)} raw breakpoints)",
               f"linear pieces after merging equal slopes: {self.pieces}  ({len(self.kinks)} kinks)"]
        if self.bound is not None:
            out.append(f"piece bound for these widths: {self.bound}  (reached {self.pieces / self.bound:.1%})")
        if k:
            gaps = np.diff(k)
            out.append(f"kinks: min {min(k):.6g}, max {max(k):.6g}"
                       + (f", smallest gap {gaps.min():.3g}" if len(k) > 1 else "")
                       + f"; first: {', '.join(f'{t:.6g}' for t in k[:6])}{' ...' if len(k) > 6 else ''}")
        return out


def _as_layers(net) -> tuple[list, list, str]:
    """(kernels, biases, activation) from an MLPNet / NNX MLP or a (kernels, biases) pair."""
    if hasattr(net, "kernels") and hasattr(net, "biases"):
        if getattr(net, "kind", "mlp") != "mlp":
            raise ShapeError(f"piece counting needs a plain MLP; this network is of kind {net.kind!r}")
        ks, bs = (net.arrays() if hasattr(net, "arrays") else (net.kernels, net.biases))
        return list(ks), list(bs), getattr(net, "activation", "relu")
    ks, bs = net
    return list(ks), list(bs), "relu"


def _levels(activation: str):
    if activation == "relu":
        return (0.0,)
    if activation == "hardtanh":
        return (-1.0, 1.0)
    raise ShapeError(f"unknown activation {activation!r}")


def _mids(new, lo, hi):
    """Interior representative of each piece of a sorted (B, K) breakpoint array (+inf padded)."""
    B, K = new.shape
    left = np.concatenate([np.full((B, 1), lo), new], axis=1)
    right = np.concatenate([new, np.full((B, 1), hi)], axis=1)
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (left + right)
        mid = np.where(np.isinf(left) & np.isfinite(right), right - np.maximum(1.0, np.abs(right)), mid)
        mid = np.where(np.isfinite(left) & np.isinf(right), left + np.maximum(1.0, np.abs(left)), mid)
        mid = np.where(np.isinf(left) & np.isinf(right), 0.0, mid)
    valid = np.ones((B, K + 1), bool)
    valid[:, 1:] = np.isfinite(new)
    return np.where(valid, mid, np.nan), valid


def pieces_batched(kernels: Sequence, biases: Sequence, origin, direction, *, interval=(-np.inf, np.inf),
                   activation: str = "relu") -> list[LinePieces]:
    """Float64 pieces of B same-shape networks along their lines, vectorized over the batch.

    Args:
      kernels: per layer an array (B, in, out); biases: per layer (B, out).
      origin, direction: (B, dx) or (dx,) (broadcast).  interval: (lo, hi), may be infinite.
    Returns one :class:`LinePieces` per network.
    """
    ks = [np.asarray(k, np.float64) for k in kernels]
    bs = [np.asarray(b, np.float64) for b in biases]
    B = ks[0].shape[0]
    lo, hi = float(interval[0]), float(interval[1])
    if not lo < hi:
        raise CapacityError(f"empty interval {interval}; give lo < hi")
    A = np.broadcast_to(np.asarray(origin, np.float64), (B, ks[0].shape[1]))[:, None, :].copy()
    C = np.broadcast_to(np.asarray(direction, np.float64), (B, ks[0].shape[1]))[:, None, :].copy()
    SA, SC = np.abs(A), np.abs(C)
    breaks = np.empty((B, 0))
    k_acc = 0
    levels = _levels(activation)
    for W, b in zip(ks[:-1], bs[:-1]):
        k_acc += W.shape[1] + 2
        g = _gamma(k_acc)
        za = np.einsum("bpi,bio->bpo", A, W) + b[:, None, :]
        zc = np.einsum("bpi,bio->bpo", C, W)
        sa = np.einsum("bpi,bio->bpo", SA, np.abs(W)) + np.abs(b)[:, None, :]
        sc = np.einsum("bpi,bio->bpo", SC, np.abs(W))
        P = A.shape[1]
        lo_p = np.concatenate([np.full((B, 1), lo), breaks], axis=1)[:, :, None]
        hi_p = np.concatenate([breaks, np.full((B, 1), hi)], axis=1)[:, :, None]
        cands, tols = [], []
        for lev in levels:
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (lev - za) / zc
                tol = 4 * g * (sa + np.abs(r) * sc + abs(lev)) / np.abs(zc)
                ok = np.isfinite(r) & (r - lo_p > tol) & (hi_p - r > tol)
            cands.append(np.where(ok, r, np.inf).reshape(B, -1))
            tols.append(np.where(ok, tol, 0.0).reshape(B, -1))
        cand, tol = np.concatenate(cands, axis=1), np.concatenate(tols, axis=1)
        order = np.argsort(cand, axis=1)
        cand, tol = np.take_along_axis(cand, order, 1), np.take_along_axis(tol, order, 1)
        if cand.shape[1] > 1:  # roots within rounding of each other are one point
            with np.errstate(invalid="ignore"):
                dup = np.diff(cand, axis=1) <= np.maximum(tol[:, 1:], tol[:, :-1])
            cand[:, 1:][dup] = np.inf
        new = np.sort(np.concatenate([breaks, cand], axis=1), axis=1)
        new = new[:, : int(np.isfinite(new).sum(axis=1).max(initial=0))]
        mid, valid = _mids(new, lo, hi)
        j = (breaks[:, None, :] < mid[:, :, None]).sum(-1)  # index of the old piece holding each new piece
        take = lambda arr: np.take_along_axis(arr, j[:, :, None], 1)  # noqa: E731
        za_j, zc_j, sa_j, sc_j = take(za), take(zc), take(sa), take(sc)
        z_mid = za_j + np.nan_to_num(mid)[:, :, None] * zc_j
        if activation == "relu":
            on = z_mid > 0
            A, C = np.where(on, za_j, 0.0), np.where(on, zc_j, 0.0)
        else:
            on = (z_mid > -1) & (z_mid < 1)
            A, C = np.where(on, za_j, np.sign(z_mid)), np.where(on, zc_j, 0.0)
        SA, SC = np.where(on, sa_j, 0.0), np.where(on, sc_j, 0.0)
        A, C = A * valid[:, :, None], C * valid[:, :, None]
        breaks = new
    W, b = ks[-1], bs[-1]
    slope = np.einsum("bpi,bio->bpo", C, W)
    sslope = np.einsum("bpi,bio->bpo", SC, np.abs(W))
    g = _gamma(k_acc + W.shape[1] + 2)
    widths = (ks[0].shape[1],) + tuple(k.shape[2] for k in ks)
    out = []
    for i in range(B):
        nb = int(np.isfinite(breaks[i]).sum())
        br = breaks[i, :nb]
        s, ss = slope[i, : nb + 1], sslope[i, : nb + 1]
        differs = np.any(np.abs(np.diff(s, axis=0)) > 4 * g * (ss[1:] + ss[:-1]), axis=1)
        out.append(LinePieces(list(br), list(br[differs]), s, (lo, hi), False, widths))
    return out


def _affine_rows(rows, W, b):
    """rows (list of lists of rationals) @ W (list of lists) + b (list or None)."""
    n_out = len(W[0])
    res = []
    for r in rows:
        acc = [Q(0) if b is None else b[o] for o in range(n_out)]
        for i, ri in enumerate(r):
            if ri != 0:
                wi = W[i]
                for o in range(n_out):
                    acc[o] = acc[o] + ri * wi[o]
        res.append(acc)
    return res


def pieces_exact(kernels: Sequence, biases: Sequence, origin, direction, *, interval=(None, None),
                 activation: str = "relu") -> LinePieces:
    """Exact-rational pieces of one network along x0 + s d (s in interval; None = unbounded)."""
    lo, hi = (None if t is None or np.isinf(t) else Q(t) for t in interval)
    Wq = [[[Q(float(v)) for v in row] for row in np.asarray(k, np.float64)] for k in kernels]
    bq = [[Q(float(v)) for v in np.asarray(b, np.float64)] for b in biases]
    A = [[Q(v) for v in np.atleast_1d(origin)]] if not isinstance(origin, list) else [[Q(v) for v in origin]]
    C = [[Q(v) for v in np.atleast_1d(direction)]] if not isinstance(direction, list) else [[Q(v) for v in direction]]
    levels = [Q(v) for v in _levels(activation)]
    one = Q(1)
    breaks: list = []
    for W, b in zip(Wq[:-1], bq[:-1]):
        za, zc = _affine_rows(A, W, b), _affine_rows(C, W, None)
        new = set(breaks)
        for p in range(len(za)):
            lp = lo if p == 0 else breaks[p - 1]
            hp = hi if p == len(breaks) else breaks[p]
            for a, c in zip(za[p], zc[p]):
                if c != 0:
                    for lev in levels:
                        r = (lev - a) / c
                        if (lp is None or r > lp) and (hp is None or r < hp):
                            new.add(r)
        new = sorted(new)
        A, C = [], []
        for k in range(len(new) + 1):
            left = lo if k == 0 else new[k - 1]
            right = hi if k == len(new) else new[k]
            if left is None and right is None:
                mid = Q(0)
            elif left is None:
                mid = right - one
            elif right is None:
                mid = left + one
            else:
                mid = (left + right) / 2
            j = bisect.bisect_left(breaks, mid)
            ra, rc = [], []
            for a, c in zip(za[j], zc[j]):
                z = a + mid * c
                if activation == "relu":
                    ra.append(a if z > 0 else Q(0)), rc.append(c if z > 0 else Q(0))
                else:
                    inside = -one < z < one
                    ra.append(a if inside else (one if z >= one else -one)), rc.append(c if inside else Q(0))
            A.append(ra), C.append(rc)
        breaks = new
    slopes = _affine_rows(C, Wq[-1], None)
    kinks = [breaks[k] for k in range(len(breaks)) if slopes[k] != slopes[k + 1]]
    widths = (len(Wq[0]),) + tuple(len(W[0]) for W in Wq)
    sl = np.array([[float(v) for v in row] for row in slopes])
    return LinePieces(breaks, kinks, sl, (interval[0], interval[1]), True, widths)


def count_pieces(net, origin=None, direction=None, *, interval=(-np.inf, np.inf), exact: bool = False) -> LinePieces:
    """Pieces of one network (MLPNet, NNX MLP, or (kernels, biases)) along x0 + s d.

    Defaults: origin 0, direction e_1.
    """
    ks, bs, act = _as_layers(net)
    dx = np.shape(ks[0])[0]
    origin = np.zeros(dx) if origin is None else np.asarray(origin, np.float64)
    direction = np.eye(dx)[0] if direction is None else np.asarray(direction, np.float64)
    if origin.shape != (dx,) or direction.shape != (dx,):
        raise ShapeError(f"origin and direction must have the input dimension {dx}; got {origin.shape}, {direction.shape}")
    if not np.any(direction):
        raise CapacityError("direction must be nonzero")
    if exact:
        return pieces_exact(ks, bs, origin, direction, interval=interval, activation=act)
    return pieces_batched([np.asarray(k)[None] for k in ks], [np.asarray(b)[None] for b in bs], origin, direction,
                          interval=interval, activation=act)[0]


# ------------------------------------------------------------------ impossibility certificate


@dataclasses.dataclass
class Certificate:
    applies: bool
    d1: int
    d2: int | None
    n: int
    lines: list


def impossibility_certificate(d1: int, d2: int | None, n: int) -> Certificate:
    """Certificate that the alternating dataset x_i = i, y_i = (-1)^i (i = 1..N) is not fittable.

    Applies when 2 d1 d2 + d2 + 2 < N (two hidden layers) or d1 + 2 < N (``d2=None``, one hidden layer).
    The argument also shows every such network has max_i |f(x_i) - y_i| >= 1.
    """
    if d1 < 1 or (d2 is not None and d2 < 1) or n < 2:
        raise CapacityError(f"need d1, d2 >= 1 and N >= 2; got d1={d1}, d2={d2}, N={n}")
    if d2 is None:
        bound, arch = bounds.two_layer_max_pieces(d1), f"one hidden ReLU layer of width d1={d1}"
        why = f"each of the d1 hidden ReLUs of t -> relu(w t + b) has at most one kink, so at most d1 + 1 = {bound} pieces"
    else:
        bound, arch = bounds.yun3_max_pieces(d1, d2), f"two hidden ReLU layers of widths d1={d1}, d2={d2}"
        why = (f"each second-layer pre-activation is a sum of d1 one-kink functions: <= d1 + 1 = {d1 + 1} pieces; "
               f"after its ReLU <= 2(d1 + 1) = {2 * (d1 + 1)} pieces; the output sums d2 such functions: "
               f"<= d2 (2(d1+1) - 1) + 1 = 2 d1 d2 + d2 + 1 = {bound} pieces")
    need = n - 1
    L = [f"Claim (certified only if step 6 says so): no ReLU network with {arch} and scalar output fits x_i = i, y_i = (-1)^i, i = 1..{n}.",
         "1. Restricted to any line, such a network is a continuous piecewise-linear function f of one variable "
         "(a line in R^dx composed with the first layer is again a first layer, so dx = 1 loses nothing).",
         f"2. Piece bound: {why}.",
         f"3. Secant slopes (y_(i+1) - y_i)/(x_(i+1) - x_i) = 2(-1)^(i+1) alternate in sign on the {n - 1} gaps.",
         "4. If f fits, then on each gap (i, i+1) f has a piece whose slope has the sign of that secant (f(i+1) - f(i) "
         "is the integral of f'); pick one point s_i per gap.  The s_i are increasing with alternating slope signs, so "
         "no piece (an interval) contains two of them: f has at least N - 1 = "
         f"{need} pieces.",
         "5. The same holds if only |f(x_i) - y_i| < 1 for all i (the signs of f(x_i) still alternate), so every "
         "such network has max_i |f(x_i) - y_i| >= 1 (f = 0 attains 1)."]
    applies = bound < need
    if applies:
        L.append(f"6. {bound} < {need}: contradiction.  CERTIFIED: not fittable "
                 f"({'d1 + 2' if d2 is None else '2 d1 d2 + d2 + 2'} = {bound + 1} < N = {n}).")
    else:
        L.append(f"6. {bound} >= {need}: the piece bound does not exclude the fit; the certificate does NOT apply "
                 f"({'d1 + 2' if d2 is None else '2 d1 d2 + d2 + 2'} = {bound + 1} >= N = {n}).  The alternating data "
                 "may or may not be fittable by these widths.")
        if d2 is not None and bounds.yun3_capacity(d1, d2) >= n:
            L.append(f"   (It is fittable: 4*floor(d1/4)*floor(d2/4) = {bounds.yun3_capacity(d1, d2)} >= N, so the "
                     "yun3 construction fits any N distinct points.)")
        elif d2 is None and d1 >= n:
            L.append(f"   (It is fittable: one hidden layer of width d1 >= N fits any N points, Zhang et al. 2017.)")
    return Certificate(applies, d1, d2, n, L)
