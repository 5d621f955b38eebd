"""Capacity phase diagrams: theory lines and the figures drawn from sweep records.

Lines drawn over the heatmaps (N as a function of the hidden width w, uniform widths):

* **Yun sufficiency** (Yun, Sra & Jadbabaie 2019, 3-layer ReLU, dy = 1):
  N = 4⌊d1/4⌋⌊d2/4⌋ (:func:`theory.bounds.yun3_capacity`); every dataset of at most
  this many distinct points is memorized by *some* network of these widths.
* **Yun necessity**: N = 2·d1·d2 + d2 + 2; beyond it *some* dataset cannot be
  memorized (:func:`theory.bounds.yun3_necessity_violated`).  For one hidden layer
  the analogous line is N = d1 + 2.
* **parameters = N**: the number of weights and biases W equals N.
* **Zhang et al. 2017** (one hidden layer): width = N (their 2N + dx-parameter
  construction uses N hidden units).
* **Cover 1965**: a homogeneous linear classifier on N points in general position in
  R^dx realises a random ±1 labelling with probability C(N, dx)/2^N, which is 1/2 at
  N = 2·dx (the linear capacity; 2·(dx + 1) with a bias term); drawn as a vertical
  line, a reference for binary labels only.
* **VC dimension** (Bartlett, Harvey, Liaw & Mehrabian 2019): VCdim = O(W·L·log W)
  for piecewise-linear nets with W parameters and L layers.  We draw
  N = W·L·log2(W) with **constant 1**: an order-of-magnitude line, not a proven
  bound (the theorem's constant is not used).  Memorizing arbitrary ±1 labels of N
  points requires N ≤ VCdim.

Empirical capacity of an architecture = the largest N of the grid at which at least
half of the seeds memorized (``censored`` when that is the largest N tried).  Bits per
parameter = capacity × bits per label / W, with bits per label = log2(C) for C classes
and log2(1/tol) for real labels in [-1, 1] fitted to max residual tol (the number of
tol-wide bins of [-1, 1] per label, halved because the fit is within ±tol).

One command draws everything: ``capacity phase ...`` (see
:mod:`capacity.cli.phase`), or :func:`draw_all` on a list of store records.
"""

from __future__ import annotations

import csv
import os
import textwrap
from typing import Sequence

import numpy as np

from capacity.sweep import Record
from theory.bounds import bits_per_label, cover_capacity, theory_lines, yun3_capacity, zhang_capacity

# --------------------------------------------------------------------------- tables


def table(records: Sequence[Record]) -> list[dict]:
    """One row per cell (the heatmap data, also the CSV beside each figure)."""
    rows = []
    for r in records:
        c, m = r.cell, r.metrics
        hidden = c.hidden
        row = dict(mode=c.mode, family=c.family, labels=c.labels, dx=c.dx, out_dim=c.out_dim,
                   depth=c.depth, hidden="-".join(map(str, hidden)), width=hidden[0] if len(set(hidden)) == 1 else "",
                   n=c.n, n_params=m.n_params, seeds=len(m.per_seed), fraction_memorized=m.fraction_memorized)
        if c.mode == "trained":
            stf = [min((x.steps_to_fit for x in p.runs if x.fitted), default=-1) for p in m.per_seed]
            fitted = [s for s in stf if s >= 0]
            row["median_steps_to_fit"] = float(np.median(fitted)) if fitted else ""
            row["tol"] = c.train["tol"]
            row["method"] = (f"{c.train.get('optimizer', 'adam')}, ≤{c.train.get('max_steps')} steps, "
                             f"best of {len(c.lrs)} learning rates")
        else:
            row["median_steps_to_fit"] = ""
            row["tol"] = c.verify_tol
            row["method"] = f"{c.construction} construction"
        if row["width"] != "":
            dy = c.out_dim if c.labels == "real" else 1
            for k, v in theory_lines(row["width"], c.depth, c.dx, dy).items():
                row[f"theory_{k}"] = v
        rows.append(row)
    rows.sort(key=lambda r: (r["family"], r["labels"], r["depth"], r["hidden"], r["n"]))
    return rows


def capacity_table(rows: Sequence[dict]) -> list[dict]:
    """Empirical capacity and bits per parameter per (depth, width)."""
    out = []
    keyf = lambda r: (r["family"], r["labels"], r["depth"], r["width"])
    groups: dict = {}
    for r in rows:
        if r["width"] != "":
            groups.setdefault(keyf(r), []).append(r)
    for (family, labels, depth, width), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["n"])
        ok = [r["n"] for r in rs if r["fraction_memorized"] >= 0.5]
        cap = max(ok) if ok else 0
        r0 = rs[0]
        bpl = bits_per_label(labels, r0["out_dim"], r0["tol"])
        row = dict(mode=r0["mode"], family=family, labels=labels, dx=r0["dx"], out_dim=r0["out_dim"], depth=depth,
                   width=width, method=r0.get("method", ""), seeds=r0["seeds"], tol=r0["tol"], n_params=r0["n_params"],
                   empirical_capacity=cap, censored=bool(ok) and cap == rs[-1]["n"], largest_n_tried=rs[-1]["n"],
                   smallest_n_tried=rs[0]["n"],
                   bits_per_label=bpl, bits_per_param=cap * bpl / r0["n_params"])
        if depth == 3:
            row["yun_construction_bits_per_param"] = yun3_capacity(width, width) * bpl / r0["n_params"]
        elif depth == 2:
            row["zhang_construction_bits_per_param"] = zhang_capacity(width) * bpl / r0["n_params"]
        out.append(row)
    return out


def write_csv(path: str, rows: Sequence[dict]) -> None:
    """Write rows atomically (tmp + os.replace)."""
    cols = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


# -------------------------------------------------------------------------- figures


def cell_edges(values) -> np.ndarray:
    """Edges of log-scale cells centred (geometrically) on ``values``.

    Inner edges are the geometric midpoints sqrt(v_i v_{i+1}); the outer edges mirror the
    nearest inner edge, so that every value sits at the centre of its cell on a log axis
    (where the tick is drawn).
    """
    v = np.log2(np.asarray(sorted(values), float))
    if len(v) == 1:
        return 2.0 ** np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return 2.0 ** np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


_edges = cell_edges  # former private name


def _line_visible(ax, line, samples: int = 64) -> bool:
    """Whether any part of ``line`` (a Line2D) is drawn inside the axes box.

    Works in display coordinates (so log scales and axvline/axhline transforms are handled):
    each straight segment is sampled densely and tested against the axes rectangle.
    """
    ax.get_xlim(), ax.get_ylim()  # settle autoscaling before reading the transform
    xy = np.column_stack([np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])
    if not len(xy):
        return False
    with np.errstate(all="ignore"):
        d = line.get_transform().transform(xy)
    bb = ax.bbox
    eps = 0.5  # half a pixel
    inside = lambda q: (np.isfinite(q).all(axis=1) & (q[:, 0] >= bb.x0 - eps) & (q[:, 0] <= bb.x1 + eps)  # noqa: E731
                        & (q[:, 1] >= bb.y0 - eps) & (q[:, 1] <= bb.y1 + eps))
    if inside(d).any():
        return True
    if len(d) < 2:
        return False
    t = np.linspace(0.0, 1.0, samples)[:, None, None]
    seg = d[:-1][None] * (1 - t) + d[1:][None] * t  # (samples, segments, 2)
    return bool(inside(seg.reshape(-1, 2)).any())


def legend_visible(ax, **kw):
    """A legend of the labelled lines that are actually drawn inside the axes; returns (legend, hidden labels).

    A labelled line lying entirely outside the axes is removed from the figure, and its label is
    returned so that the caller can say where it lies.  A labelled line with no data at all is an
    explicit legend key for a style used by drawn lines (e.g. "dashed: linearized") and is kept.
    """
    hidden = []
    for line in list(ax.get_lines()):
        lab = line.get_label()
        if lab.startswith("_") or len(line.get_xdata()) == 0:  # unlabelled, or an explicit style key (no data)
            continue
        if not _line_visible(ax, line):
            hidden.append(lab)
            line.remove()
    handles, labels = ax.get_legend_handles_labels()
    leg = ax.legend(handles, labels, **kw) if handles else None
    return leg, hidden


def _save(fig, stem: str) -> list[str]:
    paths = []
    for ext in ("png", "pdf"):
        p = f"{stem}.{ext}"
        tmp = f"{stem}.tmp{os.getpid()}.{ext}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, p)
        paths.append(p)
    return paths


def _fmt_tol(t) -> str:
    return f"{float(t):g}"


def _criterion(r0: dict) -> str:
    """What "memorized" means for these rows, in words."""
    if r0["labels"] == "classes":
        return f"memorized = 100% training accuracy on {r0['out_dim']} classes"
    return f"memorized = max |residual| ≤ {_fmt_tol(r0['tol'])} on real labels in [-1, 1]"


def _method(rows: Sequence[dict], depth: int | None = None) -> str:
    rs = [r for r in rows if depth is None or r["depth"] == depth]
    methods = sorted({r.get("method", "") for r in rs} - {""})
    return ", ".join(methods)


def _theory_specs(depth: int):
    lines = [("parameters W = N", "params", "silver", "-")]
    if depth == 3:
        lines += [("Yun sufficiency 4⌊w/4⌋² = N", "yun_sufficiency", "r", "-"),
                  ("Yun necessity 2w²+w+2 = N", "yun_necessity", "orange", "--")]
    if depth == 2:
        lines += [("Zhang sufficiency w = N", "zhang", "r", "-"),
                  ("necessity w+2 = N", "two_layer_necessity", "orange", "--")]
    lines += [("VC order W·L·log₂W = N (constant 1)", "vc", "magenta", ":")]
    return lines


def draw_phase(rows: Sequence[dict], stem: str | None, title_extra: str = ""):
    """Heatmaps (fraction of seeds memorized over N x width), one panel per depth, theory on top.

    Each cell is centred (geometrically) on its N and width, where the ticks are.  Theory lines
    are drawn as N against w; a line lying wholly outside a panel is left out of its legend and
    named under it instead.  Returns the written paths, or the figure when ``stem`` is None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["width"] != ""]
    depths = sorted({r["depth"] for r in rows})
    fig, axes = plt.subplots(1, len(depths), figsize=(5.4 * len(depths), 5.6), squeeze=False)
    r0 = rows[0]
    dy = r0["out_dim"] if r0["labels"] == "real" else 1
    mesh = None
    for ax, depth in zip(axes[0], depths):
        rs = [r for r in rows if r["depth"] == depth]
        ns = sorted({r["n"] for r in rs})
        ws = sorted({r["width"] for r in rs})
        grid = np.full((len(ws), len(ns)), np.nan)
        for r in rs:
            grid[ws.index(r["width"]), ns.index(r["n"])] = r["fraction_memorized"]
        xe, ye = cell_edges(ns), cell_edges(ws)
        mesh = ax.pcolormesh(xe, ye, grid, cmap="viridis", vmin=0, vmax=1, shading="flat")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        xlo, xhi = xe[[0, -1]]
        ylo, yhi = ye[[0, -1]]
        ax.set_xlim(xlo, xhi)
        ax.set_ylim(ylo, yhi)
        wc = np.arange(max(1, int(np.ceil(ylo))), int(np.floor(yhi)) + 1)  # the integer widths inside the panel
        for label, k, color, ls in _theory_specs(depth):
            nv = np.array([theory_lines(int(w), depth, r0["dx"], dy)[k] for w in wc], float)
            # integer widths: the theory value N(w) holds at w; a step function jumps exactly at the width
            # where it changes (steps-pre: vertical at N(w_i) up to w_{i+1}, then across to N(w_{i+1}))
            ax.plot(np.where(nv > 0, nv, np.nan), wc, color=color, ls=ls, lw=1.6, label=label,
                    drawstyle="steps-pre" if k == "yun_sufficiency" else "default")
        if r0["labels"] == "classes" and r0["out_dim"] == 2:
            cov = cover_capacity(r0["dx"])
            ax.axvline(cov, color="cyan", ls="-.", lw=1.3, label=f"Cover linear capacity 2·dx = {cov} (±1 labels)")
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.set_yticks(ws, [str(v) for v in ws])
        ax.minorticks_off()
        ax.set_xlabel("number of points N")
        ax.set_ylabel("hidden width w (neurons in every hidden layer)")
        meth = _method(rs)
        ax.set_title(f"depth {depth} ({depth - 1} hidden layer{'s' if depth > 2 else ''})"
                     + (f"\n{meth}" if meth else ""), fontsize=9.5)
        leg, hidden = legend_visible(ax, fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                                     frameon=False)
        if hidden:
            ax.text(0.5, -0.23 if leg is not None else -0.13,
                    textwrap.fill("outside the axes (not drawn): " + "; ".join(hidden), 70),
                    transform=ax.transAxes, ha="center", va="top", fontsize=6.5, color="dimgray")
    fig.colorbar(mesh, ax=axes[0].tolist(), label=f"fraction of the {r0['seeds']} seeds memorized")
    what = "trained" if r0["mode"] == "trained" else "constructed and verified"
    fig.suptitle(f"Memorization phase diagram, {what}: fraction of seeds memorized "
                 f"({_criterion(r0)})\n{r0['family']} inputs in R^{r0['dx']}, {r0['seeds']} seeds per cell, "
                 f"uniform hidden width{title_extra}", fontsize=9, y=1.0, va="bottom")
    if stem is None:
        return fig
    paths = _save(fig, stem)
    plt.close(fig)
    return paths


def bits_caption(cap_rows: Sequence[dict]) -> str:
    """The caption of a bits-per-parameter figure: what bits/label is, and which tolerance."""
    r0 = cap_rows[0]
    above = any(r["censored"] for r in cap_rows)
    below = any(r["empirical_capacity"] == 0 for r in cap_rows)
    bpl = r0["bits_per_label"]
    if r0["labels"] == "classes":
        per = f"bits/label = log2(C) = {bpl:.2f} for C = {round(2 ** bpl)} classes (memorized = 100% accuracy)"
    else:
        per = (f"bits/label = log2(1/tol) = {bpl:.2f} for real labels in [-1, 1] fitted within ±tol, tol = "
               f"{_fmt_tol(r0['tol'])} (1/tol distinguishable values per label)")
    return (f"{per}.  Bits per parameter = capacity × bits/label ÷ W.  Capacity = the largest N of the grid "
            f"at which at least half of the seeds memorized: a grid value, so the curve steps with the N grid "
            f"(the next N tried failed).  "
            + ("▲ with arrow, not joined: every N tried was memorized (capacity ≥ largest N, a lower bound).  "
               if above else "")
            + ("▼ with arrow, not joined: no N tried was memorized (capacity < smallest N, an upper bound).  "
               if below else "")
            + "Dashed: the capacity a construction guarantees at that width, in the same units.")


def bits_title(cap_rows: Sequence[dict]) -> str:
    r0 = cap_rows[0]
    what = "trained" if r0["mode"] == "trained" else "constructed and verified"
    tol = f", tol {_fmt_tol(r0['tol'])}" if r0["labels"] == "real" else ""
    return (f"Empirical memorization capacity in bits per parameter, {what}\n{r0['family']} inputs in R^{r0['dx']}, "
            f"{r0['labels']} labels ({r0['bits_per_label']:.2f} bits/label{tol}), {r0['seeds']} seeds per cell")


def draw_bits(cap_rows: Sequence[dict], stem: str | None, title: str):
    """Empirical capacity in bits per parameter against the parameter count, per depth.

    Measured capacities are joined by a line only where they are values; censored cells
    (``capacity ≥ largest N`` or ``< smallest N``) are drawn as separate one-sided markers with
    arrows, never joined.  Returns the written paths, or the figure when ``stem`` is None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    fig.subplots_adjust(right=0.62)
    arrows = []
    for depth in sorted({r["depth"] for r in cap_rows}):
        rs = sorted([r for r in cap_rows if r["depth"] == depth], key=lambda r: r["n_params"])
        p = np.array([r["n_params"] for r in rs], float)
        b = np.array([r["bits_per_param"] for r in rs])
        above = np.array([bool(r["censored"]) for r in rs])
        below = np.array([r["empirical_capacity"] == 0 for r in rs])
        val = ~above & ~below
        line, = ax.plot(p[val], b[val], "o-", label=f"empirical, depth {depth}")
        color = line.get_color()
        if above.any():
            ax.plot(p[above], b[above], ls="none", marker="^", ms=8, mfc="none", color=color,
                    label=f"depth {depth}: capacity ≥ largest N tried (lower bound)")
            arrows += [(x, y, +1, color) for x, y in zip(p[above], b[above])]
        if below.any():
            # capacity < smallest N: bits per parameter < smallest N × bits/label / W
            ub = np.array([r["smallest_n_tried"] * r["bits_per_label"] for r in rs])[below] / p[below]
            ax.plot(p[below], ub, ls="none", marker="v", ms=8, mfc="none", color=color,
                    label=f"depth {depth}: capacity < smallest N tried (upper bound)")
            arrows += [(x, y, -1, color) for x, y in zip(p[below], ub)]
        ref = "yun_construction_bits_per_param" if depth == 3 else "zhang_construction_bits_per_param"
        if ref in rs[0] and rs[0][ref] != "":
            ax.plot(p, [r[ref] for r in rs], "--", color=color,
                    label=("Yun construction 4⌊w/4⌋²" if depth == 3 else "Zhang construction (N = w)") + f", depth {depth}")
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    lo, hi = ax.get_ylim()
    ax.set_ylim(0, hi + 0.08 * (hi - lo))
    span = 0.07 * (ax.get_ylim()[1] - ax.get_ylim()[0])
    for x, y, sign, color in arrows:
        ax.annotate("", xy=(x, y + sign * span), xytext=(x, y),
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2, shrinkA=0, shrinkB=0))
    ax.set_xlabel("parameters W (weights + biases, count)")
    ax.set_ylabel("bits per parameter = capacity × bits/label ÷ W")
    ax.set_title(title, fontsize=9)
    legend_visible(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.grid(alpha=0.3)
    fig.text(0.02, -0.01, bits_caption(cap_rows), fontsize=7, ha="left", va="top", wrap=True)
    if stem is None:
        return fig
    paths = _save(fig, stem)
    plt.close(fig)
    return paths


def draw_all(records: Sequence[Record], figures_dir: str) -> list[str]:
    """Both figures (+ CSVs) for each (mode, family, label type) in ``records``; returns the paths."""
    os.makedirs(figures_dir, exist_ok=True)
    rows = table(records)
    paths = []
    for combo in sorted({(r["mode"], r["family"], r["labels"]) for r in rows}):
        rs = [r for r in rows if (r["mode"], r["family"], r["labels"]) == combo]
        tag = "_".join(combo)
        stem = os.path.join(figures_dir, f"phase_{tag}")
        write_csv(stem + ".csv", rs)
        paths += [stem + ".csv"]
        if any(r["width"] != "" for r in rs):
            paths += draw_phase(rs, stem)
            cap = capacity_table(rs)
            bstem = os.path.join(figures_dir, f"bits_per_param_{tag}")
            write_csv(bstem + ".csv", cap)
            paths += [bstem + ".csv"]
            paths += draw_bits(cap, bstem, bits_title(cap))
    return paths
