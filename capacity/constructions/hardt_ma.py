"""Hardt & Ma, "Identity Matters in Deep Learning" (ICLR 2017), Theorem 3.2: residual memorizer.

**Theorem** (full text read; constructions-survey.md §2.5).  Assumption 3.1: inputs of unit
norm, pairwise distance at least a constant ρ; r classes encoded one-hot; r, d < n.  Then a
residual network h_0 = A_0 x, h_j = h_{j-1} + V_j ReLU(U_j h_{j-1} + s_j), with hidden width
k = O(log n) (constant depending on ρ) and ⌈n/k⌉ blocks, plus a final map to ℝ^r, maps
every x_i exactly to its one-hot label; O(n log n + r²) parameters.  Key step (their
Lemma B.1): one block moves k chosen hidden vectors to k arbitrary targets and leaves the
other n - k unchanged.

**What this module builds** (format :mod:`capacity.networks`, ``kind = "residual"``; stream
width D = k + r: k "hidden" coordinates plus r output coordinates, initially 0):

1. ``A_0``: if dx <= k, the exact embedding x ↦ (x, 0) (unit norm and distances preserved
   exactly); otherwise a seeded Gaussian k×dx projection / √k (Johnson–Lindenstrauss, as in
   the paper), after which the separation condition below is re-checked.
2. ``surrogates``: r random unit vectors q_c ∈ ℝ^k with ⟨q_c, q_c'⟩ < 1/2 (Hardt–Ma need
   k > 4 log r for this; we draw until it holds and raise :class:`WidthError` if k is too small).
3. ``blocks`` (Lemma B.1, **our diagonal variant, RECONSTRUCTED**): block j takes the next k
   points i_1..i_k; unit l has weight row h_{i_l} and bias
   s_l = -(‖h_{i_l}‖² + max_{v ≠ h_{i_l}} ⟨h_{i_l}, v⟩)/2, the max over all other points and all
   surrogates.  Every other current vector (unmoved points, and moved points now at some
   q_c) gives a negative pre-activation, so the activation matrix on the chosen points is
   diagonal, a_l = (‖h_{i_l}‖² - max⟨·⟩)/2 > 0, and V sends h_{i_l} to q_{y_{i_l}}.  The
   *separation condition checked* is exactly min_i (‖h_i‖² - max_{v≠h_i}⟨h_i, v⟩) > 0 with a
   float64 margin; for unit vectors it equals ρ²/2 (and the surrogate terms).
4. ``read-out block``: 2r units ReLU(4⟨q_c, h⟩ - 2) - ReLU(4⟨q_c, h⟩ - 3) written into output
   coordinate k + c: exactly 1 when ⟨q_c, h⟩ >= 3/4, exactly 0 when <= 1/2, so the stored
   float64 network gives the one-hot vector *exactly* at every point (not just within
   rounding).  Linear read-out R selects the r output coordinates.  This replaces Hardt–Ma's
   final r×r block (O(kr) instead of O(r²) parameters; a deliberate change).

All blocks have max(k, 2r) units (the format stacks equal-width blocks); padding units have
zero weights and bias -1 (never active).  ``widths`` = [k] (default max(⌈2 log2 N⌉, min(dx, 64)), at least 2);
``rho``: the assumed separation constant; with ``rho`` given, a pair closer than ρ raises
:class:`SeparationError` naming it.  Inputs not of unit norm raise :class:`DataError`.

**Certification** (:func:`certify`): exact integer evaluation of the stored float64 residual
network (python-flint ``fmpz_mat`` products; activations decided exactly), against the
one-hot targets: ``certified-exact`` when the exact residual is 0.
"""

from __future__ import annotations

import math
import time

import numpy as np

from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, DataError, SeparationError, ShapeError, WidthError
from capacity.networks import ResidualNet, ResidualParams


def default_k(n: int, dx: int = 1) -> int:
    """max(⌈2 log2 N⌉, min(dx, 64)): the exact embedding when dx is small, else O(log N)."""
    return max(2, math.ceil(2 * math.log2(max(n, 2))), min(dx, 64))


def min_distance_pair(x: np.ndarray, chunk: int = 1024) -> tuple[float, int, int]:
    """(min pairwise distance, i, j) in O(N²) chunked float64."""
    n = x.shape[0]
    best, bi, bj = math.inf, 0, 0
    sq = np.sum(x * x, axis=1)
    for s in range(0, n, chunk):
        blk = x[s:s + chunk]
        d2 = sq[s:s + chunk, None] + sq[None, :] - 2 * blk @ x.T
        rows = np.arange(blk.shape[0])
        d2[rows, s + rows] = np.inf
        d2[:, :s] = np.inf  # each pair once (j > i handled in later chunks too; keep j >= s)
        k = int(np.argmin(d2))
        r, c = divmod(k, n)
        if d2[r, c] < best:
            best, bi, bj = float(d2[r, c]), s + r, c
    return math.sqrt(max(best, 0.0)), bi, bj


def _surrogates(k: int, r: int, rng) -> np.ndarray:
    for _ in range(200):
        q = rng.standard_normal((r, k))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        g = q @ q.T
        np.fill_diagonal(g, -1)
        if r == 1 or g.max() < 0.5 - 1e-9:
            return q
    raise WidthError(f"hardt-ma: could not draw {r} unit surrogate labels in R^{k} with pairwise inner products "
                     f"< 1/2; use a larger width k (Hardt & Ma need k > 4 log r, e.g. widths [{max(k + 1, 4 * math.ceil(math.log(r + 1)) + 2)}])")


def build(dataset: Dataset, widths=None, *, activation: str = "relu", seed: int = 0, rho: float | None = None,
          **opts) -> Construction:
    """Hardt–Ma residual memorizer (module docstring).  widths: None or [k]."""
    if activation != "relu":
        raise CapacityError(f"hardt-ma is a ReLU residual construction; got activation {activation!r}")
    if opts:
        raise CapacityError(f"hardt-ma: unknown options {sorted(opts)}")
    ds = dataset
    if not ds.is_classification:
        raise ShapeError("hardt-ma memorizes one-hot class labels: give integer class labels")
    n, dx = ds.n, ds.dx
    r = max(ds.dy, 1)
    if widths and len(widths) != 1:
        raise WidthError(f"hardt-ma takes one width (the block width k); got {list(widths)}")
    k = int(widths[0]) if widths else default_k(n, dx)
    if k < 2:
        raise WidthError(f"hardt-ma needs block width k >= 2; got {k}. Use widths [{default_k(n, dx)}]")
    x = ds.x
    norms = np.linalg.norm(x, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1) > 1e-12)
    if bad.size:
        raise DataError(f"hardt-ma assumes unit-norm inputs (Assumption 3.1); rows {bad[:8].tolist()} have norms "
                        f"{np.round(norms[bad[:3]], 6).tolist()}. Normalise the rows (x / ||x||) first")
    t0 = time.perf_counter()
    dist, pi, pj = min_distance_pair(x) if n > 1 else (math.inf, 0, 0)
    if rho is not None and dist < rho:
        raise SeparationError(f"points {pi} and {pj} are at distance {dist:.3e} < rho = {rho:g}: Hardt-Ma's "
                              "separation assumption fails. Remove one of them or lower rho")
    rng = np.random.default_rng([seed, 0x48414D41])  # own stream: never the data generator's draws
    if dx <= k:
        a0 = np.zeros((dx, k))
        a0[:, :dx] = np.eye(dx)
        projection = "embedding"
    else:
        a0 = rng.standard_normal((dx, k)) / math.sqrt(k)
        projection = "gaussian"
    h = x @ a0  # (n, k); exact for the embedding
    q = _surrogates(k, r, rng)
    # the separation condition: gap_i = |h_i|^2 - max_{v != h_i} <h_i, v> > 0 (v over points and surrogates)
    gram_q = h @ q.T  # (n, r)
    sq = np.sum(h * h, axis=1)
    max_other = gram_q.max(axis=1)
    for s in range(0, n, 1024):
        g = h[s:s + 1024] @ h.T
        rows = np.arange(g.shape[0])
        g[rows, s + rows] = -np.inf
        max_other[s:s + 1024] = np.maximum(max_other[s:s + 1024], g.max(axis=1))
    gap = sq - max_other
    floor = 1e3 * np.finfo(np.float64).eps * (sq + 1)
    worst = int(np.argmin(gap / floor))
    if gap[worst] <= floor[worst]:
        raise SeparationError(
            f"point {worst}: after the {projection} to k = {k} dimensions its margin |h|^2 - max<h, v> = "
            f"{gap[worst]:.3e} is not positive beyond float64 resolution (min pairwise input distance {dist:.3e}, "
            f"points {pi}, {pj}); Hardt-Ma's separation fails here. Use a larger k (widths) or separated data")
    units = max(k, 2 * r)
    d = k + r
    n_blocks = math.ceil(n / k)
    order = np.random.default_rng(seed + 7).permutation(n)
    U = np.zeros((n_blocks + 1, d, units))
    S = np.full((n_blocks + 1, units), -1.0)
    V = np.zeros((n_blocks + 1, units, d))
    act_min = math.inf
    for b in range(n_blocks):
        chosen = order[b * k:(b + 1) * k]
        for l, i in enumerate(chosen):
            thr = (sq[i] + max_other[i]) / 2
            U[b, :k, l] = h[i]
            S[b, l] = -thr
            a = sq[i] - thr  # float estimate; the exact value is what the certification uses
            V[b, l, :k] = (q[ds.y[i]] - h[i]) / a
            act_min = min(act_min, a)
    # read-out block: ReLU(4<q_c,h> - 2) - ReLU(4<q_c,h> - 3) into coordinate k + c
    for c in range(r):
        U[n_blocks, :k, 2 * c] = 4 * q[c]
        U[n_blocks, :k, 2 * c + 1] = 4 * q[c]
        S[n_blocks, 2 * c], S[n_blocks, 2 * c + 1] = -2.0, -3.0
        V[n_blocks, 2 * c, k + c], V[n_blocks, 2 * c + 1, k + c] = 1.0, -1.0
    w_in = np.zeros((dx, d))
    w_in[:, :k] = a0
    b_in = np.zeros(d)
    R = np.zeros((d, r))
    R[k:, :] = np.eye(r)
    c_out = np.zeros(r)
    record = {
        "theorem": "hardt-ma2017", "k": k, "stream_width": d, "classes": r, "blocks": n_blocks + 1,
        "retarget_blocks": n_blocks, "units_per_block": units, "hidden_relus": (n_blocks + 1) * units,
        "projection": projection, "min_input_distance": dist, "rho": rho,
        "min_margin": float(gap.min()), "min_activation": float(act_min),
        "max_abs_V": float(np.abs(V).max()), "surrogate_max_inner": float((q @ q.T - 2 * np.eye(r)).max()) if r > 1 else None,
        "params_formula_N_logN_plus_r2": None, "seconds": time.perf_counter() - t0,
    }
    return Construction("hardt-ma", ResidualNet(ResidualParams(w_in, b_in, U, S, V, R, c_out)), record)


register("hardt-ma", build, "Hardt & Ma 2017: residual blocks re-targeting k = O(log N) points each, one-hot classes",
         theorem="hardt-ma2017", normalize=False)  # its assumption is about the scale: unit-norm inputs
