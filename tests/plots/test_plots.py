"""Figures: cells sit on the values they stand for, legends list only drawn lines, censored capacities are
not joined, the frontier's bits axis is readable, and trained and constructive presets share one tolerance.

Everything is drawn with the Agg backend from tiny synthetic rows (no sweep, no JAX work): a few seconds.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from capacity.plots import phase  # noqa: E402
from capacity.plots import frontier as frontier_plot  # noqa: E402
from theory.bounds import bits_per_label, mlp_parameter_count, theory_lines  # noqa: E402

DX = 4


def _rows(depth, widths, ns, frac, *, mode="constructive", labels="real", tol=1e-2, out_dim=1):
    """Phase-table rows (the dicts :func:`capacity.plots.phase.table` makes) with fraction frac(w, n)."""
    out = []
    for w in widths:
        for n in ns:
            out.append(dict(mode=mode, family="gaussian", labels=labels, dx=DX, out_dim=out_dim, depth=depth,
                            hidden="-".join([str(w)] * (depth - 1)), width=w, n=n,
                            n_params=mlp_parameter_count([DX] + [w] * (depth - 1) + [out_dim]), seeds=4,
                            fraction_memorized=frac(w, n), median_steps_to_fit="", tol=tol,
                            method="yun3 construction"))
    return out


def _legend_labels(ax):
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]


def _inside_limits(ax, line) -> bool:
    """Data-space check (independent of the display-space code under test): a data point inside the limits."""
    x = np.asarray(line.get_xdata(), float)
    y = np.asarray(line.get_ydata(), float)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    ok = np.isfinite(x) & np.isfinite(y) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    return bool(ok.any())


# ------------------------------------------------------------------------------------ phase cells


@pytest.mark.parametrize("values", [[4, 8, 12, 16, 24, 32, 64, 128], [8, 16, 32, 64, 128, 256, 512], [3], [2, 3]])
def test_cell_edges_straddle_each_value_at_geometric_midpoints(values):
    e = phase.cell_edges(values)
    v = np.asarray(values, float)
    assert len(e) == len(v) + 1
    assert np.all(e[:-1] < v) and np.all(v < e[1:]), (e, v)
    # inner edges are the geometric midpoints: equally far (in log) from both neighbours
    np.testing.assert_allclose(e[1:-1], np.sqrt(v[:-1] * v[1:]), rtol=4 * np.finfo(float).eps)


def test_cell_edges_put_a_geometric_grid_at_the_cell_centres():
    v = 2.0 ** np.arange(3, 10)
    e = phase.cell_edges(v)
    np.testing.assert_allclose(np.sqrt(e[:-1] * e[1:]), v, rtol=8 * np.finfo(float).eps)


def test_phase_heatmap_cell_under_each_tick_holds_that_cells_value():
    widths, ns = [4, 8, 12, 16, 24, 32], [8, 16, 32, 64, 128]
    # a pattern that distinguishes every cell: fraction = (index of w * 5 + index of n) / 29
    frac = lambda w, n: (widths.index(w) * len(ns) + ns.index(n)) / (len(widths) * len(ns) - 1)  # noqa: E731
    fig = phase.draw_phase(_rows(3, widths, ns, frac), None)
    try:
        ax = fig.axes[0]
        mesh = [c for c in ax.collections if isinstance(c, matplotlib.collections.QuadMesh)][0]
        coords = mesh.get_coordinates()  # (ny + 1, nx + 1, 2)
        xe, ye = coords[0, :, 0], coords[:, 0, 1]
        arr = np.asarray(mesh.get_array()).reshape(len(ye) - 1, len(xe) - 1)
        for wi, w in enumerate(widths):
            for ni, n in enumerate(ns):
                i = np.searchsorted(ye, w) - 1  # the cell whose edges straddle the width ...
                j = np.searchsorted(xe, n) - 1  # ... and N
                assert (i, j) == (wi, ni)
                assert ye[i] < w < ye[i + 1] and xe[j] < n < xe[j + 1]
                assert arr[i, j] == pytest.approx(frac(w, n), abs=1e-15)
        # the ticks are at the values themselves
        assert list(ax.get_xticks()) == ns and list(ax.get_yticks()) == widths
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------ legends


def test_phase_legend_lists_exactly_the_drawn_theory_lines():
    widths, ns = [2, 3, 4, 6, 8], [4, 8, 16, 32]
    fig = phase.draw_phase(_rows(3, widths, ns, lambda w, n: float(n <= 4 * w)), None)
    try:
        ax = fig.axes[0]
        labels = _legend_labels(ax)
        # the VC line N = W L log2 W lies right of the panel at every width shown: not drawn, not listed
        vc = [theory_lines(w, 3, DX, 1)["vc"] for w in range(2, 10)]
        assert min(vc) > ax.get_xlim()[1]
        assert not any(lab.startswith("VC") for lab in labels), labels
        assert any("VC" in t.get_text() for t in ax.texts), "the hidden line is named under the panel"
        # every listed label is a line with data inside the panel, and every such labelled line is listed
        drawn = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_") and _inside_limits(ax, ln)]
        assert sorted(labels) == sorted(drawn)
        assert any(lab.startswith("Yun sufficiency") for lab in labels)
        # Cover's line is for +-1 labels: not drawn for real labels
        assert not any("Cover" in lab for lab in labels)
    finally:
        plt.close(fig)


def test_phase_draws_cover_line_for_binary_labels():
    rows = _rows(2, [4, 8], [4, 8, 16], lambda w, n: 1.0, labels="classes", out_dim=2)
    fig = phase.draw_phase(rows, None)
    try:
        assert any("Cover" in lab for lab in _legend_labels(fig.axes[0]))
    finally:
        plt.close(fig)


def test_legend_visible_drops_a_vertical_line_outside_and_keeps_one_inside():
    fig, ax = plt.subplots()
    try:
        ax.plot([1, 10], [1, 10], label="diagonal")
        ax.axvline(100, label="far right")
        ax.axvline(5, label="inside")
        ax.plot([20, 30], [-5, 50], label="crossing nothing")
        ax.plot([0.5, 20], [20, 0.5], label="crossing the box")  # both ends outside, middle inside
        ax.plot([], [], "k--", label="dashed: a style key")  # explicit key for a style, no data: kept
        ax.set_xlim(0, 11)
        ax.set_ylim(0, 11)
        leg, hidden = phase.legend_visible(ax)
        assert sorted(_legend_labels(ax)) == ["crossing the box", "dashed: a style key", "diagonal", "inside"]
        assert sorted(hidden) == ["crossing nothing", "far right"]
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------ bits per parameter


def _cap_rows():
    widths, ns = [2, 4, 8, 16, 32], [8, 16, 32]
    # w=2 memorizes nothing, w=16 and w=32 everything (censored), the rest in between
    frac = lambda w, n: float(n <= {2: 4, 4: 8, 8: 16}.get(w, 10**9))  # noqa: E731
    return phase.capacity_table(_rows(3, widths, ns, frac))


def test_capacity_table_flags_censoring():
    cap = {r["width"]: r for r in _cap_rows()}
    assert [cap[w]["censored"] for w in (2, 4, 8, 16, 32)] == [False, False, False, True, True]
    assert cap[2]["empirical_capacity"] == 0 and cap[8]["empirical_capacity"] == 16
    assert cap[4]["bits_per_label"] == pytest.approx(math.log2(100))


def test_bits_censored_points_are_separate_and_not_joined():
    cap = _cap_rows()
    fig = phase.draw_bits(cap, None, phase.bits_title(cap))
    try:
        ax = fig.axes[0]
        by = {ln.get_label(): ln for ln in ax.get_lines()}
        joined = by["empirical, depth 3"]
        assert joined.get_linestyle() == "-"
        p = {r["width"]: r["n_params"] for r in cap}
        assert sorted(joined.get_xdata()) == sorted([p[4], p[8]])  # only the measured values are joined
        low = by["depth 3: capacity ≥ largest N tried (lower bound)"]
        assert low.get_linestyle() == "None" and low.get_marker() == "^"
        assert sorted(low.get_xdata()) == sorted([p[16], p[32]])
        up = by["depth 3: capacity < smallest N tried (upper bound)"]
        assert up.get_linestyle() == "None" and list(up.get_xdata()) == [p[2]]
        # the upper bound is smallest N x bits/label / W, not 0
        assert up.get_ydata()[0] == pytest.approx(8 * math.log2(100) / p[2])
        # one arrow per censored point
        arrows = [c for c in ax.texts if getattr(c, "arrow_patch", None) is not None]
        assert len(arrows) == 3
        # every legend entry is a drawn line
        assert sorted(_legend_labels(ax)) == sorted(
            lab for lab, ln in by.items() if not lab.startswith("_") and _inside_limits(ax, ln))
    finally:
        plt.close(fig)


def test_bits_caption_explains_bits_per_label_and_names_the_tolerance():
    cap = _cap_rows()
    text = phase.bits_caption(cap)
    assert "log2(1/tol)" in text and "tol = 0.01" in text and "6.64" in text
    assert "tol 0.01" in phase.bits_title(cap)
    classes = phase.capacity_table(_rows(2, [4], [4, 8], lambda w, n: 1.0, labels="classes", out_dim=3))
    assert "log2(C)" in phase.bits_caption(classes) and f"{math.log2(3):.2f}" in phase.bits_caption(classes)
    assert bits_per_label("classes", 3, 1e-2) == pytest.approx(math.log2(3))


def test_presets_use_one_tolerance_for_trained_and_constructive():
    from capacity.sweep import spec_for

    for preset in ("smoke", "quick", "paper"):
        trained = spec_for("trained", preset)
        constructive = spec_for("constructive", preset)
        assert trained.train.tol == constructive.verify_tol, preset


# ------------------------------------------------------------------------------------ frontier


def _frontier_rows():
    from capacity.experiments.frontier import Row

    rows = []
    for name, bits in (("baum", [53, 53, 53]), ("zhang", [53, 53, 53]), ("vardi", [72, 140, 751])):
        for n, b in zip([10, 100, 1000], bits):
            rows.append(Row(name, n, 10, 3 * n, 3 * n, 4 * n, n, 2, b, b, 1.0, "certified-exact", "n/a",
                            "certified-exact", math.nan, 0.0, 0.0, 0.0, 0.0))
    return rows


def test_frontier_bits_axis_has_readable_integer_ticks_and_the_baum_note():
    from capacity.experiments.frontier import SPECS

    fig = frontier_plot.draw(_frontier_rows(), None, dx=10, label_kinds={k: v[0] for k, v in SPECS.items()})
    try:
        ax = fig.axes[2]
        fig.canvas.draw()
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert 3 <= len(ticks) <= 8, ticks
        assert all(float(t).is_integer() for t in ticks)
        assert all(lab.isdigit() for lab in labels), labels
        assert 53 in ticks
        assert len(ax.yaxis.get_minorticklocs()) == 0
        assert any("Baum" in t.get_text() and "binary" in t.get_text() for t in ax.texts)
        fig_labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        assert "baum (binary labels)" in fig_labels and "vardi (4 classes)" in fig_labels
        for a in fig.axes:
            assert a.get_xlabel() and a.get_ylabel()
    finally:
        plt.close(fig)


def test_bit_ticks_keep_53_and_drop_its_crowded_neighbour():
    t = frontier_plot.bit_ticks(40, 1200)
    assert 53 in t and 64 not in t and t == sorted(t) and t[-1] == 1024
    assert len(frontier_plot.bit_ticks(42, 190)) >= 3  # a short range still gets three ticks
