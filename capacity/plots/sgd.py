"""Figures for :mod:`capacity.experiments.sgd` (PNG + PDF + the CSV beside each), measured against predicted.

Regenerate with one command (the quick default)::

    capacity sgd --figures-dir figures --out runs/sgd

Figures (``figures/sgd_*``):

* ``sgd_risk_vs_radius``: R(θ₀) and min_t R(θ_t) against ρ (log-log), every trajectory, with the
  linear predictions ‖J(θ₀ − θ*)‖²/N and min_t of the pathwise linearized SGD drawn on top;
  vertical lines at the provable no-flip radius ρ_safe and the kink margin μ.
* ``sgd_trajectories``: R(θ_t) against t for a few ρ (direction 0, seed 0) with the pathwise
  linearized curve (dashed) and the expected linearized-SGD curve E R_t (dotted).
* ``sgd_distance``: ‖θ_t − θ*‖/ρ against t for the same trajectories, linear prediction dashed.
* ``sgd_agreement``: max |log10 R_meas − log10 R_lin| against ρ, trajectories with and without
  activation-pattern changes; the local theory predicts slope 1 where the pattern is fixed.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from capacity.experiments.sgd import Experiment, float_floor, log_deviation
from capacity.plots.phase import legend_visible


def _save(fig, figures_dir: str, name: str, header: list[str], rows) -> list[str]:
    os.makedirs(figures_dir, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = os.path.join(figures_dir, f"{name}.{ext}")
        fig.savefig(path + ".tmp", format=ext, dpi=130, bbox_inches="tight")
        os.replace(path + ".tmp", path)
        paths.append(path)
    path = os.path.join(figures_dir, f"{name}.csv")
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(path + ".tmp", path)
    paths.append(path)
    return paths


def _chosen(exp: Experiment, k: int = 4) -> list[int]:
    """One trajectory (direction 0, seed 0) for up to k radii spread over the range, ρ_safe included."""
    radii = exp.radii
    pick = sorted(set(np.linspace(0, len(radii) - 1, min(k, len(radii))).round().astype(int)))
    safe = int(np.argmin(np.abs(np.log(radii / max(exp.geometry.no_flip_radius, 1e-300)))))
    pick = sorted(set(pick[:k - 1]) | {safe} | {pick[-1]})
    idx = exp.index
    return [int(np.flatnonzero((idx["radius"] == radii[i]) & (idx["direction"] == 0) & (idx["seed"] == 0))[0])
            for i in pick]


def plot(exp: Experiment, figures_dir: str = "figures") -> list[str]:
    """Write the four figures; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, idx, g, cfg = exp.records, exp.index, exp.geometry, exp.config
    title_cfg = (f"N={exp.minimum.n}, widths {'-'.join(map(str, exp.minimum.layout.widths))}, "
                 f"B={cfg.batch}, η={cfg.lr:.3g}, T={cfg.steps}")
    paths: list[str] = []
    rho = idx["radius"]
    flipped = r["flips_max"] > 0

    # 1. risk at start and minimum risk against ρ
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter(rho, r["risk0"], s=14, marker="o", color="C0", label="R(θ₀) measured")
    ax.scatter(rho[~flipped], r["min_risk"][~flipped], s=14, marker="v", color="C1", label="min_t R(θ_t), pattern fixed")
    ax.scatter(rho[flipped], r["min_risk"][flipped], s=18, marker="x", color="C3", label="min_t R(θ_t), pattern changed")
    radii = exp.radii
    med = lambda a: np.array([np.median(a[rho == q]) for q in radii])  # noqa: E731
    ax.plot(radii, med(r["risk0_lin"]), "k--", lw=1, label="‖J(θ₀−θ*)‖²/N (linear)")
    ax.plot(radii, med(r["min_risk_lin"]), "k:", lw=1.2, label="min_t R, linearized SGD (median)")
    ax.axvline(g.no_flip_radius, color="g", lw=0.8, ls="-.", label=f"ρ_safe = {g.no_flip_radius:.1e} (provable)")
    ax.axvline(g.kink_margin, color="gray", lw=0.8, ls="-.", label=f"kink margin μ = {g.kink_margin:.1e}")
    ax.set(xscale="log", yscale="log", xlabel="perturbation radius ρ = ‖θ₀ − θ*‖", ylabel="empirical risk R",
           title=f"SGD near θ*: initial and minimum risk vs ρ\n{title_cfg}")
    legend_visible(ax, fontsize=7)
    paths += _save(fig, figures_dir, "sgd_risk_vs_radius",
                   ["rho", "direction", "seed", "risk0", "risk0_linear", "min_risk", "min_risk_linear", "flips_start",
                    "flips_max", "dist_max"],
                   zip(rho, idx["direction"], idx["seed"], r["risk0"], r["risk0_lin"], r["min_risk"],
                       r["min_risk_lin"], r["flips0"], r["flips_max"], r["dist_max"]))
    plt.close(fig)

    chosen = _chosen(exp)
    t = exp.times

    # 2. risk trajectories
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    rows = []
    for c, k in enumerate(chosen):
        col = f"C{c}"
        ax.plot(t, r["risk"][k], color=col, lw=1.3, label=f"ρ={rho[k]:.1e} measured (flips max {r['flips_max'][k]})")
        ax.plot(t, r["risk_lin"][k], color=col, ls="--", lw=1)
        ax.plot(t, exp.expected[k], color=col, ls=":", lw=1)
        rows += [(rho[k], tt, a, b, e) for tt, a, b, e in zip(t, r["risk"][k], r["risk_lin"][k], exp.expected[k])]
    ax.plot([], [], "k--", lw=1, label="linearized SGD, same batches")
    ax.plot([], [], "k:", lw=1, label="E R_t, linearized SGD")
    ax.axhline(float_floor(exp.minimum), color="gray", lw=0.6, label="float64 rounding floor of R at θ*")
    ax.set(yscale="log", xlabel="SGD step t", ylabel="empirical risk R(θ_t)",
           title=f"Risk along SGD from θ* + ρ·u, measured vs linearized\n{title_cfg}")
    legend_visible(ax, fontsize=7)
    paths += _save(fig, figures_dir, "sgd_trajectories", ["rho", "step", "risk", "risk_linear_pathwise", "risk_expected"], rows)
    plt.close(fig)

    # 3. distance to θ*, relative to ρ (most of a random direction lies in the null space of J, which SGD
    #    does not move, so ‖θ_t − θ*‖/ρ stays near ‖P_null u‖ ≈ sqrt(1 − N·dy/P))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    rows = []
    for c, k in enumerate(chosen):
        col = f"C{c}"
        ax.plot(t, r["dist"][k] / rho[k], color=col, lw=1.3, label=f"ρ={rho[k]:.1e} (flips max {r['flips_max'][k]})")
        ax.plot(t, r["dist_lin"][k] / rho[k], color=col, ls="--", lw=1)
        rows += [(rho[k], tt, a, b, f) for tt, a, b, f in zip(t, r["dist"][k], r["dist_lin"][k], r["flips"][k])]
    ax.plot([], [], "k--", lw=1, label="linearized SGD")
    frac = exp.geometry.rank / exp.minimum.layout.size
    ax.axhline(np.sqrt(1 - frac), color="gray", lw=0.8, ls=":", label="sqrt(1 − rank(J)/P): null-space part of a random u")
    curves = np.array([r["dist"][k] / rho[k] for k in chosen])
    same = [k for i, k in enumerate(chosen) if np.max(np.abs(curves[i] - curves[0])) <= 1e-3 * np.max(np.abs(curves[0]))]
    if len(same) > 1:
        ax.text(0.98, 0.5, f"curves for ρ ≤ {max(rho[k] for k in same):.1e} coincide (within 0.1%)",
                transform=ax.transAxes, ha="right", va="center", fontsize=7, color="dimgray")
    ax.set(xlabel="SGD step t", ylabel="‖θ_t − θ*‖ / ρ",
           title=f"Distance from the memorizing minimum along SGD (relative to ρ)\n{title_cfg}")
    legend_visible(ax, fontsize=7)
    paths += _save(fig, figures_dir, "sgd_distance", ["rho", "step", "dist", "dist_linear", "flips"], rows)
    plt.close(fig)

    # 4. agreement with the linearized model against ρ
    dev = log_deviation(r["risk"], r["risk_lin"], float_floor(exp.minimum))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter(rho[~flipped], dev[~flipped], s=14, color="C0", label="pattern fixed all run")
    ax.scatter(rho[flipped], dev[flipped], s=18, marker="x", color="C3", label="pattern changed")
    ok = ~flipped & (dev > 0)
    if ok.any():
        c1 = np.median(dev[ok] / rho[ok])
        ax.plot(radii, c1 * radii, "k--", lw=1, label=f"slope 1: {c1:.2g}·ρ (local theory: O(ρ))")
    ax.axvline(g.no_flip_radius, color="g", lw=0.8, ls="-.", label="ρ_safe")
    ax.set(xscale="log", yscale="log", xlabel="perturbation radius ρ",
           ylabel="max_t |log10 R_meas − log10 R_lin| (decades)",
           title=f"Deviation of SGD from its linearization, per trajectory\n{title_cfg}")
    legend_visible(ax, fontsize=7)
    paths += _save(fig, figures_dir, "sgd_agreement", ["rho", "direction", "seed", "deviation_decades", "flips_max"],
                   zip(rho, idx["direction"], idx["seed"], dev, r["flips_max"]))
    plt.close(fig)
    return paths
