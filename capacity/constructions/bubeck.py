"""Bubeck, Eldan, Lee & Mikulincer (NeurIPS 2020): ReLU version of Baum, real labels, ~4N/dx units.

**Claim** (confirmed from the abstract, constructions-survey.md §2.2): with about four times
Baum's ⌈N/dx⌉ neurons, a one-hidden-layer ReLU network fits *arbitrary real labels* of N
points in general position in ℝ^dx exactly; the weights of such Baum-type networks are far
from the optimal magnitude (the paper's point).

**Mechanism: RECONSTRUCTED** (the survey marks it UNCONFIRMED; this is our own derivation of
a 4-ReLU-per-group gadget with exactly that count, verified here).  Split the N points into
G = ⌈N/dx⌉ groups of dx.  For group g let s(x) = ⟨n_g, x⟩ - t_g vanish on the group (its
hyperplane; general position = no other point on it), ε = gap/2 with gap the smallest |s| of
a non-group point, h(x) = ⟨v, x⟩ + c with h(x_i) = y_i on the group (min-norm solve), and
δ = ε / (2 max_j |h(x_j)|).  Then

    F_g(x) = [ReLU(s + ε + δh) - ReLU(s + ε) - ReLU(s - ε + δh) + ReLU(s - ε)] / δ

equals h(x) = y_i at group points (s = 0, |δh| < ε) and exactly 0 at every other point
(|s| >= 2ε > ε + δ|h|: either all four ReLUs are off, or all on and they cancel).  So
f = Σ_g F_g fits every label with 4⌈N/dx⌉ hidden ReLUs, 4⌈N/dx⌉(dx + 2) + 1 weights
(2⌈N/dx⌉ distinct kernel columns, since the 1st/3rd and 2nd/4th units share a kernel).

Weight magnitudes (recorded, the point of Bubeck et al.): output weights ±1/δ =
±2 max|h| / ε, i.e. inversely proportional to the slab half-width ε, which shrinks like the
smallest point-to-hyperplane distance (≈ 1/N for Gaussian data).  ``record`` holds max|W|
per layer, the ε and δ ranges and ‖W‖_F.

``widths``: [d1] with d1 >= 4⌈N/dx⌉ (the net uses exactly 4⌈N/dx⌉); fewer raises
:class:`WidthError`; omitted means derived.  General position is checked (exact
determinants for suspects) and violations raise :class:`GeneralPositionError` naming
dx + 1 indices on one hyperplane.  Labels: real, dy = 1 (``label_scale`` folded in).

**Exact biases, checked before return.**  The four biases of a group are integer multiples of one
power of two (all below 2^53 of it), so bA - bB - bC + bD = 0 holds exactly for the stored
float64 numbers and far points get exactly 0.  :func:`capacity.constructions._slabs.certify_slabs`
then evaluates the stored network exactly at every data point (a rigorous float64 sign test, exact
rationals only for the partial slabs): record ``exact_residual`` (generally ~1e-13, from rounding
h's coefficients), and :class:`~capacity.errors.SlabFitError` (a
GeneralPositionError naming the points) instead of a network that misses a label by more than
``tol``.  That happens when a slab is too thin for float64: h is carried by kd - n, whose
absolute precision is ulp(kd) ≈ 2^-53, so the label error is ≈ 2^-53 |x| / δ = 2^-52 |x| max|h| / ε.
:func:`capacity.verification.certify` re-checks independently (N · 4⌈N/dx⌉ · dx exact operations).
The NTK and complex-recombination constructions of the paper are not implemented.
"""

from __future__ import annotations

import math
import time

import numpy as np

from capacity.constructions._slabs import certify_slabs, dyadic_grid, group_hyperplanes, make_groups, on_grid
from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, ShapeError, WidthError
from capacity.networks import MLPNet
from capacity.verification import DEFAULT_TOL


def required_width(n: int, dx: int) -> int:
    """4 ⌈N/dx⌉ hidden ReLUs."""
    return 4 * math.ceil(n / dx)


def build(dataset: Dataset, widths=None, *, activation: str = "relu", seed: int = 0, tol: float = DEFAULT_TOL,
          **opts) -> Construction:
    """Bubeck et al.'s exact ReLU memorizer (module docstring).  widths: None or [d1 >= 4⌈N/dx⌉].

    The stored network is checked in exact arithmetic before it is returned
    (:func:`capacity.constructions._slabs.certify_slabs`); if it would miss a label by more than
    ``tol`` it raises :class:`capacity.errors.SlabFitError` (a GeneralPositionError)."""
    if activation != "relu":
        raise CapacityError(f"bubeck is a ReLU construction; got activation {activation!r}")
    if opts:
        raise CapacityError(f"bubeck: unknown options {sorted(opts)}")
    ds = dataset
    if ds.is_classification or ds.dy != 1:
        raise ShapeError("bubeck fits one real label per point (dy = 1); for class labels use 'baum'")
    need = required_width(ds.n, ds.dx)
    if widths:
        if len(widths) != 1 or widths[0] < need:
            raise WidthError(f"bubeck needs one hidden layer of 4*ceil(N/dx) = 4*ceil({ds.n}/{ds.dx}) = {need} ReLUs; "
                             f"got widths {list(widths)}. Use widths [{need}]")
    t0 = time.perf_counter()
    x, y = ds.x, ds.y_original[:, 0]
    groups = make_groups(np.arange(ds.n), ds.dx, seed)
    normals, offsets, gaps, _ = group_hyperplanes(x, groups, seed)
    xa = np.hstack([x, np.ones((ds.n, 1))])
    kernel = np.zeros((ds.dx, need))
    bias = np.zeros(need)
    out = np.zeros((need, 1))
    eps_all, delta_all = [], []
    for g, grp in enumerate(groups):
        coef, *_ = np.linalg.lstsq(xa[grp], y[grp], rcond=None)  # h(x) = v.x + c = y on the group
        v, c = coef[:-1], coef[-1]
        hmax = max(float(np.max(np.abs(xa @ coef))), 1e-300)
        eps = gaps[g] / 2 if np.isfinite(gaps[g]) else 1.0
        delta = eps / (2 * hmax)
        n_g, t_g = normals[g], offsets[g]
        kd = n_g + delta * v
        cols = slice(4 * g, 4 * g + 4)
        kernel[:, cols] = np.stack([kd, n_g, kd, n_g], axis=1)
        # All four biases are integer multiples of one power of two q with every |bias| < 2^53 q, so
        # they are float64 exactly and bA - bB = bC - bD = shift ≈ δc holds exactly: the four units
        # cancel exactly where all are on.  (Rounding bB and bD separately and adding δc rounded to
        # the coarser ulp broke this whenever bA crossed a binade; the old fallback then *doubled*
        # the shift, so the group's own labels were off by δc/δ = c: issue reproducer, 0.13.)
        q = dyadic_grid(abs(t_g) + eps + abs(delta * c))
        i_b, i_d, i_s = on_grid(-t_g + eps, q), on_grid(-t_g - eps, q), on_grid(delta * c, q)
        b_a, b_b, b_c, b_d = ((i_b + i_s) * q, i_b * q, (i_d + i_s) * q, i_d * q)
        bias[cols] = [b_a, b_b, b_c, b_d]
        out[cols, 0] = np.array([1.0, -1.0, -1.0, 1.0]) / delta
        eps_all.append(eps)
        delta_all.append(delta)
    kernels, biases = [kernel, out], [bias, np.zeros(1)]
    check = certify_slabs(x, kernel, bias, out, biases[1], groups, y, tol=tol, name="bubeck",
                          half_widths=eps_all)
    record = {
        "theorem": "bubeck2020", "mechanism": "RECONSTRUCTED 4-ReLU slab gadget (see module docstring)",
        "groups": len(groups), "hidden_units": need, "dx": ds.dx,
        "eps_min": float(min(eps_all)), "eps_max": float(max(eps_all)),
        "delta_min": float(min(delta_all)), "delta_max": float(max(delta_all)),
        "max_abs_hidden_weight": float(max(np.abs(kernel).max(), np.abs(bias).max())),
        "max_abs_output_weight": float(np.abs(out).max()),
        "frobenius_hidden": float(np.linalg.norm(kernel)), "frobenius_output": float(np.linalg.norm(out)),
        "exact_residual": check["exact_residual"],
        "widths_requested": list(widths) if widths else None, "seconds": time.perf_counter() - t0,
    }
    return Construction("bubeck", MLPNet(kernels, biases, "relu"), record)


register("bubeck", build, "Bubeck et al. 2020: one hidden layer, 4*ceil(N/dx) ReLUs, real labels, general position",
         theorem="bubeck2020")
