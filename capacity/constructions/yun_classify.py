r"""4-layer ReLU classifier: width Theta(sqrt(N) + dy) separates N points into dy classes.

Theorem (Yun, Sra & Jadbabaie 2019, classification; exact statement UNCONFIRMED).  Let
x_1..x_N in R^dx be pairwise distinct with class labels y_i in {0..dy-1}.  If a ReLU network
with three hidden layers of widths d1, d2, d3 has

.. math::  4 \lfloor d_1/4 \rfloor \lfloor d_2/4 \rfloor \ge N \quad\text{and}\quad d_3 \ge 4 d_y,

then some weights make the output at every x_i identify its class.  Our construction
outputs the exact one-hot vector e_{y_i} (so argmax = class).

Provenance (``../shared/reference/yun2019-digest.md`` §4, §13 item 4): d1 d2 >= 4N and
d3 >= 4p are [S1]; the 2k-2k-4k ImageNet example is [R]; the floor form and
"argmax" versus "exact one-hot" are UNCONFIRMED.  The weights are RECONSTRUCTED (digest §4).

Construction (names as in the code)
-----------------------------------
1. *Codes.*  Class k gets the scalar code c_k = (k - (dy-1)/2) * Delta with
   Delta = 2^floor(log2(1.5/(dy-1))) (a power of two, so every code, delta = Delta/4 and the
   trapezoid weights 1/delta are exact in binary; codes lie in [-0.75, 0.75]).
2. *Scalar block.*  The 3-layer block of :func:`capacity.constructions.yun3.block_1d`
   (A = d1 // 4 groups, B = d2 // 4 pairs, dy = 1) fits s(x_i) = c_{y_i} on the sorted
   projections t = u.x (needs 4AB >= N).  Its output s = g @ w3 + b3 is linear in hidden
   layer 2, so it feeds hidden layer 3 directly.
3. *Trapezoids (hidden layer 3, 4 ReLUs per class).*
   T_k(s) = [relu(s-c_k+2d) - relu(s-c_k+d) - relu(s-c_k-d) + relu(s-c_k-2d)] / d, d = delta.
   T_k = 1 for |s - c_k| <= d and 0 for |s - c_k| >= 2d; distinct codes are 4d apart.
4. *Output.*  f_k = T_k (no bias).  Unused units of every layer are switched off
   (zero weights, bias -1).

Exactness.  At a point of class k the block gives s within its float64 error of c_k, far
below d (d = 2^-9 for 100 classes).  Then class k's trapezoid has the pattern (on, on,
off, off) and f_k = (b_a - b_b)/d, where b_a, b_b are two stored layer-3 biases whose
difference is exactly d: the s-dependence cancels exactly.  Every other trapezoid is all-on
or all-off and gives exactly 0.  So the *stored float64 network*, evaluated in exact
arithmetic, outputs exactly e_{y_i}.  The exact engine (:func:`capacity.verification.certify`,
evaluating the stored weights in exact rationals) proves this at every point: certified-exact
means every output equals its one-hot target exactly.

Size: 4A + 4B + 4dy ReLUs (about 4 sqrt(N) + 4 dy at d1 = d2), against
Theta(sqrt(N dy)) for fitting one-hot labels with the 3-layer theorem.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from capacity.constructions.base import Construction, register
from capacity.constructions._block1d import block_1d
from capacity.constructions._compensated import dot_residual
from capacity.constructions._projection import choose_projection
from capacity.data import Dataset
from capacity.errors import CapacityError, DataError, WidthError
from capacity.networks import MLPNet
from theory.bounds import yun_classify_capacity, yun_classify_smallest_widths


def class_codes(dy: int) -> tuple[np.ndarray, float]:
    """(codes (dy,), delta): dyadic codes c_k, 4 delta apart, and the trapezoid half-width delta.

    >>> class_codes(3)
    (array([-0.5,  0. ,  0.5]), 0.125)
    """
    if dy < 1:
        raise DataError("need at least one class")
    big = 1.0 if dy == 1 else 2.0 ** math.floor(math.log2(1.5 / (dy - 1)))
    codes = (np.arange(dy) - (dy - 1) / 2.0) * big
    return codes, big / 4.0


TRAPEZOID_OFFSETS = np.array([2.0, 1.0, -1.0, -2.0])  # times delta: the four kinks are at c_k - offset*delta
TRAPEZOID_WEIGHTS = np.array([1.0, -1.0, -1.0, 1.0])  # divided by delta


def check_widths(n: int, widths: Sequence[int], dy: int) -> tuple[int, int]:
    """Validate (d1, d2, d3); return (A, B).  WidthError states the inequality, capacity and fix."""
    if len(widths) != 3:
        raise WidthError(f"yun-classify builds exactly three hidden layers; got widths {list(widths)} (give D1,D2,D3)")
    d1, d2, d3 = (int(w) for w in widths)
    cap = yun_classify_capacity(d1, d2, d3, dy)
    if cap < n:
        s = yun_classify_smallest_widths(n, dy)
        why = []
        if 4 * (d1 // 4) * (d2 // 4) < n:
            why.append(f"4*floor(d1/4)*floor(d2/4) = {4 * (d1 // 4) * (d2 // 4)} < N = {n}")
        if d3 < 4 * dy:
            why.append(f"d3 = {d3} < 4*dy = {4 * dy} (4 ReLUs per class)")
        raise WidthError(
            f"widths ({d1}, {d2}, {d3}) classify at most {cap} points into {dy} classes: {' and '.join(why)}; "
            f"the condition is 4*floor(d1/4)*floor(d2/4) >= N and d3 >= 4*dy. Smallest widths that would do: "
            f"{s[0]},{s[1]},{s[2]}")
    return d1 // 4, d2 // 4


def build(dataset: Dataset, widths: Sequence[int], *, activation: str = "relu", seed: int = 0,
          trials: int = 64, mu: float = 1.0, classes: int | None = None) -> Construction:
    """Build the 4-layer classifier (module docstring).

    Args:
      dataset: distinct inputs, integer class labels 0..dy-1.
      widths: (d1, d2, d3) with 4*floor(d1/4)*floor(d2/4) >= N and d3 >= 4*dy.
      seed, trials, mu: passed to the scalar block (projection seed and trials, saturation margin).
      classes: number of output classes (default max label + 1).

    Returns:
      Construction with kernels (dx, d1), (d1, d2), (d2, d3), (d3, dy).
    """
    if not dataset.is_classification:
        raise DataError("yun-classify needs integer class labels y of shape (N,); for real labels use yun3")
    if activation != "relu":
        raise CapacityError(f"yun-classify is a ReLU construction; activation {activation!r} is not supported")
    dy = dataset.dy if classes is None else int(classes)
    if dy < dataset.dy:
        raise DataError(f"classes = {dy} but the labels go up to {dataset.dy - 1}")
    n = dataset.n
    A, B = check_widths(n, widths, dy)
    d1, d2, d3 = (int(w) for w in widths)
    t0 = time.perf_counter()
    codes, delta = class_codes(dy)
    u, t = choose_projection(dataset.x, seed=seed, trials=trials)
    order = np.argsort(t, kind="stable")
    ts = t[order]
    if n > 1 and np.min(np.diff(ts)) <= 0:
        raise CapacityError("projected inputs coincide in float64; the inputs are too close to separate at this "
                            "precision (rescale or deduplicate them)")
    blk = block_1d(ts, codes[dataset.y[order]][:, None], A, B, mu=mu, t_lo=dot_residual(dataset.x[order], u, ts))
    a, c = blk.layer1_affine()
    K, H2 = blk.w2.shape
    k0 = np.zeros((dataset.dx, d1))
    k0[:, :K] = u[:, None] * a[None, :]
    b0 = np.full(d1, -1.0)
    b0[:K] = c
    k1 = np.zeros((d1, d2))
    k1[:K, :H2] = blk.w2
    b1 = np.full(d2, -1.0)
    b1[:H2] = blk.b2
    k2 = np.zeros((d2, d3))
    b2 = np.full(d3, -1.0)
    k3 = np.zeros((d3, dy))
    for k in range(dy):
        cols = slice(4 * k, 4 * k + 4)
        k2[:H2, cols] = blk.w3[:, :1]
        b2[cols] = blk.b3[0] + (TRAPEZOID_OFFSETS * delta - codes[k])
        k3[cols, k] = TRAPEZOID_WEIGHTS / delta
    b3 = np.zeros(dy)
    gaps = np.diff(ts) if n > 1 else np.array([1.0])
    record = {
        "theorem": "yun-classify", "n": n, "dx": dataset.dx, "classes": dy, "widths": [d1, d2, d3],
        "groups_A": A, "pairs_B": B, "capacity": yun_classify_capacity(d1, d2, d3, dy),
        "hidden_relus_used": K + H2 + 4 * dy, "code_spacing": 4 * delta, "trapezoid_delta": delta,
        "seed": seed, "projection_trials": trials, "mu": mu, "projection": [float(v) for v in u],
        "span_over_min_gap": float((ts[-1] - ts[0]) / gaps.min()) if n > 1 else 1.0,
        "build_seconds": time.perf_counter() - t0,
        **{k: v for k, v in blk.info.items() if k != "slopes"},
    }
    return Construction("yun-classify", MLPNet([k0, k1, k2, k3], [b0, b1, b2, b3], "relu"), record)


# ------------------------------------------------------------------------ exact tier


register("yun-classify", build,
         "4-layer ReLU classifier: scalar Yun block to class codes, then 4-ReLU trapezoids; exact one-hot output",
         theorem="yun-classify")
