r"""Deep ReLU networks: chained 3-layer blocks, capacity Theta(hidden parameters).

Theorem (Yun, Sra & Jadbabaie 2019, deep networks; exact statement UNCONFIRMED).  An
L-layer ReLU network (L - 1 hidden layers) whose hidden layers hold W = Omega(N) parameters
memorizes any N distinct points; with the VC bound O(W L log W) this is tight for fixed L.

Provenance (``../shared/reference/yun2019-digest.md`` §6, §13 item 6): "W = Omega(N)
suffices" and the tightness argument are [P]; "the proof chains 3-layer blocks" is [R];
capacity of order sum_l d_l d_{l+1} is [S2] with constants dropped.  The exact
width-splitting condition, the carry neurons and any minimum width are UNCONFIRMED.  The
capacity computed here (:func:`deep_capacity`) is that of OUR chaining (RECONSTRUCTED,
digest §6), not a formula from the paper.

Construction (names as in the code; hidden layers l = 1..L-1, blocks b = 1..L-2)
--------------------------------------------------------------------------------
1. *Projection.*  t = u.x (:func:`capacity.constructions.yun3.choose_projection`) and
   p = t + shift with shift = 1 - min_i t_i, so p >= 1 at every data point.
2. *Blocks.*  Block b is a :func:`capacity.constructions.yun3.block_1d` with A_b groups and
   B_b pairs: its 4 A_b ramps live in hidden layer b, its 4 B_b dy second-layer ReLUs in
   layer b + 1.  Sorted points are dealt to the blocks in order, 4 A_b B_b each (only the
   last used block is partial).  Every block uses the "deep" output convention when there
   are >= 2 blocks: 1 + y on its own points and exactly 0 on every other data point (its
   kinks stay strictly between its outer neighbours).
3. *Carries* (ReLUs that are identities on the data):
   p in layers 1..L-3 (block b >= 2 computes its ramps from the p carry of layer b - 1);
   S_l = 1 + sum_{b <= l-2} out_b (dy units, >= 1: the offset keeps them off the kink) in
   layers 3..L-1.
4. *Output.*  f = S_{L-1} + out_{L-2} - 2 (times the label scale); with one block (L = 3)
   this is exactly the 3-layer construction.

Width condition (what :func:`deep_plan` checks).  With
c_1 = [L >= 4], c_l = [l <= L-3] + dy [l >= 3] for 2 <= l <= L-2, c_{L-1} = dy [L >= 4],

    4 A_1 <= d_1 - c_1,   4 B_{l-1} dy + 4 A_l <= d_l - c_l (2 <= l <= L-2),   4 B_{L-2} dy <= d_{L-1} - c_{L-1},

and the capacity is max sum_b 4 A_b B_b over these (a dynamic program over how each
interior layer is split between the block that ends and the block that starts there; a
block may get A_b B_b = 0 and stay empty).  Splitting every interior layer in half gives
about d_l d_{l+1} / (16 dy) per pair; the optimum for wide uniform profiles instead gives
whole layers to every other pair, d^2/(4 dy) per used pair, so capacity / (hidden-to-hidden
weights) -> 1/(8 dy) (measured: 0.123 at d = 512, dy = 1, any L >= 6; 1/4 at L = 3).  So
W = Omega(N) hidden parameters suffice with an explicit constant.  (The digest's "(d_l/2)
(d_{l+1}/2)/dy per pair" omits the 1/4 of the 3-layer capacity d1 d2 / (4 dy).)

Exact tier (:func:`certify`): every block is rebuilt with :func:`block_1d` in exact
rationals (same slopes as the float build) on the exact positions p_i = u.x_i + shift; the
carries are checked to be non-negative exactly, and f(x_i) = y_i is checked exactly.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from capacity.constructions.base import Construction, register
from capacity.constructions.yun3 import block_1d, choose_projection
from capacity.data import Dataset
from capacity.errors import CapacityError, DataError, WidthError


# ----------------------------------------------------------------------- capacity


def carries(depth_hidden: int, dy: int) -> list[int]:
    """c_l for l = 1..L-1 (module docstring); ``depth_hidden`` = L - 1."""
    n_hidden = depth_hidden
    if n_hidden <= 2:
        return [0] * n_hidden
    L = n_hidden + 1
    c = []
    for l in range(1, L):
        v = 0
        if l <= L - 3:
            v += 1
        if l >= 3:
            v += dy
        c.append(v)
    return c


def deep_plan(widths: Sequence[int], dy: int = 1) -> tuple[list[int], list[int], int]:
    """(A_b, B_b for b = 1..L-2, capacity) maximising sum_b 4 A_b B_b under the width condition.

    Dynamic program over layers: best[a] = largest sum over the finished blocks when the
    block starting at the current layer has A = a; the block ending at layer l gets
    B = floor((f_l - 4 a_l) / (4 dy)).
    """
    w = [int(v) for v in widths]
    if len(w) < 2 or dy < 1 or min(w) < 1:
        return [], [], 0
    free = [wi - ci for wi, ci in zip(w, carries(len(w), dy))]
    if min(free) < 0:
        return [0] * (len(w) - 1), [0] * (len(w) - 1), 0
    nb = len(w) - 1
    # layer 1: A_1 = floor(f_1 / 4) is optimal (it only feeds block 1)
    a_max = free[0] // 4
    best = {a_max: 0}
    choices = []  # per interior layer: for each a_l, the a_{l-1} chosen
    prev_vals = np.array([a_max], dtype=np.int64)
    prev_best = np.array([0], dtype=np.int64)
    for l in range(1, nb):  # interior layer index (0-based) l: ends block l-1, starts block l
        f = free[l]
        a_l = np.arange(f // 4 + 1, dtype=np.int64)
        b_prev = (f - 4 * a_l) // (4 * dy)  # B of the block ending here
        # value[a_l] = max_{a_prev} prev_best + 4 a_prev b_prev(a_l)
        vals = np.empty(a_l.size, dtype=np.int64)
        arg = np.empty(a_l.size, dtype=np.int64)
        for s in range(0, a_l.size, 1024):
            m = prev_best[None, :] + 4 * prev_vals[None, :] * b_prev[s:s + 1024, None]
            j = np.argmax(m, axis=1)
            arg[s:s + 1024] = prev_vals[j]
            vals[s:s + 1024] = m[np.arange(m.shape[0]), j]
        choices.append((a_l, arg, b_prev))
        prev_vals, prev_best = a_l, vals
    b_last = free[-1] // (4 * dy)
    total = prev_best + 4 * prev_vals * b_last
    j = int(np.argmax(total))
    cap = int(total[j])
    A = [0] * nb
    B = [0] * nb
    A[nb - 1] = int(prev_vals[j])
    B[nb - 1] = int(b_last)
    for l in range(nb - 1, 0, -1):  # recover: layer l chose a_l = A[l], giving B[l-1] and A[l-1]
        a_l, arg, b_prev = choices[l - 1]
        idx = int(np.searchsorted(a_l, A[l]))
        B[l - 1] = int(b_prev[idx])
        A[l - 1] = int(arg[idx])
    return A, B, cap


def deep_capacity(widths: Sequence[int], dy: int = 1) -> int:
    """Points the chained construction memorizes with hidden widths d_1..d_{L-1} (L >= 3).

    >>> deep_capacity([40, 40])          # one block: the 3-layer capacity 4*floor(40/4)*floor(40/4)
    400
    >>> deep_capacity([21, 38, 42, 30, 17]) > 0
    True
    """
    return deep_plan(widths, dy)[2]


def hidden_parameters(widths: Sequence[int]) -> int:
    """Weights between consecutive hidden layers, sum_l d_l d_{l+1} (what W = Omega(N) counts)."""
    w = [int(v) for v in widths]
    return sum(a * b for a, b in zip(w[:-1], w[1:]))


def smallest_uniform_width(n: int, depth_hidden: int, dy: int = 1) -> int:
    """Smallest w with deep_capacity([w] * depth_hidden, dy) >= n (capacity is monotone in w)."""
    hi = 1
    while deep_capacity([hi] * depth_hidden, dy) < n:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if deep_capacity([mid] * depth_hidden, dy) >= n else (mid, hi)
    return hi


def check_widths(n: int, widths: Sequence[int], dy: int) -> tuple[list[int], list[int], int]:
    if len(widths) < 2:
        raise WidthError(f"yun-deep needs at least two hidden layers (depth L >= 3); got widths {list(widths)}")
    A, B, cap = deep_plan(widths, dy)
    if cap < n:
        w = smallest_uniform_width(n, len(widths), dy)
        c = carries(len(widths), dy)
        raise WidthError(
            f"hidden widths {list(widths)} memorize at most {cap} points with dy = {dy} by the chained construction "
            f"(condition: max over splits of sum_b 4*A_b*B_b >= N with 4*A_1 <= d_1 - c_1, "
            f"4*B_(l-1)*dy + 4*A_l <= d_l - c_l, 4*B_(L-2)*dy <= d_(L-1) - c_(L-1), carries c = {c}); "
            f"{cap} < N = {n}. Smallest uniform widths of this depth that would do: {','.join([str(w)] * len(widths))}")
    return A, B, cap


# ------------------------------------------------------------------------ builder


def _layout(widths, A, B, dy):
    """Unit offsets of each part in each hidden layer (dict per layer)."""
    nh = len(widths)
    L = nh + 1
    lay = []
    for l in range(1, L):
        off = 0
        parts = {}
        if l >= 2:
            parts["g"] = (off, 4 * B[l - 2] * dy)
            off += 4 * B[l - 2] * dy
        if l <= L - 2:
            parts["ramps"] = (off, 4 * A[l - 1])
            off += 4 * A[l - 1]
        if nh > 2 and l <= L - 3:
            parts["p"] = (off, 1)
            off += 1
        if nh > 2 and l >= 3:
            parts["S"] = (off, dy)
            off += dy
        assert off <= widths[l - 1], (l, off, widths)
        lay.append(parts)
    return lay


def build(dataset: Dataset, widths: Sequence[int], *, activation: str = "relu", seed: int = 0,
          trials: int = 64, mu: float = 1.0) -> Construction:
    """Build the chained deep memorizer for hidden ``widths`` = (d_1, ..., d_{L-1}), L >= 3.

    Args:
      dataset: distinct inputs, real labels in [-1, 1]^dy (``rescale_labels`` folds a scale into the output).
      widths: any profile with :func:`deep_capacity` >= N.
      seed, trials, mu: passed to the projection / blocks (see :mod:`capacity.constructions.yun3`).
    """
    if dataset.is_classification:
        raise DataError("yun-deep fits real labels; for class labels use yun-classify (or one-hot real labels)")
    if activation != "relu":
        raise CapacityError(f"yun-deep is a ReLU construction; activation {activation!r} is not supported")
    n, dy, dx = dataset.n, dataset.dy, dataset.dx
    widths = [int(w) for w in widths]
    A, B, cap = check_widths(n, widths, dy)
    t0 = time.perf_counter()
    parts = _plan_points(dataset, widths, A, B, seed, trials, mu)
    kernels, biases = _assemble(parts, widths, A, B, dx, dy, dataset.label_scale)
    rec = parts["record"]
    record = {
        "theorem": "yun-deep", "n": n, "dx": dx, "dy": dy, "widths": widths, "depth_L": len(widths) + 1,
        "A": A, "B": B, "capacity": cap, "carries": carries(len(widths), dy),
        "hidden_parameters": hidden_parameters(widths),
        "capacity_per_hidden_parameter": cap / max(hidden_parameters(widths), 1),
        "block_points": rec["block_points"], "seed": seed, "projection_trials": trials, "mu": mu,
        "projection": [float(v) for v in parts["u"]], "shift": parts["shift"],
        "label_scale": float(dataset.label_scale), "build_seconds": time.perf_counter() - t0,
        "max_abs_slope": max((b.info.get("max_abs_slope", 0.0) for b in parts["blocks"] if b is not None), default=0.0),
    }
    return Construction("yun-deep", kernels, biases, "relu", record)


def _plan_points(dataset, widths, A, B, seed, trials, mu, exact=False, float_parts=None):
    """Projection, sorted positions and one block_1d per block (None for empty blocks)."""
    n, dy = dataset.n, dataset.dy
    if float_parts is None:
        u, t = choose_projection(dataset.x, seed=seed, trials=trials)
        shift = 1.0 - float(np.min(t))
    else:
        u, shift = float_parts["u"], float_parts["shift"]
    if exact:
        from capacity.constructions.yun3 import to_exact

        xe = to_exact(dataset.x)
        ue = to_exact(u)
        p = xe.dot(ue) + to_exact(np.array(shift))[()]
        pf = np.array([float(v) for v in p])
        y = to_exact(dataset.y)
    else:
        p = dataset.x @ u + shift
        pf = p
        y = dataset.y
    order = np.argsort(pf, kind="stable")
    ps, ys = p[order], y[order]
    if n > 1 and not np.all(np.diff(pf[order]) > 0):
        raise CapacityError("projected inputs coincide in float64; the inputs are too close to separate at this "
                            "precision (rescale or deduplicate them)")
    nbk = len(A)
    conv = "deep" if nbk >= 2 else "plain"
    blocks, counts, lo = [], [], 0
    for b in range(nbk):
        size = min(4 * A[b] * B[b], n - lo)
        if size <= 0:
            blocks.append(None)
            counts.append(0)
            continue
        hi = lo + size
        left = ps[lo - 1] if lo > 0 else None
        right = ps[hi] if hi < n else None
        slopes = None
        if float_parts is not None and float_parts["blocks"][b] is not None:
            slopes = float_parts["blocks"][b].info.get("slopes")
        blocks.append(block_1d(ps[lo:hi], ys[lo:hi], A[b], B[b], left=left, right=right, convention=conv,
                               mu=mu, slopes=slopes))
        counts.append(size)
        lo = hi
    return {"u": u, "shift": shift, "p": p, "blocks": blocks, "conv": conv,
            "record": {"block_points": counts}}


def _assemble(parts, widths, A, B, dx, dy, scale):
    nh = len(widths)
    lay = _layout(widths, A, B, dy)
    blocks, u, shift = parts["blocks"], parts["u"], parts["shift"]
    ins = [dx] + widths
    outs = widths + [dy]
    kernels = [np.zeros((i, o)) for i, o in zip(ins, outs)]
    biases = [np.full(o, -1.0) for o in widths] + [np.zeros(dy)]
    for l in range(1, nh + 1):  # hidden layer l (1-based); kernel index l-1 maps layer l-1 -> l
        K, bvec, parts_l = kernels[l - 1], biases[l - 1], lay[l - 1]
        prev = lay[l - 2] if l >= 2 else None
        if "ramps" in parts_l:
            o, m = parts_l["ramps"]
            blk = blocks[l - 1]
            if blk is not None:
                a, c = blk.layer1_affine()
                if l == 1:
                    K[:, o:o + m] = u[:, None] * a[None, :]
                    bvec[o:o + m] = a * shift + c
                else:
                    po = prev["p"][0]
                    K[po, o:o + m] = a
                    bvec[o:o + m] = c
        if "g" in parts_l:
            o, m = parts_l["g"]
            blk = blocks[l - 2]
            if blk is not None:
                ro, rm = prev["ramps"]
                K[ro:ro + rm, o:o + m] = blk.w2
                bvec[o:o + m] = blk.b2
        if "p" in parts_l:
            o, _ = parts_l["p"]
            if l == 1:
                K[:, o] = u
                bvec[o] = shift
            else:
                K[prev["p"][0], o] = 1.0
                bvec[o] = 0.0
        if "S" in parts_l:
            o, _ = parts_l["S"]
            bvec[o:o + dy] = 1.0 if "S" not in prev else 0.0  # carried as S + 1 >= 1: never at the kink
            if "S" in prev:
                so = prev["S"][0]
                K[so:so + dy, o:o + dy] += np.eye(dy)
            blk = blocks[l - 3]  # the block whose second layer sits in layer l-1
            if blk is not None:
                go, gm = prev["g"]
                K[go:go + gm, o:o + dy] += blk.w3
                bvec[o:o + dy] += blk.b3
    # output layer
    K, bvec, last = kernels[nh], biases[nh], lay[nh - 1]
    blk = blocks[nh - 2]
    if blk is not None:
        go, gm = last["g"]
        K[go:go + gm, :] = blk.w3 * scale
        bvec[:] = blk.b3 * scale
    if nh > 2:
        so = last["S"][0]
        K[so:so + dy, :] += np.eye(dy) * scale
        bvec[:] += -2.0 * scale  # -1 of the deep convention, -1 of the carry offset
    return kernels, biases


# ---------------------------------------------------------------------- exact tier


def certify(dataset: Dataset, widths: Sequence[int], *, construction: Construction | None = None,
            tol: float = 1e-6, seed: int = 0, trials: int = 64, mu: float = 1.0, **_ignored) -> dict:
    """Rebuild every block in exact rationals and check f(x_i) = y_i exactly (module docstring).

    The exact network is the construction in rational arithmetic with the float build's
    projection, shift and slopes; its carries are identities on the data (checked: p_i > 0
    and every partial sum S >= 0, exactly), so its output at x_i is sum_b out_b(p_i) - 1
    (or out_1(p_i) with one block), each block evaluated exactly.  Cost O(N * sum_b K_b H_b)
    rational operations: meant for small N.
    """
    from fractions import Fraction

    if dataset.is_classification:
        raise DataError("yun-deep fits real labels")
    t0 = time.perf_counter()
    widths = [int(w) for w in widths]
    A, B, _ = check_widths(dataset.n, widths, dataset.dy)
    fparts = _plan_points(dataset, widths, A, B, seed, trials, mu)
    eparts = _plan_points(dataset, widths, A, B, seed, trials, mu, exact=True, float_parts=fparts)
    p = eparts["p"]
    if not all(v > 0 for v in p):
        return {"level": "failed", "exact_residual": math.inf, "exact_residual_str": "n/a",
                "seconds": time.perf_counter() - t0, "method": "exact rebuild: a position carry is not positive"}
    blocks = [b for b in eparts["blocks"] if b is not None]
    outs = [b(p) for b in blocks]  # each (N, dy), exact
    n, dy = dataset.n, dataset.dy
    if eparts["conv"] == "deep":
        # the S carries hold the partial sums of all but the last block: they must be >= 0
        run = outs[0].copy()
        for o in outs[1:]:
            if any(v < 0 for v in run.ravel()):
                return {"level": "failed", "exact_residual": math.inf, "exact_residual_str": "n/a",
                        "seconds": time.perf_counter() - t0, "method": "exact rebuild: a sum carry is negative"}
            run = run + o
        f = run - 1
    else:
        f = outs[0]
    worst = max((abs(Fraction(str(fv)) - Fraction(float(yv))) for fv, yv in zip(f.ravel(), dataset.y.ravel())),
                default=Fraction(0))
    level = "certified-exact" if worst == 0 else ("certified-bound" if worst <= Fraction(tol) else "failed")
    return {"level": level, "exact_residual": float(worst), "exact_residual_str": str(worst) if worst else "0",
            "seconds": time.perf_counter() - t0, "blocks": len(blocks),
            "method": "construction rebuilt in exact rationals (same projection and slopes), carries checked "
                      "non-negative, evaluated exactly at every point"}


register("yun-deep", build,
         "deep ReLU net of any depth L >= 3 and width profile: chained 3-layer Yun blocks with carried "
         "projection and partial sums (capacity = deep_capacity(widths, dy))",
         theorem="yun-deep", certify=certify,
         widths_help="D1,...,D(L-1): any profile with deep_capacity >= N (L >= 3)")
