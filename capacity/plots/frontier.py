"""The memorization frontier figure: measured sizes of each construction against N, with theory lines.

Theory on top: the VC lower bound (W >= √N, constants dropped: VC dim O(W²) must reach N),
Yun et al.'s necessity for 3-layer nets (the smallest widths with 2 d1 d2 + d2 + 2 >= N,
:func:`theory.bounds.necessity_fewest_neurons`: about N/2 weights and √(2N) neurons), and the
53-bit float64 significand.  Rows come from :mod:`capacity.experiments.frontier`.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from theory.bounds import necessity_fewest_neurons


def _necessity(n: int) -> tuple[int, int]:
    """(weights d1 d2 + d2, neurons d1 + d2) of the smallest widths the necessity bound allows."""
    d1, d2 = necessity_fewest_neurons(max(n, 1))
    return d1 * d2 + d2, d1 + d2


def atomic_csv(path: str, header: list[str], rows: list[list]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


def draw(rows, path_stem: str, *, dx: int) -> None:
    """frontier.png/.pdf with three log-log panels and the theory lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.level != "failed"]
    names = sorted({r.construction for r in ok})
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    markers = dict(zip(names, "osD^vP*X"))
    for ax, field, ylabel in zip(axes, ("params", "neurons", "bits"),
                                 ("parameters (distinct non-zero)", "hidden neurons", "bits per weight (max significand)")):
        for name in names:
            pts = sorted((r.n, getattr(r, field)) for r in ok if r.construction == name)
            if pts:
                ax.plot(*zip(*pts), marker=markers[name], label=name)
        all_n = sorted({r.n for r in ok})
        if all_n:
            ns = np.geomspace(min(all_n), max(all_n), 50)
            if field == "params":
                ax.plot(ns, np.sqrt(ns), "k--", lw=1, label="VC lower bound √N (constants dropped)")
                ax.plot(ns, [_necessity(int(v))[0] for v in ns], "k:", lw=1.5,
                        label="Yun necessity, 3-layer (2d₁d₂+d₂+2 ≥ N)")
            elif field == "neurons":
                ax.plot(ns, [_necessity(int(v))[1] for v in ns], "k:", lw=1.5,
                        label="Yun necessity, 3-layer: min d₁+d₂")
            else:
                ax.axhline(53, color="k", ls="--", lw=1, label="float64 significand (53 bits)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (points memorized)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Memorization frontier: sizes measured from built and verified networks "
                 f"(Gaussian data in R^{dx}; every point passed its verification tier)")
    fig.tight_layout()
    for ext in ("png", "pdf"):
        tmp = f"{path_stem}.tmp.{ext}"
        fig.savefig(tmp, dpi=130)
        os.replace(tmp, f"{path_stem}.{ext}")
    plt.close(fig)
