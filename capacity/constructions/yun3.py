r"""The tight 3-layer memorizer of Yun, Sra & Jadbabaie (NeurIPS 2019), well conditioned.

Theorem (3-layer ReLU, regression).  Let x_1..x_N in R^dx be pairwise distinct and
y_1..y_N in [-1, 1]^dy.  If a network with two hidden ReLU layers of widths d1, d2 has

.. math::  4 \lfloor d_1/4 \rfloor \lfloor d_2/(4 d_y) \rfloor \ge N,

then some weights give f(x_i) = y_i for every i.  No general position is needed.
Hard-tanh variant (both hidden layers hard-tanh): 4 \lfloor d_1/2 \rfloor \lfloor d_2/(2 d_y) \rfloor \ge N.

Provenance (see ``../shared/reference/yun2019-digest.md`` and :mod:`theory.registry`):
the scaling d1 d2 >= 4 N dy and "two layers of 2 sqrt(N) suffice" are confirmed by
secondary sources [S1], [A]; the exact floor form is UNCONFIRMED typography; the
hard-tanh formula is UNCONFIRMED.  The weights below are our own (RECONSTRUCTED)
construction: it meets the stated bound exactly, but the paper's appendix may set
its weights differently.

Construction (names as in the code)
-----------------------------------
1. *Projection.*  Choose a direction ``u`` (best of ``trials`` random directions by
   min gap / span) so that the projections t_i = u.x_i are distinct; sort them.
2. *Groups.*  ``A = d1 // 4`` groups of ``G = 4B`` consecutive sorted points, ``B = d2 // (4 dy)``
   (the last group is padded with virtual points of label 0 when N < 4AB).  Group j has a
   first half F_j and a second half S_j of 2B points each.
3. *Layer 1 (4 ReLUs per group).*  A kink before the block, then per group j kinks at the
   midpoints of the largest gap inside F_j, of the middle gap (between F_j and S_j), of the
   largest gap inside S_j and of the gap to the next group (the last group of a "deep" block
   trades its S kink for one after the block).  Unit k computes relu(alpha_k (t - kink_k)),
   alpha_k the power of two within a factor 2 of 1/(its neighbouring piece length).
4. *Layer 2 (2B hard-tanh neurons per output, 2 ReLUs each).*  Neuron n has shape
   sigma_n = +1 (Lambda) for even n and -1 (V) for odd n, and owns the nested pair
   p = F_j[n], q = S_j[2B-1-n] in *every* group.  Its pre-activation z_n is any continuous
   piecewise-linear function of t with the kinks above; it must equal y at p and q, be
   <= -1 - mu (times sigma_n) at the group's points outside [p, q] and >= 1 + mu strictly
   inside.  The middle kink puts the rise at p and the fall at q on different pieces, the kink
   between groups separates q_j from p_{j+1}, so these constraints are always feasible; the
   two kinks at the largest gaps of the halves are free, and let a line stop before a large
   gap instead of carrying a depth of (large gap)/(tiny gap) across it.  Among all feasible
   functions :func:`_optimise_values` takes, by a linear program over the neuron's values at the
   kinks, the one minimising sum_k reach_k |slope change at kink k|, the terms that cancel when
   the network is evaluated in floating point.  The equalities at p and q are then re-imposed
   exactly (left to right, one per piece).  There is no *chain*: in the digest's one-sided-ramp
   reconstruction the value leaving group j is the value entering group j+1, so a neuron's depth
   is a product of per-group factors (max|W| 1e10 at N = 1000); here every kink value is free.
5. *Output.*  f_r = sum_n phi(z_n) - 1 with phi = hard-tanh = relu(z+1) - relu(z-1) - 1.
   At a point of level m in a group, the neurons of outer levels are saturated at +sigma,
   inner ones at -sigma, and by the alternation those other 2B - 1 neurons sum to exactly
   +1; the owner contributes y.  Hence f = y exactly (in exact arithmetic).

Conditioning (measured, see README): the float64 residual tracks eps * span * (sum of slope
changes), i.e. span/min-gap of the projection, which is why the projection is refined
(:func:`refine_projection`).  Clustered data (tight clusters far apart, where projections cannot
help) is handled by the free kinks at the largest gaps: an earlier version with kinks paired in
the middle and between-group gaps reached 4e-5 on such data; this one stays near 1e-10 there.

Exact tier (:func:`certify_exact`): the *same* code runs on exact rationals, reusing the float
build's free choices (projection, kink values) and re-imposing the equalities exactly; the
network is then evaluated exactly (:mod:`capacity.certify`, with its exact rank-one shortcut for
the first two layers): N = 2000 in about 1 s, N = 20000 in about a minute.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from fractions import Fraction
from typing import Sequence

import numpy as np

from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, ShapeError, WidthError
from theory.bounds import yun3_capacity, yun3_smallest_widths

QUARTER = 0.05  # the outermost kinks sit this fraction of their gap away from the data


# ------------------------------------------------------------------------- numbers


def _rational_type():
    try:
        import flint

        return lambda p, q=1: flint.fmpq(p, q)
    except ImportError:  # pragma: no cover - python-flint is a test dependency
        return Fraction


def to_exact(a) -> np.ndarray:
    """float64 array -> object array of exact rationals (every float is a dyadic rational)."""
    q = _rational_type()
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        n, d = float(v).as_integer_ratio()
        out[idx] = q(n, d)
    return out


def _const(v, like):
    """A scalar constant in the number type of array ``like``."""
    if isinstance(like, np.ndarray) and like.dtype == object:
        return to_exact(np.array(v))[()]
    return float(v)


def _wmax(a, b):
    return np.where(a > b, a, b)


# ---------------------------------------------------------------------- projection


def projection_quality(t: np.ndarray) -> float:
    """span / min gap of the sorted projections (inf if two coincide)."""
    ts = np.sort(np.asarray(t, dtype=np.float64))
    if ts.size < 2:
        return 1.0
    g = np.diff(ts).min()
    return math.inf if g <= 0 else float((ts[-1] - ts[0]) / g)


def _sorted_gaps(x, u):
    t = x @ u
    o = np.argsort(t, kind="stable")
    ts = t[o]
    return o, np.diff(ts), float(ts[-1] - ts[0])


def refine_projection(x: np.ndarray, u: np.ndarray, iters: int = 200, k: int = 64) -> np.ndarray:
    """Locally increase min gap / span of the projections by a trust-region LP on u.

    At each step the ``k`` smallest consecutive gaps g_i = u.(x_b - x_a) are linearised in a
    step D (orthogonal to u, |D|_inf <= r) and min_i (g_i + D.(x_b - x_a)) is maximised
    (HiGHS).  The step is kept only if the true quality (over all pairs) improves; the radius
    grows on success and shrinks on failure.  A local method: it usually gains a factor
    2-5 over the best random direction when dx >= 3, nothing when dx = 1.
    """
    from scipy.optimize import linprog

    dx = x.shape[1]
    if dx < 2 or x.shape[0] < 3:
        return u
    o, g, span = _sorted_gaps(x, u)
    q = span / g.min() if g.min() > 0 else math.inf
    r = 1e-3
    for _ in range(iters):
        idx = np.argsort(g)[:k]
        D = x[o[idx + 1]] - x[o[idx]]
        res = linprog(np.r_[np.zeros(dx), -1.0], A_ub=np.c_[-D, np.ones(idx.size)], b_ub=g[idx],
                      A_eq=np.r_[u, 0.0][None, :], b_eq=[0.0], bounds=[(-r, r)] * dx + [(None, None)],
                      method="highs")
        if res.status == 0:
            v = u + res.x[:dx]
            v = v / np.linalg.norm(v)
            ov, gv, sv = _sorted_gaps(x, v)
            qv = sv / gv.min() if gv.min() > 0 else math.inf
            if qv < q:
                u, q, o, g = v, qv, ov, gv
                r *= 1.5
                continue
        r /= 2
        if r < 1e-12:
            break
    return u


def choose_projection(x: np.ndarray, seed: int = 0, trials: int = 64, refine: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Direction u (float64, unit norm up to rounding) with distinct projections t = x @ u.

    Among ``trials`` Gaussian directions keep the ``refine`` best by span / min-gap, improve
    each with :func:`refine_projection`, and return the best (the construction's slopes scale
    with 1/min gap, so this ratio sets the float64 error).  dx = 1 uses u = (1,).
    Deterministic given ``seed``.

    Returns:
      (u, t) with t = x @ u in float64.
    """
    x = np.asarray(x, dtype=np.float64)
    n, dx = x.shape
    if dx == 1:
        u = np.ones(1)
        return u, x[:, 0].copy()
    rng = np.random.default_rng(seed)
    cands = []
    left = trials
    while left > 0:
        kk = min(left, 16)
        left -= kk
        U = rng.standard_normal((dx, kk))
        U /= np.linalg.norm(U, axis=0, keepdims=True)
        T = x @ U
        cands.extend((projection_quality(T[:, i]), U[:, i].copy()) for i in range(kk))
    cands.sort(key=lambda c: c[0])
    best = cands[0]
    for qv, u0 in cands[:max(refine, 0)]:
        u1 = refine_projection(x, u0)
        q1 = projection_quality(x @ u1)
        if q1 < best[0]:
            best = (q1, u1)
    if not np.isfinite(best[0]):
        raise CapacityError("could not find a projection with distinct values (inputs nearly identical "
                            "at float64 resolution); rescale or deduplicate the inputs")
    u = best[1]
    return u, x @ u


# ------------------------------------------------------------- kinks and values


def _pow2_floor(v: float) -> float:
    return float(2.0 ** math.floor(math.log2(v)))


def _pow2_inverse(gap, exact: bool):
    """A power of two within a factor 2 of 1/gap, elementwise (layer-1 scales)."""
    inv = np.array([1.0 / _pow2_floor(float(v)) for v in gap])
    return to_exact(inv) if exact else inv


def _to_float(a):
    return np.vectorize(float, otypes=[np.float64])(a) if np.size(a) else np.zeros(np.shape(a))


def _kink_positions(T, A: int, B: int, left_pos, right_pos, convention: str, quarter, choice=None):
    """The 4A kink positions, increasing, and the gap choice that fixed them.

    One kink before the block, then per group the midpoints of the largest gap inside F_j, of the
    middle gap, of the largest gap inside S_j and of the gap to the next group.  The last group has
    no kink after it ("plain": the last piece is free) or no S kink but one after the block
    ("deep": flat outside on both sides).  ``choice`` (the indices of the chosen inner gaps, as
    returned by an earlier call) reuses those gaps: equal gaps (integer data) must be resolved the
    same way by the float build and its exact rebuild.
    """
    G, H = 4 * B, 2 * B
    exact = T.dtype == object
    Tf = _to_float(T) if exact else T
    picked = [] if choice is None else list(choice)
    ks = [T[0] - (T[0] - left_pos) * quarter]
    c = 0

    def pick(lo, hi):
        nonlocal c
        if choice is None:
            i = lo + int(np.argmax(np.diff(Tf[lo:hi])))
            picked.append(i)
        else:
            i = picked[c]
        c += 1
        return (T[i] + T[i + 1]) / 2

    for j in range(A):
        g0 = j * G
        ks.append(pick(g0, g0 + H))
        ks.append((T[g0 + H - 1] + T[g0 + H]) / 2)
        last = j == A - 1
        if not (last and convention == "deep"):
            ks.append(pick(g0 + H, g0 + G))
        if not last:
            ks.append((T[g0 + G - 1] + T[g0 + G]) / 2)
        elif convention == "deep":
            ks.append(T[-1] + (right_pos - T[-1]) * quarter)
    return np.array(ks, dtype=T.dtype), picked


def _local_gaps(kf):
    """For each kink, the shorter of its two neighbouring piece lengths (the outer ones: the inner)."""
    L = np.diff(kf)
    if L.size == 0:
        return np.ones_like(kf)
    return np.minimum(np.r_[np.inf, L], np.r_[L, np.inf])


def _optimise_values(T, Y, k, A: int, B: int, sigma, convention: str, mu: float):
    """Per layer-2 neuron, its values at the kinks (and the slope after the last kink) by an LP.

    The neuron's pre-activation z is the continuous piecewise-linear interpolant of its kink
    values V_0..V_{K-1} (constant left of the first kink, slope s_R after the last).  Constraints
    (normalised Lambda frame, margin 1.25 mu so the exact correction below cannot break them):
    z = y at the neuron's two points of every group, z <= -1 - mu at the group's points outside
    them, z >= 1 + mu strictly between.  Objective: sum_k reach_k |slope change at kink k|, the
    terms that cancel when the network is evaluated (reach_k = how far right of kink k its ReLU
    stays active on the data).  HiGHS via scipy; a neuron whose LP fails raises.

    Returns (values, failures) with values[r][n] = (V (K,), s_R) as floats.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, diags, vstack
    from tqdm import tqdm

    G, H = 4 * B, 2 * B
    M, dy = Y.shape
    K = k.size
    piece = np.searchsorted(k, T)
    L = np.diff(k)
    lam = np.zeros(M)
    inner = (piece >= 1) & (piece <= K - 1)
    lam[inner] = (T[inner] - k[piece[inner] - 1]) / L[piece[inner] - 1]
    nv = K + 1 + K  # V_0..V_{K-1}, s_R, tau_0..tau_{K-1}
    idx = np.arange(M)
    c1 = np.where(piece == 0, 0, np.where(piece == K, K - 1, piece - 1))
    v1 = np.where((piece == 0) | (piece == K), 1.0, 1.0 - lam)
    c2 = np.where(piece == K, K, np.minimum(piece, K - 1))
    v2 = np.where(piece == K, T - k[-1], np.where(piece == 0, 0.0, lam))
    Z = coo_matrix((np.r_[v1, v2], (np.r_[idx, idx], np.r_[c1, c2])), shape=(M, nv)).tocsr()
    rows, cols, vals = [], [], []
    for i in range(K):  # slope change at kink i: s_{i+1} - s_i
        if i + 1 <= K - 1:
            rows += [i, i]; cols += [i + 1, i]; vals += [1 / L[i], -1 / L[i]]
        else:
            rows += [i]; cols += [K]; vals += [1.0]
        if i >= 1:
            rows += [i, i]; cols += [i, i - 1]; vals += [-1 / L[i - 1], 1 / L[i - 1]]
    D = coo_matrix((vals, (rows, cols)), shape=(K, nv)).tocsr()
    w = np.maximum(np.asarray(abs(D).max(axis=1).todense()).ravel(), 1e-300)
    tau = coo_matrix((-np.ones(K), (np.arange(K), K + 1 + np.arange(K))), shape=(K, nv)).tocsr()
    slope_rows = vstack([diags(1.0 / w) @ D + tau, -(diags(1.0 / w) @ D) + tau])
    reach = (T[-1] - k) + 0.05 * (T[-1] - T[0] + 1e-300)
    cost = np.r_[np.zeros(K + 1), w * np.maximum(reach, 0.05 * (T[-1] - T[0] + 1e-300))]
    cost = cost / cost.max()
    pos = idx % G
    m = 1.0 + 1.25 * mu
    bounds = [(None, None)] * (K + 1) + [(0.0, None)] * K
    if convention == "deep":
        bounds[0] = (None, -m)
        bounds[K - 1] = (None, -m)
        bounds[K] = (0.0, 0.0)
    values = [[None] * H for _ in range(dy)]
    bar = tqdm(total=dy * H, desc="yun3: layer-2 values (one LP per neuron)", unit="neuron", file=sys.stderr,
               disable=None if dy * H * K >= 4000 else True, leave=False)
    for rr in range(dy):
        for n in range(H):
            ys = Y[:, rr] * sigma[n]
            eq = (pos == n) | (pos == G - 1 - n)
            high = (pos > n) & (pos < G - 1 - n)
            low = ~(eq | high)
            # z is linear on a piece, so a run of same-class points inside one piece is constrained
            # by its first and last point alone: keep those rows (O(A) instead of O(N))
            cls = np.where(eq, 0, np.where(high, 1, 2))
            key = piece * 3 + cls
            edge = np.ones(M, dtype=bool)
            edge[1:-1] = (key[1:-1] != key[:-2]) | (key[1:-1] != key[2:])
            lo_rows = np.flatnonzero(low & edge)
            hi_rows = np.flatnonzero(high & edge)
            A_ub = vstack([Z[lo_rows], -Z[hi_rows], slope_rows]).tocsr()
            b_ub = np.r_[np.full(lo_rows.size, -m), np.full(hi_rows.size, -m), np.zeros(2 * K)]
            res = None
            for method in ("highs-ds", "highs-ipm"):
                res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=Z[np.flatnonzero(eq)], b_eq=ys[eq], bounds=bounds,
                              method=method)
                if res.status == 0:
                    break
            if res.status != 0:
                raise CapacityError(f"yun3: the linear program for layer-2 neuron {n} failed ({res.message}); "
                                    "this is a bug for data that passed validation, please report it")
            values[rr][n] = (res.x[:K].copy(), float(res.x[K]))
            bar.update(1)
    bar.close()
    return values, 0


# -------------------------------------------------------------------------- block


@dataclasses.dataclass
class Block1D:
    """A two-hidden-layer ReLU block acting on a scalar coordinate t.

    layer 1: h_k = relu(sign_k * alpha_k * (t - kink_k)),  k = 0..K-1 (K = 4A)
    layer 2: g = relu(h @ w2 + b2)                          (H = 4B*dy ReLUs)
    output:  out = g @ w3 + b3                              (dy)
    Arrays are float64, or object arrays of exact rationals in exact mode.
    """

    kink: np.ndarray
    sign: np.ndarray
    alpha: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray
    info: dict = dataclasses.field(default_factory=dict)

    def layer1_affine(self):
        """(a, c) with layer-1 pre-activation a * t + c."""
        a = self.sign * self.alpha
        return a, -a * self.kink

    def __call__(self, t):
        a, c = self.layer1_affine()
        t = np.asarray(t)
        h = np.maximum(t[:, None] * a[None, :] + c[None, :], 0)
        g = np.maximum(h @ self.w2 + self.b2, 0)
        return g @ self.w3 + self.b3


def block_1d(t, y, n_groups: int, pairs: int, *, left=None, right=None, convention: str = "plain",
             mu: float = 1.0, slopes=None) -> Block1D:
    """Build the chain-free Yun block on sorted scalar positions (see module docstring).

    Args:
      t: (M,) strictly increasing positions (float64, or object array of rationals for exact mode).
      y: (M, dy) labels in [-1, 1] (same number type as t).
      n_groups: A (layer 1 gets 4A ReLUs).  pairs: B (layer 2 gets 4B*dy ReLUs).  Needs M <= 4AB.
      left, right: nearest data positions outside the block, or None; all kinks lie strictly inside.
      convention: "plain" (out = y at the block's points) or "deep" (out = 1 + y there and out = 0
        at every t <= left or t >= right, so blocks can be summed).
      mu: saturation margin: neighbours of an owned point are pushed to |z| >= 1 + mu.
      slopes: optional free choices of an earlier (float) build of the same block (its
        ``info["slopes"]``: each layer-2 neuron's values at the kinks), reused so that an exact
        rebuild makes the same choices; the exact equalities are re-imposed on top.
    """
    exact = isinstance(t, np.ndarray) and t.dtype == object
    t = np.asarray(t) if exact else np.asarray(t, dtype=np.float64)
    y = np.asarray(y) if exact else np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    A, B = int(n_groups), int(pairs)
    M, dy = y.shape
    G, H = 4 * B, 2 * B
    cap = A * G
    if A < 1 or B < 1:
        raise WidthError(f"the block needs at least one group and one pair (got A={A}, B={B})")
    if M < 1 or t.shape != (M,):
        raise ShapeError(f"t must have shape (M,) with M >= 1 matching y; got {t.shape} and {y.shape}")
    if M > cap:
        raise WidthError(f"{M} points exceed the block's capacity 4*A*B = {cap}")
    if convention not in ("plain", "deep"):
        raise ValueError(f"unknown convention {convention!r}")
    tf = np.array([float(v) for v in t]) if exact else t
    if M > 1 and not np.all(tf[1:] > tf[:-1]) and not (exact and all(t[i + 1] > t[i] for i in range(M - 1))):
        raise ShapeError("block positions must be strictly increasing")
    one = _const(1.0, t)
    zero = _const(0.0, t)
    mu_ = _const(mu, t)
    quarter = _const(QUARTER, t)

    # --- virtual padding and outer neighbours -------------------------------------------
    gap_med = float(np.median(np.diff(tf))) if M > 1 else (
        float(min(abs(tf[0] - float(left)) if left is not None else math.inf,
                  abs(float(right) - tf[0]) if right is not None else math.inf, 1.0)))
    gap_med = gap_med if gap_med > 0 and math.isfinite(gap_med) else 1.0
    V_pad = cap - M
    if V_pad:
        if right is None:
            step = _const(gap_med, t)
        else:
            step = (right - t[-1]) / _const(V_pad + 1, t)
        extra = np.array([t[-1] + step * _const(i + 1, t) for i in range(V_pad)], dtype=t.dtype)
        T = np.concatenate([t, extra])
        Y = np.concatenate([y, np.full((V_pad, dy), zero, dtype=y.dtype)])
    else:
        T, Y = t, y
    left_pos = left if left is not None else T[0] - _const(gap_med, t)
    right_pos = right if right is not None else T[-1] + _const(gap_med, t)

    # --- kinks (4 per group): the largest gap of F, the middle gap, the largest gap of S,
    # the gap to the next group; plus one before the block.  The last group of a "deep" block
    # spends its S kink on a kink after the block instead (flat and saturated on both sides).
    kinks, gap_choice = _kink_positions(T, A, B, left_pos, right_pos, convention, quarter,
                                        None if slopes is None else slopes["gaps"])
    K = kinks.shape[0]
    tf = _to_float(T) if exact else T
    kf = _to_float(kinks) if exact else kinks
    # --- layer 2: per neuron an LP over its values at the kinks (float geometry) --------------
    sigma = np.where(np.arange(H) % 2 == 0, 1.0, -1.0)
    yf = _to_float(Y) if exact else Y
    if slopes is None:
        values, lp_failures = _optimise_values(tf, yf, kf, A, B, sigma, convention, mu)
    else:
        values, lp_failures = slopes["values"], 0
    # --- exact equalities and weights (in the block's number type) ----------------------------
    piece = np.searchsorted(kf, tf)  # piece of each point: 0 (left of all kinks) .. K
    L = kinks[1:] - kinks[:-1]
    pos = np.arange(T.shape[0]) % G
    alpha = _pow2_inverse(_local_gaps(kf), exact)
    sig_ = to_exact(sigma) if exact else sigma
    w2 = np.empty((K, dy * H * 2), dtype=T.dtype)
    b2 = np.empty((dy * H * 2,), dtype=T.dtype)
    w3 = np.full((dy * H * 2, dy), zero, dtype=T.dtype)
    max_sum, max_slope, max_depth = 0.0, 0.0, 0.0
    for rr in range(dy):
        for n in range(H):
            V0, sR0 = values[rr][n]
            V = to_exact(V0) if exact else np.array(V0, dtype=np.float64)
            sR = to_exact(np.array(sR0))[()] if exact else float(sR0)
            ys = Y[:, rr] * sig_[n]
            eq = (pos == n) | (pos == G - 1 - n)
            for i_pt in np.flatnonzero(eq):  # left to right: at most one equality per piece
                pi = int(piece[i_pt])
                if 1 <= pi <= K - 1:
                    V[pi] = V[pi - 1] + (ys[i_pt] - V[pi - 1]) * L[pi - 1] / (T[i_pt] - kinks[pi - 1])
                elif pi == K:
                    sR = (ys[i_pt] - V[K - 1]) / (T[i_pt] - kinks[K - 1])
            slope = np.concatenate([np.array([zero], dtype=T.dtype), (V[1:] - V[:-1]) / L,
                                    np.array([sR], dtype=T.dtype)])
            delta = slope[1:] - slope[:-1]  # slope change at each kink
            col = 2 * (rr * H + n)
            w2[:, col] = delta * sig_[n] / alpha
            w2[:, col + 1] = w2[:, col]
            b2[col] = V[0] * sig_[n] + one
            b2[col + 1] = V[0] * sig_[n] - one
            w3[col, rr] = one
            w3[col + 1, rr] = -one
            if not exact:
                max_sum = max(max_sum, float(np.sum(np.abs(delta))))
                max_slope = max(max_slope, float(np.max(np.abs(slope))))
                max_depth = max(max_depth, float(np.max(np.abs(V))))
    b3_val = -(H + 1) if convention == "plain" else -H
    b3 = np.full((dy,), _const(float(b3_val), t), dtype=T.dtype)
    sign_arr = to_exact(np.ones(K)) if exact else np.ones(K)
    info = {"virtual_points": int(V_pad), "lp_failures": int(lp_failures),
            "slopes": {"values": values, "gaps": gap_choice}}
    if not exact:
        info.update(max_abs_slope=max_slope, sum_abs_slope_change_max=max_sum, max_depth=max_depth)
    return Block1D(kink=kinks, sign=sign_arr, alpha=alpha, w2=w2, b2=b2, w3=w3, b3=b3, info=info)


# -------------------------------------------------------------------------- network


def check_widths(n: int, widths: Sequence[int], dy: int, activation: str = "relu") -> tuple[int, int]:
    """Validate (d1, d2) against the theorem; return (A, B).  Raises WidthError saying what would do."""
    if len(widths) != 2:
        s1, s2 = yun3_smallest_widths(n, dy, activation)
        raise WidthError(f"yun3 builds exactly two hidden layers; got widths {list(widths)}: give --widths D1,D2 "
                         f"(the smallest that satisfy the theorem for N = {n}, dy = {dy} are {s1},{s2})")
    d1, d2 = int(widths[0]), int(widths[1])
    cap = yun3_capacity(d1, d2, dy, activation)
    if cap < n:
        s1, s2 = yun3_smallest_widths(n, dy, activation)
        form = ("4*floor(d1/4)*floor(d2/(4*dy))" if activation == "relu" else "4*floor(d1/2)*floor(d2/(2*dy))")
        raise WidthError(
            f"widths ({d1}, {d2}) memorize at most {cap} points with dy = {dy} ({activation}: {form} = {cap} < N = {n}); "
            f"the smallest widths that satisfy the theorem are {s1},{s2}")
    if activation == "relu":
        return d1 // 4, d2 // (4 * dy)
    return d1 // 2, d2 // (2 * dy)


def _assemble(u, blk: Block1D, d1: int, d2: int, scale, exact: bool):
    """Layer arrays of the full MLP from the projection and the block (unused units switched off)."""
    a, cbias = blk.layer1_affine()
    K, H2 = blk.w2.shape
    dy = blk.w3.shape[1]
    zero = _const(0.0, a) if exact else 0.0
    dt = object if exact else np.float64
    k1 = np.full((u.shape[0], d1), zero, dtype=dt)
    k1[:, :K] = np.asarray(u, dtype=dt)[:, None] * a[None, :]
    b1 = np.full((d1,), _const(-1.0, a) if exact else -1.0, dtype=dt)  # idle units: pre-activation -1
    b1[:K] = cbias
    k2 = np.full((d1, d2), zero, dtype=dt)
    k2[:K, :H2] = blk.w2
    b2 = np.full((d2,), _const(-1.0, a) if exact else -1.0, dtype=dt)
    b2[:H2] = blk.b2
    k3 = np.full((d2, dy), zero, dtype=dt)
    k3[:H2] = blk.w3 * scale
    b3 = blk.b3 * scale
    return [k1, k2, k3], [b1, b2, b3]


def _sorted_problem(ds: Dataset, seed: int, trials: int):
    u, t = choose_projection(ds.x, seed=seed, trials=trials)
    order = np.argsort(t, kind="stable")
    return u, t, order


def build(dataset: Dataset, widths: Sequence[int], *, activation: str = "relu", seed: int = 0,
          trials: int = 64, mu: float = 1.0) -> Construction:
    """Build the 3-layer memorizer for ``dataset`` at hidden widths ``widths = (d1, d2)``.

    Args:
      dataset: distinct inputs, real labels in [-1, 1]^dy (use ``rescale_labels`` otherwise).
      widths: (d1, d2) with 4*floor(d1/4)*floor(d2/(4 dy)) >= N (ReLU).
      activation: "relu" (the theorem) or "hardtanh" (the hard-tanh variant).
      seed: seeds the choice of projection; same inputs give identical weights.
      trials: random directions tried for the projection.
      mu: saturation margin beyond the hard-tanh corners (the layer-2 kink margin off own points).

    Returns:
      Construction with float64 kernels (dx, d1), (d1, d2), (d2, dy) and a record of its choices.
    """
    if dataset.is_classification:
        raise CapacityError("yun3 fits real labels; for class labels use --construction yun-classify "
                            "(or one-hot labels as a real (N, classes) array)")
    n, dy = dataset.n, dataset.dy
    A, B = check_widths(n, widths, dy, activation)
    if activation == "hardtanh":
        from capacity.constructions import yun3_hardtanh

        return yun3_hardtanh.build(dataset, widths, seed=seed, trials=trials, mu=mu)
    if activation != "relu":
        raise CapacityError(f"unknown activation {activation!r}; choose relu or hardtanh")
    t0 = time.perf_counter()
    u, t, order = _sorted_problem(dataset, seed, trials)
    ts = t[order]
    if n > 1 and np.min(np.diff(ts)) <= 0:
        raise CapacityError("projected inputs coincide in float64; the inputs are too close to separate "
                            "at this precision (rescale or deduplicate them)")
    blk = block_1d(ts, dataset.y[order], A, B, mu=mu)
    kernels, biases = _assemble(u, blk, int(widths[0]), int(widths[1]), dataset.label_scale, exact=False)
    gaps = np.diff(ts) if n > 1 else np.array([1.0])
    record = {
        "theorem": "yun3-relu",
        "n": n, "dx": dataset.dx, "dy": dy, "widths": [int(w) for w in widths],
        "groups_A": A, "pairs_B": B, "capacity": 4 * A * B, "virtual_points": blk.info["virtual_points"],
        "seed": seed, "projection_trials": trials, "mu": mu,
        "projection": [float(v) for v in u],
        "span": float(ts[-1] - ts[0]), "min_gap": float(gaps.min()),
        "span_over_min_gap": float((ts[-1] - ts[0]) / gaps.min()) if n > 1 else 1.0,
        "label_scale": float(dataset.label_scale),
        "build_seconds": time.perf_counter() - t0,
        **{k: v for k, v in blk.info.items() if k not in ("virtual_points", "slopes")},
    }
    record["_slopes"] = blk.info["slopes"]  # free choices reused by the exact tier (not saved)
    return Construction("yun3", kernels, biases, "relu", record)


def exact_network(dataset: Dataset, widths: Sequence[int], *, seed: int = 0, trials: int = 64, mu: float = 1.0,
                  float_build: Construction | None = None):
    """The same construction carried out in exact rational arithmetic.

    The free choices (projection u, which gaps hold the free kinks, and each neuron's kink
    values from the float build's LP) are taken from the float64 build and converted exactly;
    everything that must hold *exactly* (projections, kink positions, the label equalities, every
    weight) is recomputed in rationals from the exact data.  Returns (kernels, biases) as object
    arrays of rationals.
    """
    A, B = check_widths(dataset.n, widths, dataset.dy, "relu")
    fb = float_build if float_build is not None else build(dataset, widths, seed=seed, trials=trials, mu=mu)
    u = to_exact(np.asarray(fb.record["projection"]))
    xq = to_exact(dataset.x)
    t = xq @ u
    order = sorted(range(dataset.n), key=lambda i: t[i])
    ts = np.array([t[i] for i in order], dtype=object)
    if any(not (ts[i + 1] > ts[i]) for i in range(len(ts) - 1)):
        raise CapacityError("two inputs have the same exact projection; rebuild with another --seed")
    ys = to_exact(dataset.y[order])
    slopes = fb.record.get("_slopes")
    blk = block_1d(ts, ys, A, B, mu=mu, slopes=slopes)
    scale = to_exact(np.array(dataset.label_scale))[()]
    return _assemble(u, blk, int(widths[0]), int(widths[1]), scale, exact=True)


def certify_exact(dataset: Dataset, widths: Sequence[int], *, activation: str = "relu", seed: int = 0,
                  trials: int = 64, mu: float = 1.0, float_build: Construction | None = None,
                  construction: Construction | None = None, **_ignored):
    """Build the construction in exact arithmetic and check f(x_i) = y_i exactly for every i.

    ``float_build`` (or ``construction``): the float64 build whose free choices are reused.
    """
    from capacity.certify import check_exact

    float_build = float_build if float_build is not None else construction
    if float_build is not None:
        activation = float_build.activation

    if activation == "hardtanh":
        from capacity.constructions import yun3_hardtanh

        return yun3_hardtanh.certify_exact(dataset, widths, seed=seed, trials=trials, mu=mu, float_build=float_build)
    t0 = time.perf_counter()
    kernels, biases = exact_network(dataset, widths, seed=seed, trials=trials, mu=mu, float_build=float_build)
    t_build = time.perf_counter() - t0
    res = check_exact(kernels, biases, to_exact(dataset.x), to_exact(dataset.y_original), "relu")
    res.notes.append(f"method: the construction carried out in exact rationals (same projection and free choices as "
                     f"the float build; NET.npz holds its float64 rounding) and evaluated exactly at every point; "
                     f"exact construction {t_build:.2f} s, exact evaluation {res.seconds:.2f} s")
    res.seconds += t_build
    return res


register("yun3", build, "Yun-Sra-Jadbabaie tight 3-layer memorizer (chain-free, well-conditioned reconstruction)",
         theorem="yun3-relu", certify=certify_exact, widths_help="D1,D2 with 4*floor(D1/4)*floor(D2/(4*dy)) >= N")
