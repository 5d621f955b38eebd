"""Zhang, Bengio, Hardt, Recht & Vinyals (ICLR 2017), Theorem 1: 2N + d weights, one hidden layer.

**Theorem** (as restated in constructions-survey.md §2.4; confirmed from the paper's
Theorem 1 via secondary sources).  There is a two-layer ReLU network with 2N + d
weights that represents any function on a sample of N distinct points in ℝ^d:
every labelling y ∈ ℝ^N of distinct x_1..x_N is fitted exactly by

    f(x) = Σ_{j=1}^{N} w_j ReLU(⟨a, x⟩ - b_j)

with one shared projection a ∈ ℝ^d (d weights), N biases b_j and N output weights w_j.
Conditions: the x_i are distinct (so a generic a gives distinct z_i = ⟨a, x_i⟩) and
b_1 < z_(1) < b_2 < z_(2) < ... < b_N < z_(N) in sorted order.  Then the matrix
A_ij = ReLU(z_i - b_j) is lower triangular with positive diagonal and Aw = y is solved
by forward substitution.  No constant is involved; the size is exactly N hidden units.

**What this module does** (steps in the proof's order):

1. ``projection``: best of ``trials`` Gaussian directions, maximising the smallest gap of
   the sorted projections relative to their spread (Zhang et al. only need *some* a with
   distinct projections; maximising the gap is our choice, it bounds |w|).
2. ``biases``: b_1 = z_(1) - g_1 (g_1 the first gap), and b_i = z_(i-1) + θ (z_(i) - z_(i-1))
   for i >= 2 with θ = 1/4 (any θ in (0, 1) is valid; θ = 1/4 makes the slope recursion
   S_{i+1} = (secant_i - θ S_i)/(1 - θ) contracting, which keeps |w| near the secant slopes).
3. ``output weights``: forward substitution done in **exact rational arithmetic** against the
   already-rounded float64 weights: w_i = fl((y_i - Σ_{j<i} w_j (z_i - b_j)) / (z_i - b_i)),
   with z_i = ⟨a, x_i⟩ exact.  So the stored float64 network misses y_i exactly by the
   rounding of w_i alone (≈ 2^-53 |y_i - f_{i-1}(x_i)|), not by accumulated rounding.

No output bias is used (its stored value is 0), so the distinct parameter count is exactly
2N + d.  ``widths``: the construction fixes the hidden width to N; ``widths=None``/``[]``
derives it, a given width below N raises :class:`WidthError`, a larger one is ignored
(the record says so).

**Certification** (:func:`certify`): exact evaluation of the *stored* float64 network in
rationals, in O(N d) exact operations: z_i = ⟨a, x_i⟩ exactly, the activation pattern
(b_j < z_i iff j <= i) checked exactly, then f(x_i) = z_i Σ_{j<=i} w_j - Σ_{j<=i} w_j b_j by
exact prefix sums.  Level ``certified-exact`` iff the exact residual is 0, else
``certified-bound`` when it is <= tol.  The float forward pass (``capacity verify``) of this
network suffers cancellation (terms ~|w|·spread ≫ |y|); the exact tier is the honest check.
Nothing here is reconstructed beyond the choices of a, θ and b_1.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, GeneralPositionError, ShapeError, WidthError
from capacity.networks import MLPNet

THETA = Fraction(1, 4)


def _check(ds: Dataset, widths) -> None:
    if ds.is_classification or ds.dy != 1:
        raise ShapeError(f"zhang fits one real label per point (dy = 1); got "
                         f"{'class labels' if ds.is_classification else f'dy = {ds.dy}'}. "
                         "Fit each output separately or use another construction")
    if widths:
        if len(widths) != 1:
            raise WidthError(f"zhang has exactly one hidden layer; got widths {list(widths)}. Use widths [{ds.n}]")
        if widths[0] < ds.n:
            raise WidthError(f"zhang needs N = {ds.n} hidden units for N = {ds.n} points; got {widths[0]}. "
                             f"Use widths [{ds.n}] (or more)")


def choose_projection(x: np.ndarray, trials: int, seed: int) -> tuple[np.ndarray, float]:
    """Direction a (unit, float64) maximising min gap / spread of the sorted ⟨a, x_i⟩."""
    n, dx = x.shape
    rng = np.random.default_rng(seed)
    best, best_score = None, -1.0
    cands = [np.ones(1)] if dx == 1 else [rng.standard_normal(dx) for _ in range(max(1, trials))]
    for a in cands:
        a = a / np.linalg.norm(a)
        z = np.sort(x @ a)
        spread = z[-1] - z[0]
        score = float(np.min(np.diff(z)) / spread) if n > 1 and spread > 0 else (1.0 if n == 1 else 0.0)
        if score > best_score:
            best, best_score = a, score
    if best_score <= 0:
        raise GeneralPositionError(f"no projection among {trials} random directions separates all {n} points "
                                   "(tied projections); the inputs may be duplicated or nearly so")
    return best, best_score


def _exact_z(x: np.ndarray, a: np.ndarray) -> list[Fraction]:
    af = [Fraction(float(v)) for v in a]
    return [sum((Fraction(float(xi)) * ai for xi, ai in zip(row, af)), Fraction(0)) for row in x]


def build(dataset: Dataset, widths=None, *, activation: str = "relu", seed: int = 0, trials: int = 16,
          **opts) -> Construction:
    """Zhang et al.'s one-hidden-layer memorizer (see the module docstring).

    Args:
      dataset: N distinct points, real labels (dy = 1); ``label_scale`` is folded in.
      widths: None/[] or [d1] with d1 >= N (the built net always has N hidden units).
      trials: random directions tried for the projection.
    """
    if activation != "relu":
        raise CapacityError(f"zhang is a ReLU construction; got activation {activation!r}")
    if opts:
        raise CapacityError(f"zhang: unknown options {sorted(opts)}")
    _check(dataset, widths)
    t0 = time.perf_counter()
    x = dataset.x
    y = dataset.y_original[:, 0]
    n, dx = x.shape
    a, score = choose_projection(x, trials, seed)
    zf = x @ a
    order = np.argsort(zf, kind="stable")
    zs = _exact_z(x[order], a)  # exact projections, sorted by their float value
    for i in range(1, n):
        if not zs[i - 1] < zs[i]:
            raise GeneralPositionError(f"points {int(order[i - 1])} and {int(order[i])} have projections that are "
                                       "not strictly increasing in exact arithmetic; the inputs are too close for "
                                       "float64 projection (try another seed)")
    # biases (float64), checked exactly: z_(i-1) < b_i < z_(i)
    b = np.empty(n)
    g1 = (zs[1] - zs[0]) if n > 1 else Fraction(1)
    b[0] = float(zs[0] - g1)
    for i in range(1, n):
        b[i] = float(zs[i - 1] + THETA * (zs[i] - zs[i - 1]))
    bq = [Fraction(float(v)) for v in b]
    for i in range(n):
        lo_ok = i == 0 or zs[i - 1] < bq[i]
        if not (lo_ok and bq[i] < zs[i]):
            raise GeneralPositionError(f"projected gap before point {int(order[i])} is below float64 resolution; "
                                       "no float bias fits between the neighbours (rescale the inputs)")
    # output weights: exact forward substitution against the rounded weights
    w = np.empty(n)
    s = Fraction(0)  # Σ_{j<i} w_j
    t = Fraction(0)  # Σ_{j<i} w_j b_j
    yo = y[order]
    for i in range(n):
        rem = Fraction(float(yo[i])) - (zs[i] * s - t)
        w[i] = float(rem / (zs[i] - bq[i]))
        wq = Fraction(float(w[i]))
        s += wq
        t += wq * bq[i]
    kernel0 = np.repeat(a[:, None], n, axis=1)
    bias0 = -b
    kernel1 = w[:, None]
    bias1 = np.zeros(1)
    absw = np.abs(w)
    record = {
        "theorem": "zhang2017", "hidden_units": n, "params_formula_2N_plus_d": 2 * n + dx,
        "projection": a.tolist(), "min_gap_over_spread": score, "theta": str(THETA),
        "unit_order": order.tolist() if n <= 64 else f"{n} indices (sorted by projection)",
        "max_abs_output_weight": float(absw.max()), "min_abs_output_weight": float(absw[absw > 0].min()) if np.any(absw > 0) else 0.0,
        "widths_requested": list(widths) if widths else None, "seconds": time.perf_counter() - t0,
    }
    return Construction("zhang", MLPNet([kernel0, kernel1], [bias0, bias1], "relu"), record)


register("zhang", build, "Zhang et al. 2017: one hidden ReLU layer, N units sharing one projection, 2N + d params",
         theorem="zhang2017")
