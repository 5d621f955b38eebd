r"""Deep ReLU networks: chained 3-layer blocks, capacity Theta(hidden parameters).

Theorem (Yun, Sra & Jadbabaie 2019, deep networks; exact statement UNCONFIRMED).  An
L-layer ReLU network (L - 1 hidden layers) whose hidden layers hold W = Omega(N) parameters
memorizes any N distinct points; with the VC bound O(W L log W) this is tight for fixed L.

Provenance (``../shared/reference/yun2019-digest.md`` §6, §13 item 6): "W = Omega(N)
suffices" and the tightness argument are [P]; "the proof chains 3-layer blocks" is [R];
capacity of order sum_l d_l d_{l+1} is [S2] with constants dropped.  The exact
width-splitting condition, the carry neurons and any minimum width are UNCONFIRMED.  The
capacity computed by :func:`theory.bounds.deep_capacity` is that of OUR chaining (RECONSTRUCTED,
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

Exact tier (:func:`exact_network`): every block is rebuilt with the 1-D block gadget in exact
rationals (same slopes as the float build) on the exact positions p_i = u.x_i + shift, the
network is assembled in rationals and evaluated exactly by the one exact engine.  The capacity
(the width-splitting dynamic program) is :func:`theory.bounds.deep_capacity`.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from capacity.constructions._block1d import block_1d
from capacity.constructions._compensated import dot_residual
from capacity.constructions._numbers import to_exact
from capacity.constructions._projection import choose_projection
from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, DataError, WidthError
from capacity.networks import ExactMLPNet, MLPNet
from theory.bounds import deep_carries as carries, deep_plan, hidden_parameters, smallest_uniform_deep_width


# ----------------------------------------------------------------------- capacity


def check_widths(n: int, widths: Sequence[int], dy: int) -> tuple[list[int], list[int], int]:
    if len(widths) < 2:
        raise WidthError(f"yun-deep needs at least two hidden layers (depth L >= 3); got widths {list(widths)}")
    A, B, cap = deep_plan(widths, dy)
    if cap < n:
        w = smallest_uniform_deep_width(n, len(widths), dy)
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
      widths: any profile with :func:`theory.bounds.deep_capacity` >= N.
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
    return Construction("yun-deep", MLPNet(kernels, biases, "relu"), record)


def _plan_points(dataset, widths, A, B, seed, trials, mu, exact=False, float_parts=None):
    """Projection, sorted positions and one block_1d per block (None for empty blocks)."""
    n, dy = dataset.n, dataset.dy
    if float_parts is None:
        u, t = choose_projection(dataset.x, seed=seed, trials=trials)
        shift = 1.0 - float(np.min(t))
    else:
        u, shift = float_parts["u"], float_parts["shift"]
    if exact:
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
    # low parts of the positions layer 1 computes exactly (float build: compensated layer 2)
    p_lo = None if exact else dot_residual(dataset.x[order], u, ps, offset=shift)
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
                               mu=mu, slopes=slopes, t_lo=None if p_lo is None else p_lo[lo:hi]))
        counts.append(size)
        lo = hi
    return {"u": u, "shift": shift, "p": p, "blocks": blocks, "conv": conv,
            "record": {"block_points": counts}}


def _assemble(parts, widths, A, B, dx, dy, scale, exact: bool = False):
    """Layer arrays of the chained network; with ``exact`` object arrays of exact rationals
    (integer constants are exact in both number types)."""
    nh = len(widths)
    lay = _layout(widths, A, B, dy)
    blocks, u, shift = parts["blocks"], parts["u"], parts["shift"]
    dt = object if exact else np.float64
    if exact:
        u, shift, scale = to_exact(u), to_exact(np.array(shift))[()], to_exact(np.array(scale))[()]
    ins = [dx] + widths
    outs = widths + [dy]
    kernels = [np.zeros((i, o), dtype=dt) for i, o in zip(ins, outs)]
    biases = [np.full(o, -1, dtype=dt) for o in widths] + [np.zeros(dy, dtype=dt)]
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
                K[prev["p"][0], o] = 1
                bvec[o] = 0
        if "S" in parts_l:
            o, _ = parts_l["S"]
            bvec[o:o + dy] = 1 if "S" not in prev else 0  # carried as S + 1 >= 1: never at the kink
            if "S" in prev:
                so = prev["S"][0]
                K[so:so + dy, o:o + dy] += np.eye(dy, dtype=int).astype(dt)
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
        K[so:so + dy, :] += np.eye(dy, dtype=int).astype(dt) * scale
        bvec[:] += -2 * scale  # -1 of the deep convention, -1 of the carry offset
    return kernels, biases


# ---------------------------------------------------------------------- exact tier


def exact_network(dataset: Dataset, widths: Sequence[int], float_build: Construction, *, seed: int = 0,
                  trials: int = 64, mu: float = 1.0, **_options) -> ExactMLPNet:
    """The chained network carried out in exact rationals, with the float build's projection, shift and
    slopes (rebuilt from ``seed``/``trials``, which are deterministic)."""
    if dataset.is_classification:
        raise DataError("yun-deep fits real labels")
    widths = [int(w) for w in widths]
    A, B, _ = check_widths(dataset.n, widths, dataset.dy)
    fparts = _plan_points(dataset, widths, A, B, seed, trials, mu)
    eparts = _plan_points(dataset, widths, A, B, seed, trials, mu, exact=True, float_parts=fparts)
    kernels, biases = _assemble(eparts, widths, A, B, dataset.dx, dataset.dy, dataset.label_scale, exact=True)
    return ExactMLPNet(kernels, biases, "relu")


register("yun-deep", build,
         "deep ReLU net of any depth L >= 3 and width profile: chained 3-layer Yun blocks with carried "
         "projection and partial sums (capacity = deep_capacity(widths, dy))",
         theorem="yun-deep", exact=exact_network)
