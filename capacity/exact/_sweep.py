"""The rank-one fast path: a sorted sweep through both hidden layers (exact algebra, Python ints).

Applies when the stored first kernel K0 is *exactly* rank one (tested on the stored weights by
:func:`rank_one`, never taken from metadata) and the activation is ReLU.  With integers over
common denominators (see :mod:`capacity.exact._modular`): K0' = u ⊗ (K0'[d0, :] / p), u = K0'[:, j0],
p = K0'[d0, j0] != 0, and T_i = X_i · u (an exact integer per point), every first-layer
pre-activation is

    z1_j · E1 = A_j T + Bc_j,   A_j = sgn(p) K0'[d0, j],  Bc_j = |p| D_x B0'_j,  E1 = L0 |p| D_x > 0.

Unit j is active iff A_j T + Bc_j > 0; its state changes only at the kink T = -Bc_j / A_j.
Between consecutive kinks the active set is fixed, so every layer-2 pre-activation is affine in
T: Z2_c = S_c T + C_c (over E2 = E1 L1) with S_c = Σ_active A_j K1'[j, c] and
C_c = Σ_active Bc_j K1'[j, c] + E1 B1'_c, updated at each kink in O(d2).  A point exactly on a
kink gets either side's formula: the units switching there contribute A_j T + Bc_j = 0.

Within an interval a layer-2 unit is positive at both end points (active throughout), <= 0 at
both (inactive throughout: an affine function), or changes sign once; then its switching point
among the sorted T is found by an integer bisection (T > -C/S iff T > floor(-C/S) for integer
T).  For a network of exactly three layers the output F = Σ_active K2'[c] (S_c T + C_c) +
E2 B2' is then P T + Q on runs of points, so the whole network costs
O((kinks + 1) · d2 + switches + N) exact operations; the exact kink distance is read from the
interval ends (|affine| has no interior minimum without a root) and from the points next to
each root.  Deeper networks materialise h2 (exact) and continue on the general integer path.
"""

from __future__ import annotations

import bisect
import itertools
import math
from fractions import Fraction

import numpy as np

from capacity.exact._numbers import Scaled
from capacity.exact._rational import RatLayer, to_fraction


def rank_one(k_ints: np.ndarray):
    """(d0, j0) with K == outer(K[:, j0], K[d0, :]) / K[d0, j0] exactly, or None (also for K == 0)."""
    nz = np.argwhere(k_ints != 0)
    if not len(nz):
        return None
    d0, j0 = (int(v) for v in nz[0])
    p = k_ints[d0, j0]
    lhs = k_ints * p
    rhs = np.outer(k_ints[:, j0], k_ints[d0, :])
    if not bool(np.all(lhs == rhs)):
        return None
    return d0, j0


def _floor_div(a: int, b: int) -> int:
    return a // b


def sweep(kernels, biases, x, y_s: Scaled | None, layers: list, *, want_outputs=False, chunk=4096,
          tail=None, progress=None):
    """Exact evaluation by the sorted sweep.  Returns a dict with the exact residual (Fraction, when
    y_s given), the exact kink distance (Fraction), outputs (when asked, in the original order) and
    counters.  ``tail(h_ints, h_den, rows)`` evaluates layers >= 2 of a deeper network on a chunk and
    returns (residual Fraction, kink Fraction|None, outputs|None)."""
    l0, l1 = layers[0], layers[1]
    k0 = l0.k.ints()
    ro = rank_one(k0)
    assert ro is not None
    d0, j0 = ro
    p = int(k0[d0, j0])
    sp, ap = (1 if p > 0 else -1), abs(p)
    u = k0[:, j0]
    xs = Scaled.from_array(x)
    n = xs.shape[0]
    # exact T_i = X_i . u, in chunks of Python ints
    T = []
    xi_all = None
    for a in range(0, n, max(1, chunk)):
        xi = xs_chunk_ints(xs, a, min(n, a + chunk))
        T.extend(xi.dot(u).tolist() if xi.shape[1] else [0] * xi.shape[0])
    del xi_all
    order = sorted(range(n), key=T.__getitem__)
    Ts = [T[i] for i in order]
    del T
    Dx = xs.denom
    E1 = l0.L * ap * Dx
    A = [sp * int(v) for v in k0[d0, :].tolist()]
    B0 = l0.b.ints().tolist()
    Bc = [ap * Dx * int(b) for b in B0]
    d1 = len(A)
    K1l, B1l, L1 = _layer_numbers(l1)  # rows of ints over a common denominator, or canonical rationals
    d2 = len(B1l)
    E2 = E1 * L1
    # kinks grouped
    groups: dict = {}
    const_on = []
    for j in range(d1):
        if A[j] == 0:
            if Bc[j] > 0:
                const_on.append(j)
            continue
        groups.setdefault(Fraction(-Bc[j], A[j]), []).append(j)
    kinks = sorted(groups)
    # layer-1 kink distance
    kink1 = None
    if n:
        best = None
        for j in range(d1):
            if A[j] == 0:
                v = abs(Bc[j])
            else:
                kf = _floor_div(-Bc[j], A[j])
                idx = bisect.bisect_right(Ts, kf)
                v = min(abs(A[j] * Ts[i] + Bc[j]) for i in (idx - 1, idx) if 0 <= i < n)
            best = v if best is None else min(best, v)
        kink1 = None if best is None else Fraction(best, E1)
    # initial active set: A < 0 (active for T below the kink) and constant-on units
    S = [0] * d2
    C = [v * E1 for v in B1l]
    for j in [j for j in range(d1) if A[j] < 0] + const_on:
        aj, bj, row = A[j], Bc[j], K1l[j]
        S = [s_ + k * aj for s_, k in zip(S, row)]
        C = [c_ + k * bj for c_, k in zip(C, row)]
    three = len(layers) == 3
    if three:
        l2 = layers[2]
        K2l, B2l, L2 = _layer_numbers(l2)  # (d2, dy) rows
        E3 = E2 * L2
        dy = len(B2l)
        K2cols = [[K2l[c][o] for c in range(d2)] for o in range(dy)]
    Y = y_s.ints() if y_s is not None else None
    Dy = y_s.denom if y_s is not None else 1
    resid_num = 0  # max |F Dy - Y E3| (integer)
    kink2 = None  # min |Z2| (integer, over E2)
    outputs = np.empty((n, dy), dtype=object) if (want_outputs and three) else None
    n_switch = 0
    bounds = [0] + [bisect.bisect_right(Ts, _kfloor(k)) for k in kinks] + [n]
    buf_rows, buf_h = [], []
    tail_res = Fraction(0)
    tail_kink = None
    tail_out = {}

    def flush():
        nonlocal tail_res, tail_kink
        if not buf_rows:
            return
        rows = np.array(buf_rows)
        h = np.array(buf_h, dtype=object).reshape(len(buf_rows), d2)
        r, kk, outs = tail(h, E2, rows)
        tail_res = max(tail_res, r)
        if kk is not None:
            tail_kink = kk if tail_kink is None else min(tail_kink, kk)
        if outs is not None:
            for i, row in zip(rows.tolist(), outs):
                tail_out[i] = row
        buf_rows.clear()
        buf_h.clear()

    n_int = len(kinks) + 1
    for r in range(n_int):
        a, b = bounds[r], bounds[r + 1]
        if b > a:
            tlo, thi = Ts[a], Ts[b - 1]
            zlo = [s_ * tlo + c_ for s_, c_ in zip(S, C)]
            zhi = [s_ * thi + c_ for s_, c_ in zip(S, C)] if b - a > 1 else zlo
            on, sw = [], []
            m = None
            for c in range(d2):
                lo, hi = zlo[c], zhi[c]
                if lo > 0 and hi > 0:
                    on.append(c)
                    v = lo if lo < hi else hi  # |affine| without an interior root: smallest at an end
                elif lo < 0 and hi < 0:
                    v = -lo if lo > hi else -hi
                elif lo <= 0 and hi <= 0:
                    v = 0  # inactive throughout, zero at an end
                else:
                    sw.append(c)
                    continue
                if m is None or v < m:
                    m = v
            ranges = []
            for c in sw:  # one end > 0, the other <= 0: one root inside, S != 0
                sc, cc = S[c], C[c]
                idx = _first_positive_or_root(Ts, sc, cc, a, b)
                for i in (idx - 1, idx):
                    if a <= i < b:
                        v = abs(sc * Ts[i] + cc)
                        if m is None or v < m:
                            m = v
                ranges.append((c, (idx, b) if sc > 0 else (a, idx)))
            if m is not None:
                kink2 = m if kink2 is None or m < kink2 else kink2
            n_switch += len(sw)
            if three:
                tl = Ts[a:b]
                idxs = order[a:b]
                for o in range(dy):
                    kc = K2cols[o]
                    P = sum(S[c] * kc[c] for c in on)
                    Q = sum(C[c] * kc[c] for c in on) + E2 * B2l[o]
                    if ranges:  # switching units: difference arrays over the run, then prefix sums
                        dP = [0] * (b - a + 1)
                        dQ = [0] * (b - a + 1)
                        for c, (s0, s1) in ranges:
                            k = kc[c]
                            if s1 > s0 and k:
                                ps, qs = S[c] * k, C[c] * k
                                dP[s0 - a] += ps
                                dP[s1 - a] -= ps
                                dQ[s0 - a] += qs
                                dQ[s1 - a] -= qs
                        F = [t * (P + p_) + (Q + q_) for t, p_, q_ in
                             zip(tl, itertools.accumulate(dP), itertools.accumulate(dQ))]
                    else:
                        F = [t * P + Q for t in tl]
                    if Y is not None:
                        yo = Y[idxs, o].tolist()
                        mx = max(abs(f * Dy - yv * E3) for f, yv in zip(F, yo))
                        if mx > resid_num:
                            resid_num = mx
                    if outputs is not None:
                        outputs[idxs, o] = F
            else:
                for t, i in zip(Ts[a:b], order[a:b]):
                    buf_rows.append(i)
                    buf_h.extend(v if v > 0 else 0 for v in (s_ * t + c_ for s_, c_ in zip(S, C)))
                if len(buf_rows) >= chunk:
                    flush()
        if progress is not None:
            progress(r + 1, n_int)
        if r < len(kinks):
            for j in groups[kinks[r]]:
                sg = 1 if A[j] > 0 else -1
                aj, bj, row = sg * A[j], sg * Bc[j], K1l[j]
                S = [s_ + k * aj for s_, k in zip(S, row)]
                C = [c_ + k * bj for c_, k in zip(C, row)]
    resid = to_fraction(resid_num) / (E3 * Dy) if three else Fraction(0)
    if not three:
        flush()
        resid = tail_res
        if want_outputs:
            outputs = np.array([tail_out[i] for i in range(n)], dtype=object)
        kink_tail = tail_kink
    else:
        kink_tail = None
        if outputs is not None:
            outputs = np.vectorize(lambda v: to_fraction(v) / E3, otypes=[object])(outputs)
    kink = kink1
    if kink2 is not None:
        kink2 = to_fraction(kink2) / E2
    for kk in (kink2, kink_tail):
        if kk is not None:
            kink = kk if kink is None else min(kink, kk)
    return {"residual": resid, "kink": kink, "outputs": outputs, "kinks": len(kinks), "switches": n_switch}


def xs_chunk_ints(xs: Scaled, a: int, b: int) -> np.ndarray:
    if xs.obj is not None:
        return xs.obj[a:b]
    sub = Scaled((b - a,) + xs.shape[1:], xs.denom, mant=xs.mant[a:b], shift=xs.shift[a:b], exp2=xs.exp2)
    return sub.ints()


def _kfloor(k: Fraction) -> int:
    return k.numerator // k.denominator


def _fmin(a, b):
    return b if a is None else min(a, b)


def _first_positive_or_root(Ts, s, c, a, b) -> int:
    """Index in [a, b] of the first point where s T + c changes side: for s > 0 the first with
    s T + c > 0; for s < 0 the first with s T + c <= 0 (s != 0)."""
    if s > 0:
        return bisect.bisect_right(Ts, _fdiv(-c, s), a, b)  # T > -c/s  iff  T > floor(-c/s)
    # s T + c > 0 iff T < c / |s| iff T < ceil(c / |s|)
    ceil = -_fdiv(-c, -s)
    return bisect.bisect_left(Ts, ceil, a, b)


def _fdiv(a, b) -> int:
    """floor(a / b) for ints or rationals of the rational path (b != 0)."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    r = a / b
    return int(r.floor()) if hasattr(r, "floor") else math.floor(r)


def _layer_numbers(layer):
    """(kernel rows, bias list, L): a layer's integers over its common denominator L, or, for a
    :class:`capacity.exact._rational.RatLayer`, its canonical rationals with L = 1."""
    if isinstance(layer, RatLayer):
        e = layer.k.entries()
        return [e[i * layer.o:(i + 1) * layer.o] for i in range(layer.n)], list(layer.b), 1
    return layer.k.ints().tolist(), layer.b.ints().tolist(), layer.L
