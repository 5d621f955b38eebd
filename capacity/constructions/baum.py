"""Baum (J. Complexity 4(3):193-215, 1988): one hidden layer, ~⌈N/dx⌉ threshold units, binary labels.

**Theorem** (confirmed from the abstract as quoted by Bubeck et al. 2020; constructions-survey.md
§2.1).  A one-hidden-layer network of ⌈N/dx⌉ *threshold* units realises any dichotomy of N
points in general position in ℝ^dx, and some dichotomies need that many.

**Construction** (the standard reading; the survey marks its details UNCONFIRMED against the
PDF).  Take the smaller class (m <= N/2 points), split it into ⌈m/dx⌉ groups of dx; each
group spans a hyperplane containing no other point (general position); two threshold units
on parallel hyperplanes at ±ε give the slab indicator; sum the indicators.  2⌈m/dx⌉ <=
⌈N/dx⌉ + 2 threshold units.

**Our ReLU realisation (RECONSTRUCTED)**: each threshold unit becomes a ramp of two ReLUs, so a
slab is the trapezoid

    T_g(x) = [ReLU(u - (β-2)ε) - ReLU(u - (β-1)ε) - ReLU(u - (β+1)ε) + ReLU(u - (β+2)ε)] / ε,
    u = ⟨n_g, x⟩,

with ε a power of two <= gap/2.5 and β = round(t_g/ε) an integer, so every bias (β+j)ε and
the output weight 1/ε are exact in float64.  T_g is *exactly* 1 for u ∈ [(β-1)ε, (β+1)ε]
(the group) and exactly 0 for |u - βε| >= 2ε (every other point), even with the stored
float64 weights.  Outputs: two logits [1 - S, S] (S = Σ_g T_g) for the minority class 1 (or
swapped), so the one-hot targets are met with **zero exact residual**: 4⌈m/dx⌉ ReLUs
("threshold_units" = 2⌈m/dx⌉ is Baum's count).  Weight magnitudes: 1/ε ∝ 1/gap, recorded.

``widths``: [d1] with d1 >= 4⌈m/dx⌉ (m = minority-class size; the net uses exactly that);
fewer raises :class:`WidthError`.  Labels: two classes (int labels 0/1).  General position:
as in :mod:`capacity.constructions.bubeck` (raises :class:`GeneralPositionError` with a subset).

**Checked before it is returned**: :func:`capacity.constructions._slabs.certify_slabs` evaluates the
stored float64 network exactly at every data point (record ``exact_residual``, generally 0) and
raises :class:`~capacity.errors.SlabFitError` rather than return a network that misses
a label by more than ``tol``.  :func:`capacity.verification.certify` then gives ``certified-exact``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from capacity.errors import SlabFitError
from capacity.constructions._slabs import certify_slabs, group_hyperplanes, make_groups
from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, ShapeError, WidthError
from capacity.networks import MLPNet
from capacity.verification import DEFAULT_TOL


def required_width(ds: Dataset) -> tuple[int, int]:
    """(4⌈m/dx⌉, minority class) for a two-class dataset."""
    counts = np.bincount(ds.y, minlength=2)
    minority = int(np.argmin(counts))
    return 4 * math.ceil(int(counts[minority]) / ds.dx), minority


def build(dataset: Dataset, widths=None, *, activation: str = "relu", seed: int = 0, tol: float = DEFAULT_TOL,
          **opts) -> Construction:
    """Baum's slab memorizer with ReLU ramps (module docstring).  widths: None or [d1 >= 4⌈m/dx⌉].

    The stored network is checked in exact arithmetic before it is returned; a miss of more than
    ``tol`` raises :class:`capacity.errors.SlabFitError` (a GeneralPositionError)."""
    if activation != "relu":
        raise CapacityError(f"baum is built from ReLU ramps; got activation {activation!r}")
    if opts:
        raise CapacityError(f"baum: unknown options {sorted(opts)}")
    ds = dataset
    if not ds.is_classification or ds.dy > 2:
        raise ShapeError("baum realises dichotomies: give integer class labels 0/1 (for real labels use 'bubeck')")
    need, minority = required_width(ds)
    if widths and (len(widths) != 1 or widths[0] < need):
        raise WidthError(f"baum needs one hidden layer of 4*ceil(m/dx) = {need} ReLUs (m = "
                         f"{int(np.sum(ds.y == minority))} points of the smaller class {minority}, dx = {ds.dx}); "
                         f"got widths {list(widths)}. Use widths [{max(need, 1)}]")
    t0 = time.perf_counter()
    idx = np.flatnonzero(ds.y == minority)
    groups = make_groups(idx, ds.dx, seed) if idx.size else []
    units = max(need, 1)  # an all-one-class dataset still gets one (dead) unit
    kernel = np.zeros((ds.dx, units))
    bias = np.full(units, -1.0)
    s_weights = np.zeros(units)
    eps_all = []
    if groups:
        normals, offsets, gaps, _ = group_hyperplanes(ds.x, groups, seed)
        for g, grp in enumerate(groups):
            gap = gaps[g] if np.isfinite(gaps[g]) else 1.0
            eps = 2.0 ** math.floor(math.log2(gap / 2.5))
            beta = round(offsets[g] / eps)
            if abs(beta) + 2 >= 2**53:
                raise SlabFitError(f"baum: the slab of group {sorted(int(i) for i in grp)} is too thin for its offset "
                                   f"(gap {gap:.2e}, offset {offsets[g]:.2e}: more than 2^53 slab widths); the data are "
                                   "in general position only at float64 resolution: perturb or remove those points")
            cols = slice(4 * g, 4 * g + 4)
            kernel[:, cols] = normals[g][:, None]
            bias[cols] = [-(beta - 2) * eps, -(beta - 1) * eps, -(beta + 1) * eps, -(beta + 2) * eps]
            s_weights[cols] = np.array([1.0, -1.0, -1.0, 1.0]) / eps
            eps_all.append(eps)
    out = np.zeros((units, 2))
    out[:, minority] = s_weights
    out[:, 1 - minority] = -s_weights
    out_bias = np.zeros(2)
    out_bias[1 - minority] = 1.0
    check = certify_slabs(ds.x, kernel, bias, out, out_bias, groups, np.eye(2)[ds.y], tol=tol, name="baum",
                          half_widths=eps_all)
    record = {
        "theorem": "baum1988", "mechanism": "RECONSTRUCTED: threshold units as 2-ReLU ramps, slabs as trapezoids",
        "minority_class": minority, "groups": len(groups), "hidden_units": units,
        "threshold_units": 2 * len(groups), "baum_bound_ceil_N_over_dx": math.ceil(ds.n / ds.dx),
        "eps_min": float(min(eps_all)) if eps_all else None, "eps_max": float(max(eps_all)) if eps_all else None,
        "max_abs_hidden_weight": float(max(np.abs(kernel).max(), np.abs(bias).max())),
        "max_abs_output_weight": float(np.abs(out).max()),
        "exact_residual": check["exact_residual"],
        "widths_requested": list(widths) if widths else None, "seconds": time.perf_counter() - t0,
    }
    return Construction("baum", MLPNet([kernel, out], [bias, out_bias], "relu"), record)


register("baum", build, "Baum 1988: one hidden layer of slab units (ReLU ramps), dichotomies of points in general "
         "position", theorem="baum1988")
