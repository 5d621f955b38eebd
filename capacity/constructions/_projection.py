"""The projection gadget: one direction u whose projections t_i = u.x_i separate the data well.

Shared by the one-projection constructions (yun3, its hard-tanh variant, yun-classify,
yun-deep).  Quality is span / min gap of the sorted projections: the float64 residual of
every network whose first layer computes one projection tracks eps * span / min-gap.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from capacity.constructions._lp_worker import highs_lp as _highs_lp
from capacity.data import Dataset
from capacity.errors import CapacityError



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


def _resorted_gaps(x, v, o):
    """Like :func:`_sorted_gaps` for a direction v near the one that ``o`` sorts.

    The projections are gathered in the old order (nearly sorted) and sorted stably from there:
    Timsort finds the few inversions in about linear time, instead of a full O(N log N) sort.
    Without ties among the projections the sorted order is unique, so (o, gaps, span) are those
    of :func:`_sorted_gaps`; with ties the min gap is 0 either way.
    """
    tv = (x @ v)[o]
    p = np.argsort(tv, kind="stable")
    ts = tv[p]
    return o[p], np.diff(ts), float(ts[-1] - ts[0])


def _one_blas_thread():
    """Single-threaded BLAS for the thin products x @ v, x @ U of the projection search
    (threadpoolctl, a dependency of scikit-learn, when present).  They are memory bound, and on
    the loaded 2-core machine a second BLAS thread made them 3-5x slower; each output entry is
    one dot product of length dx either way (checked bitwise equal at N = 1e5 and 1e6)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - only speed depends on it
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _smallest(g: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest entries of g in increasing order (ties: lower index first).

    A partial sort (argpartition, O(N)) of all gaps and a sort of the k selected, instead of a
    full argsort.
    """
    if k >= g.size:
        return np.argsort(g, kind="stable")
    idx = np.sort(np.argpartition(g, k - 1)[:k])
    return idx[np.argsort(g[idx], kind="stable")]


def refine_projection(x: np.ndarray, u: np.ndarray, iters: int = 200, k: int = 64) -> np.ndarray:
    """Locally increase min gap / span of the projections by a trust-region LP on u.

    At each step the ``k`` smallest consecutive gaps g_i = u.(x_b - x_a) are linearised in a
    step D (orthogonal to u, |D|_inf <= r) and min_i (g_i + D.(x_b - x_a)) is maximised
    (HiGHS).  The step is kept only if the true quality (over all pairs) improves; the radius
    grows on success and shrinks on failure.  A local method: it usually gains a factor
    2-5 over the best random direction when dx >= 3, nothing when dx = 1.

    Cost per step: one matrix-vector product, a re-sort of nearly sorted projections (about
    linear), a partial sort of the gaps and one small LP (HiGHS called directly).
    """
    import highspy

    dx = x.shape[1]
    if dx < 2 or x.shape[0] < 3:
        return u
    with _one_blas_thread():
        return _refine(x, u, iters, k, highspy._Highs())


def _refine(x, u, iters, k, highs):
    dx = x.shape[1]
    o, g, span = _sorted_gaps(x, u)
    q = span / g.min() if g.min() > 0 else math.inf
    r = 1e-3
    c = np.r_[np.zeros(dx), -1.0]
    for _ in range(iters):
        idx = _smallest(g, k)
        D = x[o[idx + 1]] - x[o[idx]]
        # rows: the k gap constraints (-D, 1) z <= g, then u.z = 0 (scipy's A_ub-then-A_eq order)
        A = np.r_[np.c_[-D, np.ones(idx.size)], np.r_[u, 0.0][None, :]]
        nz = A != 0  # sparse rows without explicit zeros, as scipy passes them
        lo = np.r_[np.full(idx.size, -np.inf), 0.0]
        hi = np.r_[g[idx], 0.0]
        lb = np.r_[np.full(dx, -r), -np.inf]
        ub = np.r_[np.full(dx, r), np.inf]
        z, _msg = _highs_lp(c, lb, ub, lo, hi, np.r_[0, np.cumsum(nz.sum(axis=1))], np.nonzero(nz)[1], A[nz],
                            rowwise=True, highs=highs)
        if z is not None:
            v = u + z[:dx]
            v = v / np.linalg.norm(v)
            ov, gv, sv = _resorted_gaps(x, v, o)
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
    with _one_blas_thread():  # x @ U: 3x faster on the loaded 2-core machine, same values
        return _choose(x, seed, trials, refine)


def _choose(x, seed, trials, refine):
    dx = x.shape[1]
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


def sorted_problem(ds: Dataset, seed: int, trials: int):
    """(u, t, order): the chosen projection, the projections and the stable sort order."""
    u, t = choose_projection(ds.x, seed=seed, trials=trials)
    order = np.argsort(t, kind="stable")
    return u, t, order
