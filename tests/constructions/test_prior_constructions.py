"""Prior and frontier constructions: Zhang, Baum, Bubeck, Hardt–Ma, Vardi (issue 6).

Each construction fits random data exactly (exact tier) or within a bound derived from the
float64 unit roundoff and the built weights; each width condition is tested at its boundary
and one unit below; assumption violations raise with the offending indices; every Vardi
gadget is checked against brute force (exactly, and in float64 where values stay < 2^53).
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity import exact
from capacity.constructions import baum, bubeck, get, hardt_ma, names, vardi, zhang
from capacity.data import generate, make_dataset
from capacity.errors import GeneralPositionError, WidthError
from capacity.networks import count_parameters, mlp_apply
from capacity.verification import certify, verify

U = np.finfo(np.float64).eps / 2


def _indices(msg: str) -> list[int]:
    return [int(v) for v in re.search(r"\{([0-9, ]+)\}", msg).group(1).split(",")]


def _affinely_dependent(x: np.ndarray) -> bool:
    import flint

    rows = [[flint.fmpq(*Fraction(v).as_integer_ratio()) for v in r] + [1] for r in x.tolist()]
    return flint.fmpq_mat(rows).rank() < len(rows)


def _fraction_residual(kernels, biases, x, y) -> Fraction:
    """max |f(x_i) - y_i| of a ReLU MLP in plain Fractions: an evaluation independent of the engine."""
    worst = Fraction(0)
    for xi, yi in zip(x.tolist(), np.asarray(y, np.float64).reshape(len(x), -1).tolist()):
        h = [Fraction(v) for v in xi]
        for li, (k, b) in enumerate(zip(kernels, biases)):
            h = [sum((h[i] * Fraction(float(k[i, j])) for i in range(len(h))), Fraction(0)) + Fraction(float(b[j]))
                 for j in range(k.shape[1])]
            if li < len(kernels) - 1:
                h = [max(v, Fraction(0)) for v in h]
        worst = max(worst, max(abs(v - Fraction(t)) for v, t in zip(h, yi)))
    return worst


def _int_forward(kernels, biases, x) -> np.ndarray:
    """Exact outputs of an integer network as a NumPy object array of Python ints."""
    rows = exact.exact_outputs(kernels, biases, x)
    out = [[Fraction(v) for v in r] for r in rows]
    assert all(v.denominator == 1 for r in out for v in r)
    return np.array([[int(v) for v in r] for r in out], dtype=object)


def test_registered():
    assert {"zhang", "baum", "bubeck", "hardt-ma", "vardi"} <= set(names())
    for n in ("zhang", "baum", "bubeck", "hardt-ma", "vardi"):
        assert get(n).theorem


# ---------------------------------------------------------------------------------- Zhang


def test_zhang_exact_tier_and_size():
    ds = generate("gaussian", 80, 5, seed=3)
    c = zhang.build(ds, [80])
    cert = certify(c.network(), ds)
    # the only error left is the rounding of each w_i: |w_i| (z_i - b_i) u per point
    a = c.kernels[0][:, 0]
    z = np.sort(ds.x @ a)
    bound = 2 * U * float(np.max(np.abs(c.kernels[1][:, 0]) * (z + c.biases[0]))) + 4 * U
    assert cert.level in ("certified-exact", "certified-bound")
    assert cert.exact_residual_float <= bound
    assert count_parameters(c.kernels, c.biases)["distinct"] == 2 * ds.n + ds.dx


def test_zhang_width_boundary():
    ds = generate("gaussian", 30, 2, seed=0)
    zhang.build(ds, [30])
    with pytest.raises(WidthError, match=r"widths \[30\]"):
        zhang.build(ds, [29])


# --------------------------------------------------------------------------- Baum / Bubeck


def test_baum_exact_and_width_boundary():
    ds = generate("gaussian", 90, 4, seed=5, classes=2)
    need, _ = baum.required_width(ds)
    c = baum.build(ds, [need])
    cert = certify(c.network(), ds)
    assert cert.level == "certified-exact" and cert.exact_residual_float == 0
    assert _fraction_residual(c.kernels, c.biases, ds.x, np.eye(2)[ds.y]) == 0
    with pytest.raises(WidthError, match=str(need)):
        baum.build(ds, [need - 1])


def test_bubeck_fits_real_labels_within_bound():
    ds = generate("gaussian", 60, 4, seed=7)
    need = bubeck.required_width(ds.n, ds.dx)
    assert need == 4 * 15
    c = bubeck.build(ds, [need])
    cert = certify(c.network(), ds)
    reference = _fraction_residual(c.kernels, c.biases, ds.x, ds.y_original)
    assert cert.exact_residual_float == float(reference)  # both exact, so equal
    # rounding of the stored weights: O(u (|k||x| + |b|)) per unit, times |q| = 1/δ, 4 units per point
    scale = float(np.max(np.abs(ds.x).sum(1)) * np.abs(c.kernels[0]).max() + np.abs(c.biases[0]).max())
    bound = 64 * U * float(np.abs(c.kernels[1]).max()) * scale * (ds.dx + 2)
    assert cert.exact_residual_float <= bound
    assert c.record["max_abs_output_weight"] > 1  # weight magnitudes are reported
    with pytest.raises(WidthError, match=str(need)):
        bubeck.build(ds, [need - 1])


@pytest.mark.parametrize("module", [bubeck, baum])
def test_general_position_violation_names_subset(module):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3))
    x[:, 2] = 0.5  # every point on one plane
    y = rng.integers(0, 2, 12) if module is baum else rng.uniform(-1, 1, 12)
    ds = make_dataset(x, y)
    with pytest.raises(GeneralPositionError) as err:
        module.build(ds, None)
    idx = _indices(str(err.value))
    assert len(idx) == 4 and _affinely_dependent(x[idx])


def test_exact_tier_detects_a_wrong_label():
    ds = generate("gaussian", 40, 3, seed=2)
    c = bubeck.build(ds, None)
    y = ds.y_original.copy()
    y[7] += 0.25
    bad = make_dataset(ds.x, y, allow_out_of_box=True)
    cert = certify(c.network(), bad)
    assert cert.level == "failed" and cert.exact_residual_float >= 0.25 - 1e-6


# ---------------------------------------------------------------------------------- Hardt–Ma


def _sphere(n, dx, classes, seed):
    d0 = generate("gaussian", n, dx, seed=seed, classes=classes)
    return make_dataset(d0.x / np.linalg.norm(d0.x, axis=1, keepdims=True), d0.y)


def test_hardt_ma_exact_one_hot():
    ds = _sphere(120, 6, 3, seed=1)
    c = hardt_ma.build(ds, None)
    assert certify(c.network(), ds).level == "certified-exact"
    rep = verify(c.network(), ds)
    assert rep.accuracy == 1.0 and rep.max_residual <= 4 * U * c.record["stream_width"]
    k = c.record["k"]
    assert c.record["retarget_blocks"] == -(-ds.n // k)


def test_hardt_ma_separation_violations():
    ds = _sphere(50, 5, 2, seed=4)
    dist, i, j = hardt_ma.min_distance_pair(ds.x)
    with pytest.raises(hardt_ma.SeparationError, match=rf"points {i} and {j}"):
        hardt_ma.build(ds, None, rho=dist * 1.01)
    hardt_ma.build(ds, None, rho=dist * 0.99)
    x = ds.x.copy()
    x[1] = x[0] + 1e-9 * np.eye(5)[0]
    x[1] /= np.linalg.norm(x[1])
    with pytest.raises(hardt_ma.SeparationError, match="not positive beyond float64"):
        hardt_ma.build(make_dataset(x, ds.y), None)


# ------------------------------------------------------------------------------ Vardi gadgets


def _float_forward(b: vardi.Builder, out, x):
    ks, bs = b.matrices(out)
    return np.asarray(mlp_apply([k.astype(np.float64) for k in ks], [v.astype(np.float64) for v in bs],
                                np.asarray(x, np.float64)))


@given(st.lists(st.integers(0, 1), min_size=1, max_size=40))
def test_vardi_triangle_bit_extraction(bits):
    k = len(bits)
    u = vardi.gray_encode(bits)
    b = vardi.Builder(1)
    v = vardi.lin((2, ({0: 1}, 0)), const=1)
    outs = []
    for _ in range(k):
        units, after = vardi.extraction_units(v, k)
        new = b.emit(units + outs)
        v, g = after(new[:3])
        outs = new[3:] + [g]
    ks, bs = b.matrices(outs)
    got = _int_forward(ks, bs, np.array([[u]], dtype=object))[0].tolist()
    assert got == list(bits)
    # brute force: the triangle map's orbit on u + 2^-(K+1) reads the bits
    t = Fraction(2 * u + 1, 2 ** (k + 1))
    brute = []
    for _ in range(k):
        brute.append(int(t > Fraction(1, 2)))
        t = 2 * t if t <= Fraction(1, 2) else 2 - 2 * t
    assert brute == list(bits)
    if k <= 20:  # every value < 2^(K+3) << 2^53: float64 is exact too
        assert _float_forward(b, outs, [[u]])[0].tolist() == list(bits)


@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.lists(st.integers(0, 10**6), min_size=12, max_size=12))
def test_vardi_group_routing(lengths, pays):
    intervals, lo = [], 0
    for ln in lengths:
        intervals.append((lo, lo + ln - 1))
        lo += ln + 1  # one-integer gap between groups
    payloads = [(pays[2 * j], pays[2 * j + 1]) for j in range(len(intervals))]
    b = vardi.Builder(1)
    z, accs = vardi.routing_layers(b, ({0: 1}, 0), intervals, payloads)
    zs = list(range(0, lo))
    got = _int_forward(*b.matrices([z] + accs), np.array([[v] for v in zs], dtype=object)).tolist()
    for v, row in zip(zs, got):
        inside = [p for (a, c), p in zip(intervals, payloads) if a <= v <= c]
        if inside:  # data integers: exactly the group's payload
            assert row == [v, *inside[0]]
    assert np.array_equal(_float_forward(b, [z] + accs, [[v] for v in zs]), np.array(got, dtype=np.float64))


@given(st.integers(0, 5), st.integers(0, 50))
def test_vardi_interval_matching(s_bits, code):
    b = vardi.Builder(2)
    units = vardi.match_units(({0: 1}, 0), ({1: 1}, 0), s_bits)
    new = b.emit(units)
    ind = vardi.trap_value(new)
    zs = range(max(0, (code - 2) << s_bits), (code + 3) << s_bits)
    xs = np.array([[z, code] for z in zs], dtype=object)
    got = _int_forward(*b.matrices([ind]), xs)[:, 0].tolist()
    assert got == [int((z >> s_bits) == code) for z in zs]
    assert _float_forward(b, [ind], xs.astype(np.float64))[:, 0].tolist() == got


def test_vardi_projection_quantization():
    ds = generate("gaussian", 300, 4, seed=9, classes=3)
    c = vardi.build(ds, None)
    ks, bs = c.kernels, c.biases  # the first layer computes the integer projection z of the stored inputs
    z = _int_forward([ks[0][:, :1]], [bs[0][:1]], ds.x)[:, 0].tolist()
    assert all(isinstance(v, int) and v >= 0 for v in z) and len(set(z)) == ds.n
    zs = sorted(z)
    s = c.record["quantization_shift_s"]
    assert 2**s <= min(b - a for a, b in zip(zs, zs[1:]))
    assert len({v >> s for v in z}) == ds.n and max(v >> s for v in z) < 2 ** c.record["code_bits_b"]


def test_vardi_end_to_end_exact_and_width_boundary():
    ds = generate("gaussian", 400, 5, seed=11, classes=5)
    c = vardi.build(ds, None)
    cert = certify(c.network(), ds)
    assert cert.level == "certified-exact" and cert.exact_residual == "0"
    w = c.record["max_width"]
    assert w <= 12
    assert c.record["max_weight_bits"] >= c.record["stream_bits_u"]  # Õ(√N)-bit weights
    vardi.build(ds, [w])
    with pytest.raises(WidthError, match=f"widths \\[{w}\\]"):
        vardi.build(ds, [w - 1])
    # a wrong label is caught by the exact tier
    bad = make_dataset(ds.x, (ds.y + (np.arange(ds.n) == 17)) % 5)
    assert certify(c.network(), bad).level == "failed"


# ------------------------------------------------------------------------------- frontier


def test_frontier_helpers():
    from capacity.experiments.frontier import Row, crossovers
    from theory.bounds import necessity_fewest_neurons

    for n in (5, 37, 400):
        d1, d2 = necessity_fewest_neurons(n)
        brute = min((a + b, a * b + b) for a in range(1, n + 2) for b in range(1, n + 2) if 2 * a * b + b + 2 >= n)
        assert (d1 + d2, d1 * d2 + d2) == brute
    mk = lambda name, n, p: Row(name, n, 1, p, p, p, 1, 1, 1, 1, 1.0, "certified-exact", "", "", 0, 0, 0, 0, 0)
    rows = [mk("a", 10, 10), mk("a", 100, 100), mk("b", 10, 100), mk("b", 100, 10)]
    (x,) = crossovers(rows)
    assert x["n_cross"] == round(10**1.5) and x["smaller_after"] == "b"
