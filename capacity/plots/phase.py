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
        else:
            row["median_steps_to_fit"] = ""
            row["tol"] = c.verify_tol
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
        row = dict(family=family, labels=labels, depth=depth, width=width, n_params=r0["n_params"],
                   empirical_capacity=cap, censored=bool(ok) and cap == rs[-1]["n"], largest_n_tried=rs[-1]["n"],
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


def _edges(values):
    v = np.log2(np.asarray(sorted(values), float))
    if len(v) == 1:
        return 2.0 ** np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return 2.0 ** np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def _save(fig, stem: str) -> list[str]:
    paths = []
    for ext in ("png", "pdf"):
        p = f"{stem}.{ext}"
        tmp = f"{stem}.tmp{os.getpid()}.{ext}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, p)
        paths.append(p)
    return paths


def draw_phase(rows: Sequence[dict], stem: str, title_extra: str = "") -> list[str]:
    """Heatmaps (fraction of seeds memorized over N x width), one panel per depth, theory on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["width"] != ""]
    depths = sorted({r["depth"] for r in rows})
    fig, axes = plt.subplots(1, len(depths), figsize=(5.2 * len(depths), 5.4), squeeze=False)
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
        mesh = ax.pcolormesh(_edges(ns), _edges(ws), grid, cmap="viridis", vmin=0, vmax=1, shading="flat")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        xlo, xhi = _edges(ns)[[0, -1]]
        ylo, yhi = _edges(ws)[[0, -1]]
        wc = np.unique(np.round(np.geomspace(max(1, ylo), yhi, 400)).astype(int))
        wc = wc[wc >= 1]
        lines = [("parameters = N", "params", "silver", "-")]
        if depth == 3:
            lines += [("Yun sufficiency 4⌊w/4⌋² = N", "yun_sufficiency", "r", "-"),
                      ("Yun necessity 2w²+w+2 = N", "yun_necessity", "orange", "--")]
        if depth == 2:
            lines += [("Zhang: width = N", "zhang", "r", "-"),
                      ("necessity w+2 = N", "two_layer_necessity", "orange", "--")]
        lines += [("VC order W·L·log₂W = N (const 1)", "vc", "magenta", ":")]
        for label, k, color, ls in lines:
            nv = np.array([theory_lines(int(w), depth, r0["dx"], dy)[k] for w in wc], float)
            ax.plot(np.where(nv > 0, nv, np.nan), wc, color=color, ls=ls, lw=1.6, label=label,
                    drawstyle="steps-post" if k == "yun_sufficiency" else "default")
        cov = cover_capacity(r0["dx"])
        ax.axvline(cov, color="cyan", ls="-.", lw=1.3, label=f"Cover linear capacity 2·dx = {cov}")
        ax.set_xlim(xlo, xhi)
        ax.set_ylim(ylo, yhi)
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.set_yticks(ws, [str(v) for v in ws])
        ax.minorticks_off()
        ax.set_xlabel("number of points N")
        ax.set_ylabel("hidden width w (every hidden layer)")
        ax.set_title(f"depth {depth} ({depth - 1} hidden layer{'s' if depth > 2 else ''})")
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    fig.colorbar(mesh, ax=axes[0].tolist(), label="fraction of seeds memorized")
    what = "trained (Adam/SGD, best learning rate)" if r0["mode"] == "trained" else "constructed and verified"
    fig.suptitle(f"Memorization phase diagram, {what}: {r0['family']} inputs dx={r0['dx']}, {r0['labels']} labels, "
                 f"{r0['seeds']} seeds, tol {r0['tol']:g}{title_extra}", fontsize=9)
    paths = _save(fig, stem)
    plt.close(fig)
    return paths


def draw_bits(cap_rows: Sequence[dict], stem: str, title: str) -> list[str]:
    """Empirical capacity in bits per parameter against the parameter count, per depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for depth in sorted({r["depth"] for r in cap_rows}):
        rs = sorted([r for r in cap_rows if r["depth"] == depth], key=lambda r: r["n_params"])
        p = np.array([r["n_params"] for r in rs], float)
        b = np.array([r["bits_per_param"] for r in rs])
        line, = ax.plot(p, b, "o-", label=f"empirical, depth {depth}")
        cens = np.array([r["censored"] for r in rs])
        if cens.any():
            ax.plot(p[cens], b[cens], "^", color=line.get_color(), ms=9, mfc="none",
                    label=f"depth {depth}: capacity ≥ largest N tried")
        ref = "yun_construction_bits_per_param" if depth == 3 else "zhang_construction_bits_per_param"
        if ref in rs[0]:
            ax.plot(p, [r[ref] for r in rs], "--", color=line.get_color(),
                    label=("Yun construction" if depth == 3 else "Zhang construction") + f", depth {depth}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("parameters W (weights + biases)")
    ax.set_ylabel("bits memorized per parameter")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
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
            bpl = cap[0]["bits_per_label"]
            paths += [bstem + ".csv"]
            paths += draw_bits(cap, bstem, f"Empirical capacity in bits per parameter ({combo[0]}, {combo[1]}, "
                                           f"{combo[2]} labels; {bpl:.2f} bits/label)")
    return paths
