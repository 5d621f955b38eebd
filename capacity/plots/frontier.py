"""The memorization frontier figure: measured sizes of each construction against N, with theory lines.

Theory on top: the VC lower bound (W >= √N, constants dropped: VC dim O(W²) must reach N),
Yun et al.'s necessity for 3-layer nets (the smallest widths with 2 d1 d2 + d2 + 2 >= N,
:func:`theory.bounds.necessity_fewest_neurons`: about N/2 weights and √(2N) neurons), and the
53-bit float64 significand.  Rows come from :mod:`capacity.experiments.frontier`.

The constructions do not all solve the same task: Baum's fits binary labels (1 bit per point),
hardt-ma and vardi four classes (2 bits), the others real labels; each curve's legend entry
says which, and a note on the figure marks Baum's binary task.
"""

from __future__ import annotations

import csv
import os
import textwrap

import numpy as np

from theory.bounds import necessity_fewest_neurons

TASKS = {  # label kind of capacity.experiments.frontier.SPECS -> words for the legend
    "real": "real labels",
    "classes2": "binary labels",
    "classes4": "4 classes",
    "classes4-sphere": "4 classes, unit sphere",
}


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


def task_of(name: str, label_kinds: dict | None = None) -> str:
    """The label task a construction is measured on in the frontier, in words (``label_kinds``: name ->
    label kind, as in :data:`capacity.experiments.frontier.SPECS`; real labels when absent)."""
    kind = (label_kinds or {}).get(name, "real")
    return TASKS.get(kind, kind)


def bit_ticks(lo: float, hi: float) -> list[int]:
    """Readable integer ticks for a log2 bits axis spanning [lo, hi]: powers of two and 53 (float64)."""
    lo, hi = max(float(lo), 1.0), max(float(hi), 2.0)
    ticks = {2 ** k for k in range(0, 16) if lo <= 2 ** k <= hi} | ({53} if lo <= 53 <= hi else set())
    if len(ticks) < 4:  # a short range: add 3·2^k (24, 48, 96, ...)
        ticks |= {3 * 2 ** k for k in range(0, 15) if lo <= 3 * 2 ** k <= hi}
    ticks = sorted(ticks)
    # thin out neighbours closer than a factor 1.25 (e.g. 53 next to 64): keep 53
    out = []
    for t in ticks:
        if out and t / out[-1] < 1.25:
            if t == 53:
                out[-1] = t
            continue
        out.append(t)
    return out if len(out) >= 2 else ticks


def draw(rows, path_stem: str | None, *, dx: int, label_kinds: dict | None = None):
    """frontier.png/.pdf with three panels and the theory lines; returns the figure when path_stem is None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    from capacity.plots.phase import legend_visible

    ok = [r for r in rows if r.level != "failed"]
    names = sorted({r.construction for r in ok})
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.6))
    markers = dict(zip(names, "osD^vP*X"))
    colors = {name: f"C{i}" for i, name in enumerate(names)}
    handles = {}
    all_n = sorted({r.n for r in ok})
    for ax, field, ylabel, title in zip(
            axes, ("params", "neurons", "bits"),
            ("parameters (distinct non-zero weights and biases)", "hidden neurons (count)",
             "bits per weight (largest significand, bits)"),
            ("Parameters", "Hidden neurons", "Precision of the weights")):
        for name in names:
            pts = sorted((r.n, getattr(r, field)) for r in ok if r.construction == name)
            if pts:
                h, = ax.plot(*zip(*pts), marker=markers[name], color=colors[name], label="_" + name)
                handles[name] = h
        if all_n:
            ns = np.geomspace(min(all_n), max(all_n), 50)
            if field == "params":
                ax.plot(ns, np.sqrt(ns), "k--", lw=1, label="VC lower bound √N (constants dropped)")
                ax.plot(ns, [_necessity(int(v))[0] for v in ns], "k:", lw=1.5,
                        label="Yun necessity, 3-layer, real labels (2d₁d₂+d₂+2 ≥ N)")
            elif field == "neurons":
                ax.plot(ns, [_necessity(int(v))[1] for v in ns], "k:", lw=1.5,
                        label="Yun necessity, 3-layer, real labels: min d₁+d₂")
            else:
                ax.axhline(53, color="k", ls="--", lw=1, label="float64 significand (53 bits)")
        ax.set_xscale("log")
        ax.set_xlabel("N (points memorized)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        if field == "bits":
            vals = [r.bits for r in ok] + [53]
            lo, hi = min(vals), max(vals)
            ax.set_yscale("log", base=2)
            ax.set_ylim(lo / 1.25, hi * 1.25)
            ticks = bit_ticks(*ax.get_ylim())
            ax.yaxis.set_major_locator(FixedLocator(ticks))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_yticklabels([str(t) for t in ticks])
            floats = sorted({r.construction for r in ok if r.bits == 53})
            note = ("Note: Baum's construction solves the binary-label task (1 bit per point); the others fit "
                    "real labels or 4 classes.")
            if floats:
                note = f"At 53 bits (markers overlap): {', '.join(floats)} use full float64 significands. " + note
            ax.text(0.03, 0.62, textwrap.fill(note, 48), transform=ax.transAxes, va="bottom", ha="left", fontsize=7,
                    bbox=dict(boxstyle="round", fc="white", ec="0.7", alpha=0.9))
            ax.grid(True, which="major", alpha=0.3)
            legend_visible(ax, fontsize=7, loc="lower right")
        else:
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
            legend_visible(ax, fontsize=7, loc="upper left")
    labels = [f"{name} ({task_of(name, label_kinds)})" for name in handles]
    fig.legend(list(handles.values()), labels, loc="lower center", ncol=len(handles), fontsize=8,
               bbox_to_anchor=(0.5, -0.01), frameon=False, title="construction (label task)", title_fontsize=8)
    fig.suptitle("Memorization frontier: sizes measured from networks built and verified on N Gaussian points in "
                 f"R^{dx} (every point passed its verification tier)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    if path_stem is None:
        return fig
    for ext in ("png", "pdf"):
        tmp = f"{path_stem}.tmp.{ext}"
        fig.savefig(tmp, dpi=130)
        os.replace(tmp, f"{path_stem}.{ext}")
    plt.close(fig)
