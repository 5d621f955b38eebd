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
3. *Layer 1 (4 ReLUs per group).*  Kinks at ``l_j`` (in the gap before the group),
   ``c_j < c'_j`` (in the gap between F_j and S_j) and ``r_j`` (in the gap after it).
   Two kinks sharing a gap sit a power of two apart, centred, at least 5% of the gap from
   the data; unit k computes relu(sign_k * alpha_k * (t - kink_k)) with alpha_k the power of
   two within a factor 2 of 1/(its gap): left-facing for the left half of the kinks,
   right-facing for the right half (this halves the distances over which large terms cancel
   in floating point).
4. *Layer 2 (2B hard-tanh neurons per output, 2 ReLUs each).*  Neuron n has shape
   sigma_n = +1 (Lambda) for even n and -1 (V) for odd n, and owns the nested pair
   p = F_j[n], q = S_j[2B-1-n] in *every* group.  Its pre-activation z_n is the
   continuous piecewise-linear function of t with the kinks above and
     - on F_j: the line through (t_p, y_p) of slope sigma_n * s1, on S_j the line through
       (t_q, y_q) of slope -sigma_n * s2, where s1, s2 are the *smallest* slopes that
       saturate the neighbours of p and q at distance ``mu`` beyond the hard-tanh corners
       (|z| >= 1 + mu), raised only to make the two lines meet at one apex value;
     - on [c_j, c'_j] constant (the apex);
     - on [r_j, l_{j+1}] (no data) the segment joining the two groups' end values.
   The last item is what removes the *chain*: in the one-sided-ramp reconstruction of the
   digest the value leaving group j is the value entering group j+1, so the depth of a
   neuron is a product of per-group factors and max|W| grows like a product over groups
   (1e10 at N = 1000).  Here each group's slopes depend only on its own local gaps, and the
   weights grow like (span/min gap) times a group's extent: polynomially in N.
5. *Output.*  f_r = sum_n phi(z_n) - 1 with phi = hard-tanh = relu(z+1) - relu(z-1) - 1.
   At a point of level m in a group, the neurons of outer levels are saturated at +sigma,
   inner ones at -sigma, and by the alternation those other 2B - 1 neurons sum to exactly
   +1; the owner contributes y.  Hence f = y exactly (in exact arithmetic).

Conditioning (measured, see README): the float64 residual is set by
eps * span * (sum of slope changes), i.e. by span/min-gap of the projection, which is why the
projection is refined (:func:`refine_projection`) and the slopes are chosen by a small LP per
neuron (:func:`_optimise_slopes`).  Known weakness: when a half-group holds both tiny and huge
gaps along the projection (1-D clustered data; no projection can help in dx = 1) a neuron's apex
sits ~span/gap above its labels and must come down within a tiny gap, so slopes grow like
(span/min-gap)^2 there and float64 degrades (e.g. 3e-5 at N = 23); the exact tier is unaffected.

Exact tier (:func:`certify_exact`): the *same* code runs on exact rationals.  Segment lengths
between paired kinks and the layer-1 scales are powers of two and minimum slopes are rounded up
to floats, so almost every weight is a dyadic rational (only each neuron's pivot slope is not),
which keeps exact evaluation fast: N = 2000 in about 1 s, N = 20000 in under a minute.
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

MINIMAX_MAX_GROUPS = 200  # above this, the cheaper weighted-L1 slope objective is used
QUARTER = 0.05  # kinks sit this fraction of a gap away from the nearest data point


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


# ---------------------------------------------------------------- dyadic choices


def _pow2_floor(v: float) -> float:
    return float(2.0 ** math.floor(math.log2(v)))


def _kink_pair(a, b, exact: bool):
    """Two kinks in each gap (a_i, b_i): L_i = largest power of two <= 0.9 gap apart, centred."""
    g = b - a
    gf = _to_float(g) if exact else g
    L = np.array([_pow2_floor(0.9 * float(v)) for v in np.atleast_1d(gf)])
    if exact:
        L = to_exact(L)
    lo = a + (g - L) / 2
    return lo, lo + L


def _pow2_inverse(gap, exact: bool):
    gf = _to_float(gap) if exact else gap
    inv = np.array([1.0 / _pow2_floor(float(v)) for v in gf])
    return to_exact(inv) if exact else inv


def _dyadic_ceil(q):
    """Smallest float64 >= each exact rational in the object array q, as exact rationals."""
    out = np.empty(q.shape, dtype=object)
    for idx, v in np.ndenumerate(q):
        f = _to_float(np.array([v]))[0]
        e = to_exact(np.array(f))[()]
        if e < v:
            e = to_exact(np.array(np.nextafter(f, np.inf)))[()]
        out[idx] = e
    return out


# --------------------------------------------------------------- slope optimisation


def _to_float(a):
    return np.vectorize(float, otypes=[np.float64])(a) if np.size(a) else np.zeros(np.shape(a))


def _optimise_slopes(s1min, s2min, yp, yq, Pd, Cp, Cq, Rd, Lc, Lb, reach=None, amp=None):
    """Choose data-segment slopes s >= their minimum that minimise sum_k |slope change at kink k|.

    For each layer-2 neuron this is a small linear program over the chain of its groups
    (variables s1_j, s2_j; every slope change is an affine function of them).  The float64
    rounding error of the network grows with that sum (times the span of t), so this is the
    conditioning objective.  Solved with HiGHS (scipy); if the solver fails for a neuron, that
    neuron keeps its minimum slopes, which are valid (only less well conditioned).
    With ``amp`` (a function n -> (2A, 4A) array), the LP instead minimises, per neuron, the
    largest over its owned points i of sum_k amp[i, k] |slope change k|: the magnitude of the
    terms that cancel when the network evaluates z_n at x_i (a model of its rounding error).
    With ``reach`` (4A,), the change at kink k is weighted by reach_k: the distance over which
    its ReLU stays active on the data (the factor by which its rounding error is amplified).
    Shapes: s1min, s2min, yp, yq (dy, A, H); Pd, Cp, Cq, Rd (A, H); Lc (A, 1); Lb (A-1,).
    Returns (s1, s2, failures) with s1, s2 of shape (dy, A, H).
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, diags, hstack, vstack

    from tqdm import tqdm

    dy, A, H = s1min.shape
    bar = tqdm(total=dy * H, desc="yun3: choosing slopes (one LP per layer-2 neuron)", unit="neuron",
               file=sys.stderr, disable=None if dy * H * A >= 4000 else True, leave=False)
    s1 = s1min.copy()
    s2 = s2min.copy()
    P = A // 2
    nv = 2 * A + 4 * A
    failures = 0
    for rr in range(dy):
        for n in range(H):
            m1, m2 = s1min[rr, :, n], s2min[rr, :, n]
            ypn, yqn = yp[rr, :, n], yq[rr, :, n]
            pd, cp, cq, rd, lc = Pd[:, n], Cp[:, n], Cq[:, n], Rd[:, n], Lc[:, 0]
            rows, cols, vals, const = [], [], [], np.zeros(4 * A)
            def add(k, var, coef):
                rows.append(k); cols.append(var); vals.append(coef)
            # variables: v1_j (s1_j = m1_j v1_j) at j, v2_j at A + j, tau_k at 2A + k
            for jj in range(A):
                k = 4 * jj
                if jj == 0:
                    add(k, jj, m1[jj])
                else:
                    add(k, jj, (1 + pd[jj] / Lb[jj - 1]) * m1[jj])
                    add(k, A + jj - 1, -rd[jj - 1] / Lb[jj - 1] * m2[jj - 1])
                    const[k] = -(ypn[jj] - yqn[jj - 1]) / Lb[jj - 1]
                add(k + 1, jj, (-cp[jj] / lc[jj] - 1) * m1[jj])
                add(k + 1, A + jj, cq[jj] / lc[jj] * m2[jj])
                const[k + 1] = (yqn[jj] - ypn[jj]) / lc[jj]
                add(k + 2, jj, cp[jj] / lc[jj] * m1[jj])
                add(k + 2, A + jj, (-1 - cq[jj] / lc[jj]) * m2[jj])
                const[k + 2] = -(yqn[jj] - ypn[jj]) / lc[jj]
                if jj == A - 1:
                    add(k + 3, A + jj, m2[jj])
                else:
                    add(k + 3, A + jj, (1 + rd[jj] / Lb[jj]) * m2[jj])
                    add(k + 3, jj + 1, -pd[jj + 1] / Lb[jj] * m1[jj + 1])
                    const[k + 3] = (ypn[jj + 1] - yqn[jj]) / Lb[jj]
            D = coo_matrix((vals, (rows, cols)), shape=(4 * A, nv)).tocsr()
            # row scaling: tau_k = w_k * tau'_k with w_k the row's largest coefficient
            w = np.maximum(np.asarray(abs(D).max(axis=1).todense()).ravel(), 1e-300)
            Dn = diags(1.0 / w) @ D
            eye = coo_matrix((-np.ones(4 * A), (np.arange(4 * A), 2 * A + np.arange(4 * A))), shape=(4 * A, nv)).tocsr()
            A_ub = vstack([Dn + eye, -Dn + eye])
            b_ub = np.concatenate([-const / w, const / w])
            A_eq = np.zeros((1, nv))
            A_eq[0, P] = -cp[P] * m1[P]
            A_eq[0, A + P] = cq[P] * m2[P]
            b_eq = np.array([ypn[P] - yqn[P]])
            bounds = [(1.0, None)] * (2 * A) + [(0.0, None)] * (4 * A)
            kw = w if reach is None else w * reach
            cost = np.concatenate([np.zeros(2 * A), kw / kw.max()])
            if amp is not None:
                # minimax: E >= sum_k amp[i, k] * |delta_k| at each owned point i of this neuron
                Ai = amp(n) * w[None, :]  # (2A, 4A): weights on tau'
                escale = max(float(Ai.sum(axis=1).max()), 1e-300)
                E_rows = coo_matrix(np.hstack([np.zeros((Ai.shape[0], 2 * A)), Ai / escale, -np.ones((Ai.shape[0], 1))]))
                A_ub = vstack([hstack([A_ub, coo_matrix((A_ub.shape[0], 1))]), E_rows]).tocsr()
                b_ub = np.concatenate([b_ub, np.zeros(Ai.shape[0])])
                cost = np.concatenate([np.zeros(2 * A), 1e-3 * kw / kw.max(), [1.0]])
                A_eq = np.hstack([A_eq, np.zeros((1, 1))])
                bounds = bounds + [(0.0, None)]
            eq_scale = np.max(np.abs(A_eq))
            for method in ("highs-ds", "highs-ipm"):
                res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq / eq_scale, b_eq=b_eq / eq_scale,
                              bounds=bounds, method=method)
                if res.status == 0:
                    v = np.maximum(res.x, 1.0)
                    s1[rr, :, n] = m1 * v[:A]
                    s2[rr, :, n] = m2 * v[A:2 * A]
                    break
            else:
                failures += 1
            bar.update(1)
    bar.close()
    return s1, s2, failures


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
             mu: float = 1.0, slopes=None, minimax: bool | None = None) -> Block1D:
    """Build the chain-free Yun block on sorted scalar positions (see module docstring).

    Args:
      t: (M,) strictly increasing positions (float64, or object array of rationals for exact mode).
      y: (M, dy) labels in [-1, 1] (same number type as t).
      n_groups: A (layer 1 gets 4A ReLUs).  pairs: B (layer 2 gets 4B*dy ReLUs).  Needs M <= 4AB.
      left, right: nearest data positions outside the block, or None; all kinks lie strictly inside.
      convention: "plain" (out = y at the block's points) or "deep" (out = 1 + y there and out = 0
        at every t <= left or t >= right, so blocks can be summed).
      mu: saturation margin: neighbours of an owned point are pushed to |z| >= 1 + mu.
      slopes: optional (s1, s2) float arrays of shape (dy, A, H) to reuse the free choices of an
        earlier (float) build; they are raised to the required minimum where needed.
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
    V = cap - M
    if V:
        if right is None:
            step = _const(gap_med, t)
        else:
            step = (right - t[-1]) / _const(V + 1, t)
        extra = np.array([t[-1] + step * _const(i + 1, t) for i in range(V)], dtype=t.dtype)
        T = np.concatenate([t, extra])
        Y = np.concatenate([y, np.full((V, dy), zero, dtype=y.dtype)])
    else:
        T, Y = t, y
    left_pos = left if left is not None else T[0] - _const(gap_med, t)
    right_pos = right if right is not None else T[-1] + _const(gap_med, t)

    # --- kinks (4 per group): l, c, c', r ------------------------------------------------
    first = T[0::G]
    last = T[G - 1::G]
    prev = np.concatenate([np.array([left_pos], dtype=T.dtype), last[:-1]])
    nxt = np.concatenate([first[1:], np.array([right_pos], dtype=T.dtype)])
    f_last = T[H - 1::G]
    s_first = T[H::G]
    # Two kinks share each inner gap (a, b): they sit L apart with L a power of two (the segment
    # lengths divide slopes, so every weight stays a dyadic rational: fast exact arithmetic) and
    # at least 5% of the gap from the data.  The two outermost kinks sit QUARTER of their gap out.
    c, c2 = _kink_pair(f_last, s_first, exact)
    r_in, l_in = _kink_pair(last[:-1], first[1:], exact)
    l = np.concatenate([np.array([first[0] - (first[0] - prev[0]) * quarter], dtype=T.dtype), l_in])
    r = np.concatenate([r_in, np.array([last[-1] + (nxt[-1] - last[-1]) * quarter], dtype=T.dtype)])
    kinks = np.stack([l, c, c2, r], axis=1).reshape(-1)  # (4A,)
    kgap = np.stack([first - prev, s_first - f_last, s_first - f_last, nxt - last], axis=1).reshape(-1)

    # --- layer 2: geometry per (group j, level n), arrays of shape (A, H) --------------------
    sigma = np.where(np.arange(H) % 2 == 0, 1.0, -1.0)
    sig_ = to_exact(sigma) if exact else sigma
    n_idx = np.arange(H)[None, :]
    base = (np.arange(A) * G)[:, None]
    p = base + n_idx
    q = base + G - 1 - n_idx
    tp, tq = T[p], T[q]
    has_pl = np.broadcast_to(n_idx >= 1, p.shape)      # p has a left neighbour inside F_j
    has_pr = np.broadcast_to(n_idx <= H - 2, p.shape)  # ... a right neighbour inside F_j
    has_ql = has_pr                                    # q has a left neighbour inside S_j
    has_qr = has_pl
    gpl = np.where(has_pl, tp - T[np.maximum(p - 1, 0)], one)
    gpr = np.where(has_pr, T[np.minimum(p + 1, T.size - 1)] - tp, one)
    gql = np.where(has_ql, tq - T[np.maximum(q - 1, 0)], one)
    gqr = np.where(has_qr, T[np.minimum(q + 1, T.size - 1)] - tq, one)
    Pd = tp - l[:, None]          # from the group's left kink to p
    Cp = c[:, None] - tp          # from p to the apex start
    Cq = tq - c2[:, None]         # from the apex end to q
    Rd = r[:, None] - tq          # from q to the group's right kink
    Lc = (c2 - c)[:, None]        # apex segment length
    Lb = l[1:] - r[:-1]           # between-group segment lengths (A-1,)
    yp = Y[p].transpose(2, 0, 1) * sig_[None, None, :]  # (dy, A, H), normalised frame
    yq = Y[q].transpose(2, 0, 1) * sig_[None, None, :]
    # smallest slopes that push every neighbour of p (q) to |z| >= 1 + mu on the right side
    s1min = _wmax(np.where(has_pl, (one + mu_ + yp) / gpl, zero), np.where(has_pr, (one + mu_ - yp) / gpr, zero))
    s2min = _wmax(np.where(has_ql, (one + mu_ - yq) / gql, zero), np.where(has_qr, (one + mu_ + yq) / gqr, zero))
    s1min[:, 0] = _wmax(s1min[:, 0], (one + mu_ + yp[:, 0]) / Pd[0])     # saturated left of the block
    s2min[:, -1] = _wmax(s2min[:, -1], (one + mu_ + yq[:, -1]) / Rd[-1])  # ... and right of it
    if exact:  # any slope above the minimum will do: take the next float up (a dyadic rational)
        s1min, s2min = _dyadic_ceil(s1min), _dyadic_ceil(s2min)
    P = A // 2  # the apex of group P is the pivot segment (slope exactly 0)
    n_left = 4 * P + 2  # kinks 0..4P+1 face left, the rest face right
    if slopes is None:
        kf = _to_float(kinks) if exact else kinks
        tf_all = _to_float(T) if exact else T
        reach = np.where(np.arange(4 * A) < n_left, kf - tf_all[0], tf_all[-1] - kf)
        reach = reach + 0.05 * (tf_all[-1] - tf_all[0] + 1e-300)
        left_facing = np.arange(4 * A) < n_left

        def amp(n):
            own = np.concatenate([np.arange(A) * G + n, np.arange(A) * G + G - 1 - n])
            ti = tf_all[own][:, None]
            active = np.where(left_facing[None, :], ti < kf[None, :], ti > kf[None, :])
            return (np.abs(ti - kf[None, :]) + np.abs(ti) + np.abs(kf[None, :])) * active

        use_minimax = minimax if minimax is not None else A <= MINIMAX_MAX_GROUPS
        s1f, s2f, lp_failures = _optimise_slopes(*(np.asarray(v, dtype=np.float64) if not exact else _to_float(v)
                                      for v in (s1min, s2min, yp, yq, Pd, Cp, Cq, Rd, Lc, Lb)), reach=reach,
                                                 amp=amp if use_minimax else None)
    else:
        s1f, s2f = slopes
        lp_failures = 0
    s1 = _wmax(to_exact(s1f) if exact else np.asarray(s1f, dtype=np.float64), s1min)
    s2 = _wmax(to_exact(s2f) if exact else np.asarray(s2f, dtype=np.float64), s2min)
    # the pivot group's two lines must meet at one apex value: raise the lower one
    a1 = yp[:, P] + s1[:, P] * Cp[P]
    a2 = yq[:, P] + s2[:, P] * Cq[P]
    raise1 = a1 < a2
    s1[:, P] = np.where(raise1, (a2 - yp[:, P]) / Cp[P], s1[:, P])
    s2[:, P] = np.where(raise1, s2[:, P], (a1 - yq[:, P]) / Cq[P])
    A1 = yp + s1 * Cp
    A2 = yq + s2 * Cq
    o_in = yp - s1 * Pd           # value at l_j
    e_out = yq - s2 * Rd          # value at r_j
    apex_slope = (A2 - A1) / Lc
    apex_slope[:, P] = zero
    slopes_seg = np.empty((dy, H, 4 * A + 1), dtype=T.dtype)  # slope on each segment
    slopes_seg[:, :, 0] = zero
    slopes_seg[:, :, 1:4 * A:4] = s1.transpose(0, 2, 1)
    slopes_seg[:, :, 2:4 * A:4] = apex_slope.transpose(0, 2, 1)
    slopes_seg[:, :, 3:4 * A:4] = (-s2).transpose(0, 2, 1)
    if A > 1:
        slopes_seg[:, :, 4:4 * A:4] = ((o_in[:, 1:] - e_out[:, :-1]) / Lb[None, :, None]).transpose(0, 2, 1)
    slopes_seg[:, :, 4 * A] = zero
    apex_vals = _wmax(A1, A2).transpose(0, 2, 1)  # (dy, H, A)
    slopes = slopes_seg
    chosen = (np.asarray(s1, dtype=np.float64) if not exact else None, np.asarray(s2, dtype=np.float64) if not exact else None)
    ends = np.stack([o_in, e_out], axis=-1)
    # --- ReLU representation: pivot at the apex of the middle group ----------------------
    sign = np.where(np.arange(4 * A) < n_left, -1.0, 1.0)
    delta = slopes[:, :, 1:] - slopes[:, :, :-1]  # (dy, H, 4A) slope change at each kink
    pivot_val = apex_vals[:, :, P]  # z on the pivot segment (normalised frame)
    alpha = _pow2_inverse(kgap, exact)  # a power of two within a factor 2 of 1/gap
    # actual z_n = sigma_n * z'_n; w2[k, (rr, n)] = sigma_n * delta / alpha_k
    w_hn = delta * sig_[None, :, None] / alpha[None, None, :]  # (dy, H, 4A)
    b_hn = pivot_val * sig_[None, :]  # (dy, H)
    K = 4 * A
    w2 = np.empty((K, dy * H * 2), dtype=T.dtype)
    b2 = np.empty((dy * H * 2,), dtype=T.dtype)
    w3 = np.full((dy * H * 2, dy), zero, dtype=T.dtype)
    for rr in range(dy):
        for n in range(H):
            col = 2 * (rr * H + n)
            w2[:, col] = w_hn[rr, n]
            w2[:, col + 1] = w_hn[rr, n]
            b2[col] = b_hn[rr, n] + one
            b2[col + 1] = b_hn[rr, n] - one
            w3[col, rr] = one
            w3[col + 1, rr] = -one
    b3_val = -(H + 1) if convention == "plain" else -H
    b3 = np.full((dy,), _const(float(b3_val), t), dtype=T.dtype)
    sign_arr = to_exact(sign) if exact else sign
    if not exact:
        info = {
            "virtual_points": int(V),
            "max_abs_slope": float(np.max(np.abs(slopes))),
            "sum_abs_slope_change_max": float(np.max(np.sum(np.abs(delta), axis=2))),
            "max_required_slope": float(max(np.max(s1min), np.max(s2min))),
            "max_depth": float(np.max(np.abs(ends))),
            "max_apex": float(np.max(np.abs(apex_vals))),
            "slopes": chosen,
            "lp_failures": int(lp_failures),
        }
    else:
        info = {"virtual_points": int(V)}
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

    The free choices (projection u, and the slopes chosen by the float build's optimiser) are
    taken from the float64 build and converted exactly; everything that must hold *exactly*
    (projections, kinks, minimum slopes, apex matching, every weight) is recomputed in
    rationals from the exact data.  Returns (kernels, biases) as object arrays of rationals.
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
    res.notes.append(f"method: the construction carried out in exact rationals (same projection and slopes as the "
                     f"float build; NET.npz holds its float64 rounding) and evaluated exactly at every point; "
                     f"exact construction {t_build:.2f} s, exact evaluation {res.seconds:.2f} s")
    res.seconds += t_build
    return res


register("yun3", build, "Yun-Sra-Jadbabaie tight 3-layer memorizer (chain-free, well-conditioned reconstruction)",
         theorem="yun3-relu", certify=certify_exact, widths_help="D1,D2 with 4*floor(D1/4)*floor(D2/(4*dy)) >= N")
