"""The 1-D block gadget of the tight 3-layer memorizer (steps 2-5 of :mod:`capacity.constructions.yun3`).

:func:`block_1d` takes sorted distinct positions t (floats or exact rationals) with labels and
builds layer 1 (four ReLUs per group), layer 2 (2B hard-tanh neurons per output, two ReLUs each)
and the output layer of a network of t alone, every kink value chosen by a linear program
(:func:`_optimise_values`).  The same code runs in float64 and on exact rationals.  Used by
yun3, yun-classify and yun-deep; :func:`check_block_widths` is the width condition of the
3-layer theorem for both activations.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Sequence

import numpy as np

from capacity.constructions._compensated import exact_pm_one, round_layer2
from capacity.constructions._numbers import const as _const, to_exact
from capacity.errors import CapacityError, ShapeError, WidthError
from theory.bounds import yun3_capacity, yun3_smallest_widths

QUARTER = 0.05  # the outermost kinks sit this fraction of their gap away from the data
# above this span / min-gap of the positions a failed layer-2 LP is blamed on the data (near-duplicates
# at float64 resolution), not reported as a bug: measured builds succeed at 3e9 (N = 1e5) and fail at ~1e16
_LP_SPAN_OVER_GAP_MAX = 1e12


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


def _own_points(n: int, A: int, B: int) -> np.ndarray:
    """Indices (increasing) of the points layer-2 neuron ``n`` owns: positions n and G-1-n of every group."""
    G = 4 * B
    g0 = np.arange(A) * G
    return np.column_stack([g0 + n, g0 + G - 1 - n]).ravel()


def _optimise_values(T, Y, k, A: int, B: int, sigma, convention: str, mu: float, *, workers: int | None = None,
                     min_work: int | None = None):
    """Per layer-2 neuron, its values at the kinks (and the slope after the last kink) by an LP.

    The neuron's pre-activation z is the continuous piecewise-linear interpolant of its kink
    values V_0..V_{K-1} (constant left of the first kink, slope s_R after the last).  Constraints
    (normalised Lambda frame, margin 1.25 mu so the exact correction below cannot break them):
    z = y at the neuron's two points of every group, z <= -1 - mu at the group's points outside
    them, z >= 1 + mu strictly between.  Objective: sum_k reach_k |slope change at kink k|, the
    terms that cancel when the network is evaluated (reach_k = how far right of kink k its ReLU
    stays active on the data).  HiGHS, called directly (dual simplex, then interior point if that
    fails); a neuron whose LP fails raises.

    Cost.  z is linear on a piece, so a run of same-class points inside one piece is constrained
    by its first and last point alone: only those rows enter the LP (O(A) rows instead of O(M)),
    found in O(A + K) work per neuron (:meth:`._lp_worker.NeuronLPs.rows_of`).  One HiGHS
    instance per process is reused, cleared before each solve (a cold start: the same solution
    as a fresh solver).

    Processes.  The LPs are independent, so a large block solves them on worker processes: by
    default as many as the usable cores (``os.sched_getaffinity``), or ``$CAPACITY_LP_WORKERS``
    (1: all in this process), or the ``workers`` keyword, and only when neurons x kinks >=
    ``min_work`` (default :data:`capacity._resources.LP_PROCESS_MIN_WORK`, about two seconds of
    LPs): see :func:`capacity._resources.lp_workers`.  Workers run the same
    :meth:`._lp_worker.NeuronLPs.solve` on the same arrays (shipped once), so the values are
    bitwise those of the serial path.  If a worker cannot be started or dies, the remaining LPs
    are solved here (with a warning).  Measured on the idle 2-core machine at N = 1e6 (1000 LPs
    of 2001 kinks): the whole build 38 s on two processes, 43 s on two threads (highspy 1.16
    releases the GIL in ``run``, but the row selection and the model hand-over hold it), 71 s
    serially.  On a machine shared with other sessions neither helps much: Linux's autogroup
    scheduling gives each session an equal share of the cores, however many processes it runs.

    Returns values with values[r][n] = (V (K,), s_R) as floats (an infeasible LP raises: it is a bug).
    """
    from scipy.sparse import coo_matrix, diags, vstack
    from tqdm import tqdm

    from capacity._resources import lp_workers

    H = 2 * B
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
    slope_rows = vstack([diags(1.0 / w) @ D + tau, -(diags(1.0 / w) @ D) + tau]).tocsr()
    reach = (T[-1] - k) + 0.05 * (T[-1] - T[0] + 1e-300)
    cost = np.r_[np.zeros(K + 1), w * np.maximum(reach, 0.05 * (T[-1] - T[0] + 1e-300))]
    cost = cost / cost.max()
    m = 1.0 + 1.25 * mu
    lb = np.r_[np.full(K + 1, -np.inf), np.zeros(K)]
    ub = np.full(nv, np.inf)
    if convention == "deep":
        ub[0] = -m
        ub[K - 1] = -m
        lb[K] = ub[K] = 0.0
    shared = dict(zp=Z.indptr, zi=Z.indices, zd=Z.data, sp=slope_rows.indptr, si=slope_rows.indices,
                  sd=slope_rows.data, piece=piece, cost=cost, lb=lb, ub=ub, m=m, Y=np.ascontiguousarray(Y),
                  sigma=np.asarray(sigma, dtype=np.float64), A=A, B=B, K=K)

    tasks = [(rr, n) for rr in range(dy) for n in range(H)]
    procs = lp_workers(len(tasks), K, workers, min_work)
    bar = tqdm(total=len(tasks), desc="yun3: layer-2 values (one LP per neuron)", unit="neuron", file=sys.stderr,
               disable=None if dy * H * K >= 4000 else True, leave=False)
    try:
        results = _solve_lps(shared, tasks, procs, lambda: bar.update(1))
    except CapacityError as err:
        gaps = np.diff(T)
        ratio = float((T[-1] - T[0]) / gaps.min()) if gaps.size and gaps.min() > 0 else math.inf
        if ratio > _LP_SPAN_OVER_GAP_MAX:
            raise CapacityError(
                f"two inputs project too close together for the float64 build: the smallest projected gap is "
                f"{1 / ratio:.1e} of the span (span/min-gap {ratio:.1e}; the layer-2 linear programs need slopes "
                f"of that order and fail). Inputs this close are near-duplicates at float64 resolution: "
                f"deduplicate or perturb them, or rescale the coordinate that separates them") from err
        raise
    finally:
        bar.close()
    values = [[None] * H for _ in range(dy)]
    for (rr, n), (V, sR, _msg) in zip(tasks, results):
        values[rr][n] = (V, sR)
    return values


def _lp_failed(n: int, msg: str) -> CapacityError:
    return CapacityError(f"yun3: the linear program for layer-2 neuron {n} failed ({msg}); "
                         "this is a bug for data that passed validation, please report it")


def _solve_lps(shared: dict, tasks, workers: int, progress) -> list:
    """Each task (rr, n)'s (V, s_R, message) by :meth:`._lp_worker.NeuronLPs.solve`, in task order:
    in this process when ``workers`` <= 1, else on ``workers`` processes.  ``progress()`` is called
    once per solved LP.  The first failed LP in task order raises (the same error on both paths).
    """
    import highspy

    from capacity.constructions._lp_worker import NeuronLPs

    results = [None] * len(tasks)
    if workers > 1 and len(tasks) > 1:
        try:
            return _solve_on_processes(shared, tasks, workers, progress, results)
        except _WorkersFailed as e:  # results holds what the workers answered
            import warnings

            warnings.warn(f"{e}; solving the remaining linear programs in this process", RuntimeWarning, stacklevel=3)
    lps, highs = NeuronLPs(**shared), highspy._Highs()
    for i, (rr, n) in enumerate(tasks):
        if results[i] is None:
            results[i] = lps.solve(rr, n, highs)
            progress()
        if results[i][0] is None:
            raise _lp_failed(n, results[i][2])
    return results


class _WorkersFailed(Exception):
    """A worker process could not be started, or died (not a failed LP)."""


def _solve_on_processes(shared: dict, tasks, workers: int, progress, results: list) -> list:
    """:func:`_solve_lps` on ``workers`` processes (``python -c _lp_worker.BOOT``; not forked: the
    parent has JAX's threads).  Each gets ``shared`` once, then tasks, two at a time (it never
    waits for the next), the next one going to whichever answers first.  Fills ``results`` (all
    None) in place, so that the caller can finish what a dead worker left.  Whatever happens (an
    error, Ctrl-C), the workers are ended and reaped before this returns or raises.
    """
    import subprocess
    from multiprocessing import Pipe
    from multiprocessing.connection import wait

    from capacity.constructions import _lp_worker

    if not sys.executable:
        raise _WorkersFailed("no Python executable to start worker processes with")
    workers = min(workers, len(tasks))
    procs, conns, busy = [], [], {}
    ok = False
    try:
        try:
            for _ in range(workers):
                ours, theirs = Pipe()  # a connected socket pair
                fd = theirs.fileno()
                procs.append(subprocess.Popen([sys.executable, "-c", _lp_worker.BOOT, _lp_worker.__file__, str(fd)],
                                              pass_fds=(fd,), stdin=subprocess.DEVNULL))
                theirs.close()
                conns.append(ours)
                busy[ours] = 0
        except (OSError, ValueError) as e:  # ValueError: no pass_fds on this platform
            raise _WorkersFailed(f"could not start {workers} linear-program worker processes ({e})") from e
        failed = []
        nxt = 0

        def feed(c):
            nonlocal nxt
            while busy[c] < 2 and nxt < len(tasks) and not failed:
                c.send((nxt, *tasks[nxt]))
                nxt += 1
                busy[c] += 1

        try:
            for c in conns:  # the first worker starts solving while the next receives the arrays
                c.send(shared)
                feed(c)
        except OSError as e:
            code = [p.poll() for p in procs]
            raise _WorkersFailed(f"a linear-program worker process did not take its data (exit codes {code})") from e
        while any(busy.values()):
            for c in wait([c for c in conns if busy[c]]):
                try:
                    msg = c.recv()
                    if msg[0] == "error":
                        raise _WorkersFailed(f"a linear-program worker process failed:\n{msg[1]}")
                    i, res = msg
                    busy[c] -= 1
                    results[i] = res
                    if res[0] is None:
                        failed.append(i)
                    else:
                        progress()
                    feed(c)
                except (EOFError, OSError) as e:
                    code = procs[conns.index(c)].poll()
                    raise _WorkersFailed(f"a linear-program worker process died (exit code {code})") from e
        if failed:
            i = min(failed)  # every task before it was sent, and none of those failed: what the serial path raises
            raise _lp_failed(tasks[i][1], results[i][2])
        ok = True
        return results
    finally:
        for c in conns:
            try:
                if ok:
                    c.send(None)
            except OSError:
                pass
            c.close()
        for p in procs:
            if not ok:
                p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _impose_equalities(V, sR, ys, t_own, piece_own, kinks, L, exact: bool):
    """Re-impose z = y at the owned points, left to right (at most one equality per piece).

    Each owned point fixes the value at its piece's right kink from the one at its left kink
    (or the slope after the last kink).  In float64 the same operations run on Python floats
    (identical IEEE results, without NumPy's per-scalar overhead).
    """
    K = kinks.shape[0]
    if not exact:
        V, ys, t_own, kinks, L = V.tolist(), ys.tolist(), t_own.tolist(), kinks.tolist(), L.tolist()
    for yi, ti, pi in zip(ys, t_own, piece_own.tolist()):
        if 1 <= pi <= K - 1:
            V[pi] = V[pi - 1] + (yi - V[pi - 1]) * L[pi - 1] / (ti - kinks[pi - 1])
        elif pi == K:
            sR = (yi - V[K - 1]) / (ti - kinks[K - 1])
    return (V, sR) if exact else (np.array(V, dtype=np.float64), float(sR))


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


def block_1d(t, y, n_groups: int, pairs: int, *, left=None, right=None, convention: str = "plain",
             mu: float = 1.0, slopes=None, t_lo=None) -> Block1D:
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
      t_lo: optional (M,) low parts of float positions (t + t_lo ~ the positions layer 1 computes
        exactly, e.g. :func:`._compensated.dot_residual`); given, layer 2 is rounded with
        compensation (:func:`._compensated.round_layer2`) so that the stored float64 weights fit
        the labels when evaluated exactly, not just the design.  Float mode only.
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
        values = _optimise_values(tf, yf, kf, A, B, sigma, convention, mu)
    else:
        values = slopes["values"]
    # --- exact equalities and weights (in the block's number type) ----------------------------
    piece = np.searchsorted(kf, tf)  # piece of each point: 0 (left of all kinks) .. K
    L = kinks[1:] - kinks[:-1]
    alpha = _pow2_inverse(_local_gaps(kf), exact)
    sig_ = to_exact(sigma) if exact else sigma
    w2 = np.empty((K, dy * H * 2), dtype=T.dtype)
    b2 = np.empty((dy * H * 2,), dtype=T.dtype)
    w3 = np.full((dy * H * 2, dy), zero, dtype=T.dtype)
    max_sum, max_slope, max_depth = 0.0, 0.0, 0.0
    compensate = t_lo is not None and not exact
    if compensate:
        comp_values = np.empty((K, dy * H))
        comp_last = np.empty(dy * H)
        comp_own = np.full((K, dy * H), -1, dtype=np.int64)
    for rr in range(dy):
        for n in range(H):
            V0, sR0 = values[rr][n]
            V = to_exact(V0) if exact else np.array(V0, dtype=np.float64)
            sR = to_exact(np.array(sR0))[()] if exact else float(sR0)
            own = _own_points(n, A, B)
            V, sR = _impose_equalities(V, sR, Y[own, rr] * sig_[n], T[own], piece[own], kinks, L, exact)
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
            if compensate:
                c = rr * H + n
                comp_values[:, c] = V * sigma[n]
                comp_last[c] = sR * sigma[n]
                inside = piece[own] >= 1
                comp_own[piece[own][inside] - 1, c] = own[inside]
            if not exact:
                max_sum = max(max_sum, float(np.sum(np.abs(delta))))
                max_slope = max(max_slope, float(np.max(np.abs(slope))))
                max_depth = max(max_depth, float(np.max(np.abs(V))))
    if compensate:
        beta = exact_pm_one(comp_values[0])
        T_lo = np.concatenate([np.asarray(t_lo, dtype=np.float64), np.zeros(V_pad)])
        wc = round_layer2(kinks, alpha, comp_values, comp_last, comp_own, T, T_lo,
                          Y, np.repeat(np.arange(dy), H), beta)
        w2[:, 0::2] = wc
        w2[:, 1::2] = wc
        b2[0::2] = beta + 1.0
        b2[1::2] = beta - 1.0
    b3_val = -(H + 1) if convention == "plain" else -H
    b3 = np.full((dy,), _const(float(b3_val), t), dtype=T.dtype)
    sign_arr = to_exact(np.ones(K)) if exact else np.ones(K)
    info = {"virtual_points": int(V_pad),
            "slopes": {"values": values, "gaps": gap_choice}}
    if not exact:
        info.update(max_abs_slope=max_slope, sum_abs_slope_change_max=max_sum, max_depth=max_depth)
    return Block1D(kink=kinks, sign=sign_arr, alpha=alpha, w2=w2, b2=b2, w3=w3, b3=b3, info=info)



def check_block_widths(n: int, widths: Sequence[int], dy: int, activation: str = "relu") -> tuple[int, int]:
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
