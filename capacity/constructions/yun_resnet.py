r"""Residual networks memorize N points in general position with O(N/dx + dy) hidden ReLUs.

Theorem (Yun, Sra & Jadbabaie 2019, residual networks; exact statement UNCONFIRMED).
Let x_1..x_N in R^dx be in *general position* (no dx + 1 of them on one affine
hyperplane) with class labels y_i in {0..dy-1}.  A residual network with blocks
h <- h + V relu(U h + s) and a linear read-out whose branches hold

.. math::  3 \sum_k \lceil N_k / d_x \rceil \;\le\; 3 (N/d_x + d_y)

hidden ReLUs in total (N_k = number of points of class k) classifies every point
correctly; here it even outputs the exact one-hot vector (in exact arithmetic).

Provenance (``../shared/reference/yun2019-digest.md`` §7, §13 item 7): confirmed [P, R]
are only "general position" and "hidden nodes of order N/dx suffice"; the architecture,
the additive dy term, the constants and classification-vs-regression are UNCONFIRMED.
The construction below is RECONSTRUCTED (Baum-style slabs, digest §7) with one
deliberate change, stated here: instead of moving points along a direction e of the
input space and reading classes out with f_k = 2 C_k e.h - C_k^2, the stream carries
dy extra coordinates (h_0 = [x, 0] through the input map [I | 0]) and each block adds
to the coordinate of its class.  The read-out then returns that part of the stream,
which is *exactly* one-hot, so residuals (not only argmaxes) can be certified.  The
number of hidden ReLUs is unchanged; the stream is dx + dy wide instead of dx.

Construction (names as in the code)
-----------------------------------
1. *Chunks.*  Split the points of each class k (in a seeded random order) into
   ceil(N_k / m) chunks of at most m = ``chunk_size`` (default dx) points, sizes as
   equal as possible: sum_k ceil(N_k/m) <= N/m + dy chunks, one block each.
2. *Hyperplanes.*  For a chunk C, take a unit normal a orthogonal to the differences
   x_p - x_q (p, q in C) and b = mean_p a.x_p, so a.x - b = 0 on C (up to rounding).
   When |C| < dx the normal is free in a (dx - |C| + 1)-dimensional space: the best of
   ``normal_trials`` random choices (largest margin) is kept.
3. *Margins.*  g_C = min over all points j outside C of |a.x_j - b| > 0 by general
   position.  If g_C is not above the numerical threshold (64 gamma_{dx+1} times the
   scale of a.x - b), the data violate general position (to float64 resolution):
   :class:`GeneralPositionError` names the dx + 1 points (C plus the offending j).
   The chunking is redrawn ``tries`` times (keeping the one with the largest smallest
   margin) before giving up.
4. *Block (3 ReLUs, "tent").*  With s = a.h_x - b and w = g_C / 2:
   tau(s) = [relu(s + w) - 2 relu(s) + relu(s - w)] / w, which is 1 at s = 0 and 0 for
   |s| >= w; the block adds tau(s) to stream coordinate dx + k.  Every other data point
   has |s| >= 2w, so it is untouched (exactly 0, also in float64).  Option
   ``block="trapezoid"`` uses 4 ReLUs [relu(s+2w) - relu(s+w) - relu(s-w) + relu(s-2w)]/w
   with w = 2^floor(log2(g_C / 3)) and b rounded to a multiple of w 2^-20, so the flat
   top is exactly 1 even for the stored float weights and chunk points sit away from kinks.
5. *Read-out.*  f(h) = h[dx:] (kernel [0; I], bias 0).  The x part of the stream is
   never changed, so all blocks see the original inputs.

Widths: one hidden width w_b per residual block; a block holds floor(w_b / 3) tents
side by side (they never interact: the x part of the stream is fixed), the rest of its
units stay off.  Default (no widths): one 3-ReLU block per chunk.  Capacity
(``resnet_capacity``): C = sum_b floor(w_b/3) chunks cover every class split of N points
iff dy + floor((N - dy)/dx) <= C (the worst split puts all remainders in one class),
i.e. N <= C dx - (dy - 1)(dx - 1) when C >= dy, and N <= C otherwise.

Precision: the tent slopes are 2/g_C; g_C shrinks roughly like 1/(N * #blocks) for
Gaussian data, so max|V| grows like that.  The float64 residual on a chunk point is
about |rounding of a.x - b| / w (1e-10 at N = 2000, dx = 20).

Exact tier (:func:`exact_network`): the same chunks are re-solved in exact rationals
(the normal is the exact projection of the float normal onto the chunk's orthogonal
complement, the offset and tent width exact), general position of every chunk is checked
exactly, and the resulting rational network is evaluated by the one exact engine:
f(x_i) = one-hot(y_i) with residual exactly 0.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Sequence

import numpy as np

from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, DataError, GeneralPositionError, WidthError
from capacity.networks import ResidualNet, ResidualParams, check_params, gamma, unit_roundoff
from theory.bounds import resnet_capacity, resnet_smallest_blocks as smallest_chunks

BLOCKS = {"tent": 3, "trapezoid": 4}


# ----------------------------------------------------------------------- capacity


def blocks_needed(class_counts: Sequence[int], chunk_size: int) -> int:
    """sum_k ceil(N_k / m): the chunks (tents) this dataset needs."""
    return int(sum(-(-int(c) // int(chunk_size)) for c in class_counts if c > 0))


# ----------------------------------------------------------------------- geometry


@dataclasses.dataclass
class Chunk:
    cls: int
    idx: np.ndarray  # point indices (into the dataset)
    a: np.ndarray  # unit normal (dx,)
    b: float
    margin: float  # min |a.x_j - b| over points outside the chunk
    nearest: int  # the point attaining it


def _threshold(x: np.ndarray, a: np.ndarray, b: float) -> float:
    """Smallest |a.x - b| we trust to be non-zero: 64 gamma_{dx+1} (max |x| |a|_1 + |b|)."""
    dx = x.shape[1]
    scale = float(np.max(np.abs(x) @ np.abs(a))) + abs(b)
    return 64.0 * gamma(dx + 1, unit_roundoff(np.float64)) * scale


def _hyperplane(x: np.ndarray, idx: np.ndarray, rng, normal_trials: int):
    """Unit normal a and offset b of a hyperplane through the points ``idx`` (best margin).

    Returns (a, b, margin, nearest, rank_deficient)."""
    pts = x[idx]
    m, dx = pts.shape
    centre = pts.mean(axis=0)
    diffs = pts - centre
    if m > 1:
        _, sv, vt = np.linalg.svd(diffs, full_matrices=True)
        tol = max(m, dx) * np.finfo(np.float64).eps * (sv[0] if sv.size else 0.0) * 64
        rank = int(np.sum(sv > tol))
    else:
        vt = np.eye(dx)
        rank = 0
        sv = np.zeros(0)
    deficient = rank < m - 1
    null = vt[rank:].T  # (dx, dx - rank) orthonormal basis of the complement
    others = np.ones(x.shape[0], dtype=bool)
    others[idx] = False
    best = None
    trials = 1 if null.shape[1] == 1 else normal_trials
    for _ in range(trials):
        w = rng.standard_normal(null.shape[1])
        a = null @ w
        a /= np.linalg.norm(a)
        b = float(centre @ a)
        if others.any():
            d = np.abs(x[others] @ a - b)
            j = int(np.argmin(d))
            mg, near = float(d[j]), int(np.flatnonzero(others)[j])
        else:
            mg, near = math.inf, -1
        if best is None or mg > best[2]:
            best = (a, b, mg, near)
    return best + (deficient,)


def _chunking(ds: Dataset, m: int, rng) -> list[tuple[int, np.ndarray]]:
    out = []
    for k in range(ds.dy):
        idx = np.flatnonzero(ds.y == k)
        if idx.size == 0:
            continue
        idx = rng.permutation(idx)
        n_chunks = -(-idx.size // m)
        for part in np.array_split(idx, n_chunks):
            out.append((k, np.sort(part)))
    return out


def plan(ds: Dataset, chunk_size: int, *, seed: int = 0, tries: int = 4, normal_trials: int = 8) -> list[Chunk]:
    """Chunks and hyperplanes with the largest smallest margin over ``tries`` chunkings.

    Raises GeneralPositionError (naming dx + 1 points on one hyperplane) if every try
    meets a chunk that some other point lies on (to float64 resolution).
    """
    rng = np.random.default_rng(seed)
    x = ds.x
    best, first_fail = None, None
    for _ in range(max(1, tries)):
        chunks, ok = [], True
        for k, idx in _chunking(ds, chunk_size, rng):
            a, b, mg, near, deficient = _hyperplane(x, idx, rng, normal_trials)
            if deficient or not (mg > _threshold(x, a, b)):
                ok = False
                if first_fail is None:
                    first_fail = (k, idx, a, b, mg, near, deficient)
                break
            chunks.append(Chunk(k, idx, a, b, mg, near))
        if ok:
            score = min((c.margin for c in chunks), default=math.inf)
            if best is None or score > best[0]:
                best = (score, chunks)
    if best is None:
        raise _gp_error(ds, chunk_size, *first_fail)
    return best[1]


def _gp_error(ds, m, k, idx, a, b, mg, near, deficient) -> GeneralPositionError:
    dx = ds.dx
    pts = [int(i) for i in idx]
    if deficient:
        what = (f"the {len(pts)} points {pts} (class {k}) are affinely dependent, so together with any "
                f"{dx + 1 - len(pts)} other points they lie on one affine hyperplane")
    else:
        what = (f"the {len(pts) + 1} points {sorted(pts + [near])} lie on one affine hyperplane of R^{dx} "
                f"(distance of point {near} to the hyperplane through the others: {mg:.3e}, at or below "
                f"the float64 resolution {_threshold(ds.x, a, b):.1e})")
    fix = (f"perturb the inputs slightly, or pass chunk_size < {m} (smaller chunks leave the hyperplane free; "
           "chunk_size=1 always works but uses one block per point)")
    return GeneralPositionError(
        f"yun-resnet needs inputs in general position (no dx + 1 = {dx + 1} of them on one hyperplane); {what}. "
        f"Fix: {fix}")


# ------------------------------------------------------------------------ builder


def _layout(n_chunks: int, widths: Sequence[int], k: int) -> tuple[list[int], int]:
    """Block index of each chunk, and the branch width (max width) of the stored blocks."""
    if not widths:
        return list(range(n_chunks)), k
    slots = [blk for blk, w in enumerate(widths) for _ in range(int(w) // k)]
    return slots[:n_chunks], max(int(w) for w in widths)


def _block_arrays(chunks: Sequence[Chunk], dx: int, dy: int, block: str, widths: Sequence[int]):
    """Stacked (U, S, V) and the tent widths.  Idle units (beyond the tents, or padding a
    narrower block to the common width) have U = 0, s = -1, V = 0: always off."""
    d = dx + dy
    k = BLOCKS[block]
    where, width = _layout(len(chunks), widths, k)
    nb = len(widths) if widths else len(chunks)
    U = np.zeros((nb, d, width))
    S = np.full((nb, width), -1.0)
    V = np.zeros((nb, width, d))
    used = np.zeros(nb, dtype=int)
    tents = np.zeros(len(chunks))
    for j, c in enumerate(chunks):
        blk = where[j]
        cols = slice(used[blk], used[blk] + k)
        used[blk] += k
        U[blk, :dx, cols] = c.a[:, None]
        if block == "tent":
            w = c.margin / 2.0
            S[blk, cols] = [-c.b + w, -c.b, -c.b - w]
            V[blk, cols, dx + c.cls] = np.array([1.0, -2.0, 1.0]) / w
        else:
            w = 2.0 ** math.floor(math.log2(c.margin / 3.0))
            q = w * 2.0 ** -20
            b = round(c.b / q) * q
            S[blk, cols] = [-b + 2 * w, -b + w, -b - w, -b - 2 * w]
            V[blk, cols, dx + c.cls] = np.array([1.0, -1.0, -1.0, 1.0]) / w
        tents[j] = w
    return U, S, V, tents


def check_widths(ds: Dataset, widths: Sequence[int], m: int, block: str) -> int:
    """Validate residual-branch ``widths`` (one hidden width per block; () = one block per chunk).

    A block of width w holds floor(w / k) tents (k = 3 ReLUs, 4 for trapezoids).  Returns the
    number of chunks this dataset needs; raises WidthError when the widths hold fewer."""
    k = BLOCKS[block]
    counts = np.bincount(ds.y, minlength=ds.dy)
    need = blocks_needed(counts, m)
    if not widths:
        return need
    if any(int(w) < 1 for w in widths):
        raise WidthError(f"residual block widths must be positive; got {list(widths)}")
    have = sum(int(w) // k for w in widths)
    if have < need:
        cap = resnet_capacity(widths, ds.dx, ds.dy, k)
        every = smallest_chunks(ds.n, ds.dx, ds.dy)
        raise WidthError(
            f"residual branches of widths {list(widths)} hold sum_b floor(w_b/{k}) = {have} tents, but this dataset "
            f"needs sum_k ceil(N_k/{m}) = {need} > {have} (class sizes N_k = {counts.tolist()}); their worst-case "
            f"capacity (dx = {ds.dx}, dy = {ds.dy}) is {cap} points. Smallest widths that would do: {need} blocks of "
            f"{k} ({k * need} hidden ReLUs) for this dataset, {every} blocks of {k} for every {ds.dy}-class dataset "
            f"of N = {ds.n} points")
    return need


def _validate(dataset: Dataset, activation: str, block: str, chunk_size):
    if not dataset.is_classification:
        raise DataError("yun-resnet memorizes class labels (integer y of shape (N,)); for real labels use "
                        "yun3 or yun-deep")
    if activation != "relu":
        raise CapacityError(f"yun-resnet builds ReLU residual branches; activation {activation!r} is not supported")
    if block not in BLOCKS:
        raise CapacityError(f"unknown block {block!r}; choose one of {', '.join(BLOCKS)}")
    m = dataset.dx if chunk_size is None else int(chunk_size)
    if not 1 <= m <= dataset.dx:
        raise CapacityError(f"chunk_size must be in 1..dx = {dataset.dx}; got {chunk_size}")
    return m


def build(dataset: Dataset, widths: Sequence[int] = (), *, activation: str = "relu", seed: int = 0,
          block: str = "tent", chunk_size: int | None = None, tries: int = 4, normal_trials: int = 8) -> Construction:
    """Build the residual memorizer (module docstring).

    Args:
      dataset: class labels 0..dy-1, inputs in general position.
      widths: hidden width of each residual block (a block of width w holds floor(w/3) tents,
        the rest of its units stay off), or () for one 3-ReLU block per chunk.
      block: "tent" (3 ReLUs per chunk, the theorem's count) or "trapezoid" (4, flat top).
      chunk_size: points per chunk (default dx; smaller tolerates degenerate data at more blocks).
      tries / normal_trials: chunkings / free normals tried, keeping the largest margin.

    Returns:
      Construction of kind "residual" (arrays in ``extra`` as in :mod:`capacity.networks`).
    """
    m = _validate(dataset, activation, block, chunk_size)
    check_widths(dataset, widths, m, block)
    t0 = time.perf_counter()
    dx, dy = dataset.dx, dataset.dy
    chunks = plan(dataset, m, seed=seed, tries=tries, normal_trials=normal_trials)
    U, S, V, tent = _block_arrays(chunks, dx, dy, block, widths)
    d = dx + dy
    w_in = np.eye(dx, d)
    r = np.zeros((d, dy))
    r[dx:, :] = np.eye(dy)
    p = check_params(ResidualParams(w_in, np.zeros(d), U, S, V, r, np.zeros(dy)))
    k = BLOCKS[block]
    margins = np.array([c.margin for c in chunks])
    block_widths = [int(w) for w in widths] if widths else [k] * len(chunks)
    record = {
        "theorem": "yun-resnet", "n": dataset.n, "dx": dx, "dy": dy, "classes": dy,
        "block": block, "relus_per_chunk": k, "chunk_size": m, "chunks": len(chunks),
        "blocks": int(U.shape[0]), "block_widths": block_widths, "hidden_relus": int(sum(block_widths)),
        "active_relus": k * len(chunks), "stream_width": d,
        "capacity": resnet_capacity(block_widths, dx, dy, k),
        "bound_3_N_over_dx_plus_dy": 3.0 * (dataset.n / dx + dy),
        "min_margin": float(margins.min()) if margins.size else None,
        "median_margin": float(np.median(margins)) if margins.size else None,
        "min_tent_width": float(tent.min()) if tent.size else None,
        "seed": seed, "tries": tries, "normal_trials": normal_trials,
        "build_seconds": time.perf_counter() - t0,
    }
    return Construction("yun-resnet", ResidualNet(p), record)


def exact_network(dataset: Dataset, widths: Sequence[int], float_build: Construction, *, seed: int = 0,
                  block: str = "tent", chunk_size: int | None = None, tries: int = 4, normal_trials: int = 8,
                  **_options) -> ResidualNet:
    """The construction re-solved in exact rationals (same chunks and float normals as :func:`build`).

    The exact normal of a chunk is the projection of its float normal onto the orthogonal
    complement of the chunk's differences, so a.x_p = b holds *exactly* on the chunk; general
    position is checked exactly (every other point has a.x_j != b, else GeneralPositionError);
    the tent (or trapezoid) width is set from the exact margin.  Returns a residual network with
    exact rational weights, for the exact engine.
    """
    from flint import fmpq, fmpq_mat

    m = _validate(dataset, "relu", block, chunk_size)
    check_widths(dataset, widths, m, block)
    chunks = plan(dataset, m, seed=seed, tries=tries, normal_trials=normal_trials)
    n, dx, dy = dataset.n, dataset.dx, dataset.dy

    def q(v):
        return fmpq(*float(v).as_integer_ratio())

    X = fmpq_mat(n, dx, [q(v) for v in dataset.x.ravel()])
    fp = float_build.net.params
    nb, d, width = fp.u.shape
    U = np.full((nb, d, width), fmpq(0), dtype=object)
    S = np.full((nb, width), fmpq(-1), dtype=object)
    V = np.full((nb, width, d), fmpq(0), dtype=object)
    k = BLOCKS[block]
    where, _ = _layout(len(chunks), widths, k)
    used = np.zeros(nb, dtype=int)
    for c, blk in zip(chunks, where):
        a0 = fmpq_mat(dx, 1, [q(v) for v in c.a])
        p0 = int(c.idx[0])
        if len(c.idx) > 1:
            D = fmpq_mat(len(c.idx) - 1, dx, [X[int(i), j] - X[p0, j] for i in c.idx[1:] for j in range(dx)])
            G = D * D.transpose()
            if G.rank() < G.nrows():
                raise GeneralPositionError(f"exact check: the chunk {c.idx.tolist()} (class {c.cls}) is affinely dependent")
            a_mat = a0 - D.transpose() * G.solve(D * a0)
        else:
            a_mat = a0
        a = [a_mat[j, 0] for j in range(dx)]
        proj = X * a_mat
        s_val = [proj[i, 0] for i in range(n)]
        b = s_val[p0]
        own = set(int(i) for i in c.idx)
        off = [abs(s_val[i] - b) for i in range(n) if i not in own]
        if any(s_val[i] != b for i in own):
            raise GeneralPositionError(f"exact check: chunk {sorted(own)} is not on its exact hyperplane")
        if off and min(off) == 0:
            j = next(i for i in range(n) if i not in own and s_val[i] == b)
            raise GeneralPositionError(f"exact check: the points {sorted(own | {j})} lie on one affine hyperplane "
                                       f"of R^{dx}")
        g = min(off) if off else fmpq(1)
        cols = slice(int(used[blk]), int(used[blk]) + k)
        used[blk] += k
        U[blk, :dx, cols] = np.array(a, dtype=object)[:, None]
        if k == 3:
            w = g / 2
            S[blk, cols] = [-b + w, -b, -b - w]
            V[blk, cols, dx + c.cls] = [1 / w, -2 / w, 1 / w]
        else:
            w = g / 3
            S[blk, cols] = [-b + 2 * w, -b + w, -b - w, -b - 2 * w]
            V[blk, cols, dx + c.cls] = [1 / w, -1 / w, -1 / w, 1 / w]
    to_q = np.vectorize(q, otypes=[object])
    return ResidualNet(ResidualParams(to_q(fp.w_in), to_q(fp.b_in), U, S, V, to_q(fp.r), to_q(fp.c)))


register("yun-resnet", build,
         "residual net, blocks h <- h + V relu(U h + s), 3 ReLUs per chunk of <= dx same-class points "
         "(general position); exact one-hot read-out",
         theorem="yun-resnet", exact=exact_network)
