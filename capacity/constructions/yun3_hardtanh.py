r"""Hard-tanh variant of the 3-layer memorizer (Yun, Sra & Jadbabaie 2019).

Theorem (hard-tanh, formula UNCONFIRMED).  With both hidden layers hard-tanh,
phi(t) = max(-1, min(1, t)), widths d1, d2 memorize any N distinct points with labels in
[-1, 1]^dy when

.. math::  4 \lfloor d_1/2 \rfloor \lfloor d_2/(2 d_y) \rfloor \ge N.

Provenance: that a hard-tanh version exists is confirmed by a secondary source [S2]; the
formula above is UNCONFIRMED (it is the ReLU count with one hard-tanh unit standing for
two ReLUs, and our construction achieves it).  The weights are our RECONSTRUCTION.

Construction (same projection, groups and nested pairs as :mod:`capacity.constructions.yun3`):

* layer 1: two hard-tanh ramps per group, A = d1 // 2 groups: ramp 1 rises from -1 to 1
  over [l_j, c_j] (covering F_j), ramp 2 over [c'_j, r_j] (covering S_j);
* layer 2: 2B hard-tanh neurons per output (B = d2 // (2 dy)), neuron n owning the nested
  pair (F_j[n], S_j[2B-1-n]) in every group, sigma_n = (-1)^n;
* output: f = sum_n phi(z_n) - 1.

Because a hard-tanh ramp is flat outside its interval, z_n is constant between groups: the
value leaving group j is the value entering group j+1 (a *chain*), unlike the ReLU
construction, whose free between-group segments remove it.  Per neuron, the entry value
o_{j+1} = a_j o_j + b_j is an increasing affine function of o_j, every constraint of group j
is an upper bound o_j <= U_j, so the smallest-magnitude feasible start o_0 is found exactly
by transporting each bound back through the affine maps.  The depth |o_j| (hence the
weights) grows like a product over groups of per-group ratios: measure it (record
``max_depth``) before trusting float64 at large N; the exact tier is unaffected.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from capacity.constructions._block1d import QUARTER, check_block_widths
from capacity.constructions._numbers import const as _const, to_exact, wmax as _wmax
from capacity.constructions._projection import sorted_problem
from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError
from capacity.networks import ExactMLPNet, MLPNet


def hardtanh_layers(T, Y, A: int, B: int, left_pos, right_pos, mu: float = 1.0):
    """Layer arrays (in t-coordinates) of the hard-tanh chain on full (padded) positions T.

    Args:
      T: (4AB,) strictly increasing positions (float64 or exact object array); Y: (4AB, dy).
      left_pos, right_pos: positions just outside the data (kinks stay strictly inside).

    Returns:
      (a1, c1, w2, b2, max_depth): layer-1 pre-activation a1 * t + c1 (2A,), layer-2 kernel
      (2A, 2B*dy) and bias (2B*dy,), and the largest |entry value| of any neuron.
    """
    exact = T.dtype == object
    one, zero, mu_, qf = (_const(v, T) for v in (1.0, 0.0, mu, QUARTER))
    G, H = 4 * B, 2 * B
    dy = Y.shape[1]
    first, last = T[0::G], T[G - 1::G]
    prev = np.concatenate([np.array([left_pos], dtype=T.dtype), last[:-1]])
    nxt = np.concatenate([first[1:], np.array([right_pos], dtype=T.dtype)])
    f_last, s_first = T[H - 1::G], T[H::G]
    l = first - (first - prev) * qf
    r = last + (nxt - last) * qf
    c = f_last + (s_first - f_last) * qf
    c2 = s_first - (s_first - f_last) * qf
    n_idx = np.arange(H)[None, :]
    base = (np.arange(A) * G)[:, None]
    p, q = base + n_idx, base + G - 1 - n_idx
    tp, tq = T[p], T[q]
    has_l = np.broadcast_to(n_idx >= 1, p.shape)
    has_r = np.broadcast_to(n_idx <= H - 2, p.shape)
    gpl = np.where(has_l, tp - T[np.maximum(p - 1, 0)], one)
    gpr = np.where(has_r, T[np.minimum(p + 1, T.size - 1)] - tp, one)
    gql = np.where(has_r, tq - T[np.maximum(q - 1, 0)], one)
    gqr = np.where(has_l, T[np.minimum(q + 1, T.size - 1)] - tq, one)
    Pd, Cp, Cq, Rd = tp - l[:, None], c[:, None] - tp, tq - c2[:, None], r[:, None] - tq
    sigma = np.where(np.arange(H) % 2 == 0, 1.0, -1.0)
    sig_ = to_exact(sigma) if exact else sigma
    a1 = np.concatenate([np.stack([2 * one / (c - l), 2 * one / (r - c2)], axis=1).reshape(-1)])
    mids = np.stack([(l + c) / 2, (c2 + r) / 2], axis=1).reshape(-1)
    c1 = -a1 * mids
    w2 = np.empty((2 * A, dy * H), dtype=T.dtype)
    b2 = np.empty((dy * H,), dtype=T.dtype)
    max_depth = 0.0
    for rr in range(dy):
        yp = Y[p, rr] * sig_[None, :]
        yq = Y[q, rr] * sig_[None, :]
        m1 = _wmax(np.where(has_l, (one + mu_ + yp) / gpl, zero), np.where(has_r, (one + mu_ - yp) / gpr, zero))
        m2 = _wmax(np.where(has_r, (one + mu_ - yq) / gql, zero), np.where(has_l, (one + mu_ + yq) / gqr, zero))
        # entry value o_j <= U_j; o_{j+1} = a_j o_j + b_j (increasing affine)
        U = np.minimum(yp - m1 * Pd, yp - (yq + m2 * Cq - yp) * Pd / Cp) if not exact else \
            np.where(yp - m1 * Pd < yp - (yq + m2 * Cq - yp) * Pd / Cp, yp - m1 * Pd, yp - (yq + m2 * Cq - yp) * Pd / Cp)
        am = Rd * Cp / (Cq * Pd)
        bm = yq - Rd / Cq * (yp - yq) - am * yp
        # compose: o_j = K_j o_0 + L_j
        Kc = np.empty((A + 1, H), dtype=T.dtype)
        Lc = np.empty((A + 1, H), dtype=T.dtype)
        Kc[0], Lc[0] = one, zero
        for j in range(A):
            Kc[j + 1] = am[j] * Kc[j]
            Lc[j + 1] = am[j] * Lc[j] + bm[j]
        sat = -(one + mu_)
        bounds = [(U[j] - Lc[j]) / Kc[j] for j in range(A)] + [np.full(H, sat, dtype=T.dtype),
                                                              (np.full(H, sat, dtype=T.dtype) - Lc[A]) / Kc[A]]
        o0 = bounds[0]
        for bd in bounds[1:]:
            o0 = np.where(bd < o0, bd, o0)
        o = [Kc[j] * o0 + Lc[j] for j in range(A + 1)]
        s1 = np.stack([(yp[j] - o[j]) / Pd[j] for j in range(A)])
        apex = yp + s1 * Cp
        s2 = (apex - yq) / Cq
        w_up = s1 * ((c - l) / 2)[:, None]      # weight of ramp 1 (slope s1 on F_j)
        w_dn = -s2 * ((r - c2) / 2)[:, None]    # weight of ramp 2 (slope -s2 on S_j)
        bias = o0 + np.sum(w_up, axis=0) + np.sum(w_dn, axis=0)  # ramps are -1 left of their interval
        for n in range(H):
            col = rr * H + n
            w2[0::2, col] = w_up[:, n] * sig_[n]
            w2[1::2, col] = w_dn[:, n] * sig_[n]
            b2[col] = bias[n] * sig_[n]
        if not exact:
            max_depth = max(max_depth, float(np.max(np.abs(np.stack(o)))))
    return a1, c1, w2, b2, max_depth


def build(dataset: Dataset, widths: Sequence[int], *, activation: str = "hardtanh", seed: int = 0, trials: int = 64,
          mu: float = 1.0) -> Construction:
    """Hard-tanh 3-layer memorizer: widths (d1, d2) with 4*floor(d1/2)*floor(d2/(2 dy)) >= N."""
    if dataset.is_classification:
        raise CapacityError("yun3 (hard-tanh) fits real labels; for classes use yun-classify")
    if activation != "hardtanh":
        raise CapacityError(f"this is the hard-tanh builder of yun3; got activation {activation!r}")
    n, dy = dataset.n, dataset.dy
    A, B = check_block_widths(n, widths, dy, "hardtanh")
    t0 = time.perf_counter()
    u, t, order = sorted_problem(dataset, seed, trials)
    ts = t[order]
    if n > 1 and np.min(np.diff(ts)) <= 0:
        raise CapacityError("projected inputs coincide in float64; rescale or deduplicate the inputs")
    T, Y, left_pos, right_pos = pad_positions(ts, dataset.y[order], 4 * A * B)
    a1, c1, w2, b2, depth = hardtanh_layers(T, Y, A, B, left_pos, right_pos, mu)
    k1, bb1, k2, bb2, k3, bb3 = assemble(u, a1, c1, w2, b2, int(widths[0]), int(widths[1]), dy,
                                         dataset.label_scale)
    record = {"theorem": "yun3-hardtanh", "n": n, "dx": dataset.dx, "dy": dy, "widths": [int(w) for w in widths],
              "groups_A": A, "pairs_B": B, "capacity": 4 * A * B, "seed": seed, "mu": mu,
              "projection": [float(v) for v in u], "max_depth": depth,
              "span_over_min_gap": float((ts[-1] - ts[0]) / np.min(np.diff(ts))) if n > 1 else 1.0,
              "build_seconds": time.perf_counter() - t0}
    return Construction("yun3", MLPNet([k1, k2, k3], [bb1, bb2, bb3], "hardtanh"), record)


def pad_positions(ts, ys, cap):
    """Append virtual points (label 0) at the median spacing; return (T, Y, left_pos, right_pos)."""
    m = ts.shape[0]
    tf = np.array([float(v) for v in ts]) if ts.dtype == object else ts
    gap = float(np.median(np.diff(tf))) if m > 1 else 1.0
    gap = gap if gap > 0 else 1.0
    g = _const(gap, ts)
    extra = np.array([ts[-1] + g * _const(i + 1, ts) for i in range(cap - m)], dtype=ts.dtype)
    T = np.concatenate([ts, extra]) if cap > m else ts
    zero = _const(0.0, ts)
    Y = np.concatenate([ys, np.full((cap - m, ys.shape[1]), zero, dtype=ys.dtype)]) if cap > m else ys
    return T, Y, T[0] - g, T[-1] + g


def assemble(u, a1, c1, w2, b2, d1, d2, dy, scale):
    """Full-width arrays; idle hard-tanh units get zero weights (pre-activation 0, margin 1 from ±1)."""
    exact = np.asarray(a1).dtype == object
    dt = object if exact else np.float64
    zero = _const(0.0, a1)
    K, H2 = w2.shape
    k1 = np.full((u.shape[0], d1), zero, dtype=dt)
    k1[:, :K] = np.asarray(u, dtype=dt)[:, None] * a1[None, :]
    bb1 = np.full((d1,), zero, dtype=dt)
    bb1[:K] = c1
    k2 = np.full((d1, d2), zero, dtype=dt)
    k2[:K, :H2] = w2
    bb2 = np.full((d2,), zero, dtype=dt)
    bb2[:H2] = b2
    k3 = np.full((d2, dy), zero, dtype=dt)
    H = H2 // dy
    one = _const(1.0, a1)
    for rr in range(dy):
        k3[rr * H:(rr + 1) * H, rr] = one * scale
    bb3 = np.full((dy,), -one * scale, dtype=dt)
    return k1, bb1, k2, bb2, k3, bb3


def exact_network(dataset: Dataset, widths: Sequence[int], float_build: Construction, *, mu: float = 1.0,
                  **_options) -> ExactMLPNet:
    """The hard-tanh construction carried out in exact rationals (projection from ``float_build``)."""
    n, dy = dataset.n, dataset.dy
    A, B = check_block_widths(n, widths, dy, "hardtanh")
    u = to_exact(np.asarray(float_build.record["projection"]))
    t = to_exact(dataset.x) @ u
    order = sorted(range(n), key=lambda i: t[i])
    ts = np.array([t[i] for i in order], dtype=object)
    if any(not (ts[i + 1] > ts[i]) for i in range(n - 1)):
        raise CapacityError("two inputs have the same exact projection; rebuild with another --seed")
    T, Y, left_pos, right_pos = pad_positions(ts, to_exact(dataset.y[order]), 4 * A * B)
    a1, c1, w2, b2, _ = hardtanh_layers(T, Y, A, B, left_pos, right_pos, mu)
    scale = to_exact(np.array(dataset.label_scale))[()]
    k1, bb1, k2, bb2, k3, bb3 = assemble(u, a1, c1, w2, b2, int(widths[0]), int(widths[1]), dy, scale)
    return ExactMLPNet([k1, k2, k3], [bb1, bb2, bb3], "hardtanh")


register("yun3", build, "Yun-Sra-Jadbabaie 3-layer memorizer, hard-tanh variant (formula UNCONFIRMED)",
         theorem="yun3-hardtanh", exact=exact_network, activation="hardtanh")
