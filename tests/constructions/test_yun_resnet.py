"""Residual construction (yun-resnet) and the residual network format (capacity.networks)."""

from fractions import Fraction

import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings, strategies as st

from capacity.constructions import yun_resnet as yr
from capacity.data import generate, make_dataset
from capacity.errors import DataError, GeneralPositionError, WidthError
from capacity.constructions import build, get
from capacity.networks import ResidualNet, ResidualParams, ResNet, load_net, residual_apply, residual_forward_bounded, \
    save_net
from capacity.verification import certify, verify
from theory import bounds


def _exact_construction(ds, widths=(), con=None, **options):
    """The construction carried out in exact rationals, evaluated by the exact engine.  Without ``con``
    it is built through the registry, whose input normalization folds into the exact network too."""
    con = con or build("yun-resnet", ds, widths, **options)
    return certify(get("yun-resnet").exact_network(ds, widths, con, **options), ds)


def _exact_forward(p: ResidualParams, x):
    """The stored network in exact rational arithmetic (reference for the bound)."""
    F = np.vectorize(Fraction, otypes=[object])
    w_in, b_in, u, s, v, r, c = (F(np.asarray(a, np.float64)) for a in p)
    h = F(np.asarray(x, np.float64)).dot(w_in) + b_in
    for b in range(u.shape[0]):
        z = h.dot(u[b]) + s[b]
        h = h + np.where(z > 0, z, 0).dot(v[b])
    return h.dot(r) + c


def test_smallest_chunks_is_minimal_for_the_capacity():
    for dx, dy in [(1, 1), (5, 1), (20, 10), (3, 7)]:
        for n in range(1, 120, 7):
            c = bounds.resnet_smallest_blocks(n, dx, dy)
            assert bounds.chunk_capacity(c, dx, dy) >= n and bounds.chunk_capacity(c - 1, dx, dy) < n
            assert bounds.resnet_capacity([3] * c, dx, dy) == bounds.chunk_capacity(c, dx, dy)


def test_boundary_and_one_below():
    ds = generate("gaussian", 37, 4, classes=3, seed=5)
    need = yr.blocks_needed(np.bincount(ds.y), ds.dx)
    c = yr.build(ds, [3] * need)  # exactly at the condition
    rep = verify(c.network(), ds)
    assert rep.accuracy == 1.0 and rep.max_residual <= rep.certified_residual
    assert rep.level == "certified-bound"
    assert _exact_construction(ds, [3] * need, c).level == "certified-exact"
    with pytest.raises(WidthError, match=rf"needs sum_k ceil\(N_k/4\) = {need} > {need - 1}.*capacity.*Smallest"):
        yr.build(ds, [3] * (need - 1))
    with pytest.raises(WidthError, match=rf"= {need - 1} tents"):
        yr.build(ds, [3 * need - 1])  # one ReLU short, as a single wide block
    wide = yr.build(ds, [3 * need])  # all tents side by side in one block
    assert verify(wide.network(), ds).accuracy == 1.0


def test_hidden_relus_about_three_n_over_dx_plus_dy():
    ds = generate("gaussian", 300, 10, classes=5, seed=1)
    c = yr.build(ds)
    assert c.record["hidden_relus"] <= 3 * (ds.n / ds.dx + ds.dy)
    assert c.record["hidden_relus"] == 3 * c.record["chunks"]


def test_general_position_violation_names_a_subset():
    ds = generate("line", 12, 2, classes=2, seed=0)  # all points on one line of R^2
    with pytest.raises(GeneralPositionError, match=r"general position.*points \[\d+, \d+, \d+\].*chunk_size") as e:
        yr.build(ds)
    idx = [int(v) for v in str(e.value).split("points [")[1].split("]")[0].split(", ")]
    pts = ds.x[idx]
    assert np.linalg.matrix_rank(pts[1:] - pts[0]) <= 1  # the named dx + 1 = 3 points are collinear
    c = yr.build(ds, chunk_size=1)  # the suggested fix works (one block per point)
    assert verify(c.network(), ds).accuracy == 1.0


def test_affinely_dependent_chunk_is_reported():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), rng.standard_normal((6, 3))])
    ds = make_dataset(x, np.array([0, 0, 0, 1, 1, 1, 1, 1, 1]))
    with pytest.raises(GeneralPositionError, match=r"\[0, 1, 2\] \(class 0\) are affinely dependent"):
        yr.build(ds)


def test_rejects_real_labels():
    with pytest.raises(DataError, match="class labels"):
        yr.build(generate("gaussian", 10, 2, seed=0))


def test_net_file_roundtrip_and_module(tmp_path):
    ds = generate("gaussian", 40, 3, classes=3, seed=2)
    c = yr.build(ds, block="trapezoid")
    save_net(tmp_path / "NET.npz", c.network())
    net = load_net(tmp_path / "NET.npz")
    assert net.kind == "residual" and net.widths == (ds.dx, ds.dx + ds.dy, ds.dy)  # (dx, stream D, dy)
    assert isinstance(net, ResidualNet)
    out = np.asarray(residual_apply(net.params, ds.x))
    np.testing.assert_array_equal(out, np.asarray(net.module()(ds.x)))
    rep = verify(net, ds)
    assert rep.accuracy == 1.0 and rep.kink_margin > 0  # trapezoids keep chunk points off the kinks
    assert _exact_construction(ds, block="trapezoid").level == "certified-exact"


def test_rigorous_bound_holds_against_exact_arithmetic():
    model = ResNet.random(3, 5, 4, 6, 2, rngs=nnx.Rngs(3))
    p = model.arrays()
    x = np.random.default_rng(1).standard_normal((7, 3)) * 10
    out, bound, margin, _ = (np.asarray(a) for a in residual_forward_bounded(ResidualParams(*p), x))
    exact = _exact_forward(p, x)
    err = np.vectorize(lambda e, f: float(abs(e - Fraction(float(f)))))(exact, out)
    assert np.all(err <= bound)
    assert np.all(bound < 1e3 * np.finfo(np.float64).eps * (1 + np.abs(out)) * 100)  # bound is not vacuous
    assert np.all(np.isfinite(margin))
    assert ResidualNet(p).params.dims == (3, 5, 4, 6, 2)


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 60), dx=st.integers(1, 6), classes=st.integers(1, 5), seed=st.integers(0, 10_000),
       family=st.sampled_from(["gaussian", "ball"]))
def test_random_data_classified_exactly(n, dx, classes, seed, family):
    ds = generate(family, n, dx, classes=classes, seed=seed)
    c = yr.build(ds, seed=seed)
    rep = verify(c.network(), ds)
    assert rep.accuracy == 1.0
    assert rep.max_residual <= rep.certified_residual
    assert any("argmax certified by the rigorous bound at %d/%d" % (n, n) in s for s in rep.notes)
    assert _exact_construction(ds, con=c, seed=seed).exact_residual_float == 0.0
