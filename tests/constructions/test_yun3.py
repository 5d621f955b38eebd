"""The tight 3-layer memorizer: exact boundary, exact certification, conditioning, edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity import constructions, data
from capacity.constructions import yun3
from capacity.errors import CapacityError, WidthError
from capacity.verification import DEFAULT_TOL, certify, verify
from capacity.workflow import build_and_check
from theory.bounds import yun3_capacity, yun3_smallest_widths


def _check(ds, widths, activation="relu", exact=True, tol=DEFAULT_TOL):
    checked = build_and_check("yun3", ds, widths, activation=activation, tol=tol, certify_exactly=exact)
    rep = checked.report
    assert rep.float_level != "failed", rep.lines()
    if exact:
        res = checked.construction_exact  # the construction carried out in exact rationals
        assert res.level == "certified-exact", res
        assert checked.file_exact.level != "failed", checked.file_exact  # and the saved weights, exactly
    return checked.construction, rep


def _exact_construction(ds, widths, con, activation="relu"):
    return certify(constructions.get("yun3", activation).exact_network(ds, widths, con), ds)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 48), dx=st.integers(1, 4), dy=st.integers(1, 3), extra1=st.integers(0, 5),
       extra2=st.integers(0, 5), seed=st.integers(0, 10**6))
def test_random_data_at_or_above_the_bound_is_fit_exactly(n, dx, dy, extra1, extra2, seed):
    d1, d2 = yun3_smallest_widths(n, dy)
    d1, d2 = d1 + extra1, d2 + extra2  # includes odd widths (floors)
    assert yun3_capacity(d1, d2, dy) >= n
    ds = data.generate("gaussian", n, dx, dy, seed=seed)
    _check(ds, (d1, d2))


@pytest.mark.parametrize("n,widths,dy", [(16, (8, 8), 1), (400, (40, 40), 1), (24, (11, 13), 1), (24, (9, 27), 2),
                                         (108, (36, 36), 3)])
def test_exact_boundary_fits_and_one_more_point_is_refused(n, widths, dy):
    assert yun3_capacity(*widths, dy) == n
    ds = data.generate("gaussian", n, 5, dy, seed=n)
    _check(ds, widths)
    ds1 = data.generate("gaussian", n + 1, 5, dy, seed=n)
    with pytest.raises(WidthError) as e:
        yun3.build(ds1, widths)
    msg = str(e.value)
    assert f"{n} < N = {n + 1}" in msg and "smallest widths" in msg
    s1, s2 = yun3_smallest_widths(n + 1, dy)
    assert f"{s1},{s2}" in msg and yun3_capacity(s1, s2, dy) >= n + 1


def test_hardtanh_variant_at_its_bound():
    n, widths = 4 * 5 * 3, (10, 6)  # 4*floor(10/2)*floor(6/2) = 60
    assert yun3_capacity(*widths, 1, "hardtanh") == n
    ds = data.generate("gaussian", n, 3, seed=1)
    con, _ = _check(ds, widths, activation="hardtanh")
    assert con.activation == "hardtanh"
    with pytest.raises(WidthError):
        constructions.build("yun3", data.generate("gaussian", n + 1, 3, seed=1), widths, activation="hardtanh")


@pytest.mark.parametrize("family,dx", [("line", 1), ("line", 3), ("grid", 2), ("clustered", 3), ("ball", 6)])
def test_hard_geometries_fit_exactly(family, dx):
    ds = data.generate(family, 100, dx, seed=3)
    _check(ds, (20, 20))


def test_single_point_and_labels_exactly_on_the_box():
    _check(data.make_dataset(np.array([[0.3, -1.0]]), np.array([0.25])), (4, 4))
    x = np.random.default_rng(0).standard_normal((40, 2))
    y = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    con, rep = _check(data.make_dataset(x, y), yun3_smallest_widths(40))
    assert rep.kink_margin <= 1e-12  # a hard-tanh sits exactly on its corner at y = ±1: reported, not hidden


def test_out_of_box_labels_are_folded_into_the_output_layer():
    ds = data.rescale_labels(data.make_dataset(np.arange(30.0), np.linspace(-7, 5, 30), allow_out_of_box=True))
    con, rep = _check(ds, yun3_smallest_widths(30), tol=1e-9)
    assert rep.max_residual <= 1e-9


def test_same_seed_same_weights_and_other_seed_other_projection():
    ds = data.generate("gaussian", 200, 4, seed=9)
    a, b = yun3.build(ds, (32, 28), seed=5), yun3.build(ds, (32, 28), seed=5)
    for u, v in zip(a.kernels + a.biases, b.kernels + b.biases):
        np.testing.assert_array_equal(u, v)
    c = yun3.build(ds, (32, 28), seed=6)
    assert a.record["projection"] != c.record["projection"]


def test_weights_grow_polynomially_not_as_a_product_over_groups():
    """max|W| / (span/min-gap) stays bounded as N grows 16x (a chain would grow exponentially in A)."""
    ratios = []
    for n in (250, 1000, 4000):
        ds = data.generate("gaussian", n, 8, seed=1)
        con = yun3.build(ds, yun3_smallest_widths(n))
        rep = verify(con.network(), ds)
        assert rep.max_residual <= DEFAULT_TOL
        ratios.append(rep.max_abs_weight / con.record["span_over_min_gap"])
    assert max(ratios) < 1.0 and ratios[-1] < 10 * ratios[0], ratios


def test_clustered_data_at_1e6_spacing_is_well_conditioned():
    """The digest's reconstruction gave max|W| ~ 5e12 and error 3e-2 here (N = 400, dx = 3)."""
    ds = data.generate("clustered", 400, 3, seed=1, spacing=1e-6)
    con, rep = _check(ds, (40, 40), exact=False)
    assert rep.max_residual <= 1e-6 and rep.max_abs_weight < 1e9


def test_module_reproduces_the_arrays():
    ds = data.generate("gaussian", 64, 3, seed=2)
    con = yun3.build(ds, (16, 16))
    out = np.asarray(con.module()(ds.x))
    assert np.max(np.abs(out - ds.y)) <= DEFAULT_TOL


def test_adversarial_1d_clusters_fit_in_float64_and_exactly():
    """1-D clusters (no projection can help): a half-group holds gaps of 1e-6 and of O(1).  With kinks
    only in the middle and between-group gaps a line had to cross a large gap at a slope set by a tiny
    one (float64 residual 3e-5 here in an earlier version); the kinks at the largest gap of each half
    avoid that.  Both the float check and the exact construction must pass."""
    ds = data.generate("clustered", 23, 1, seed=2)
    widths = yun3_smallest_widths(23)
    con = yun3.build(ds, widths)
    assert _exact_construction(ds, widths, con).level == "certified-exact"
    rep = verify(con.network(), ds)
    assert rep.max_residual <= DEFAULT_TOL and rep.level != "failed", rep.lines()


def test_inputs_one_ulp_apart_get_a_data_error_not_a_bug_report():
    """Distinct inputs one ulp apart pass validation, but no float64 projection separates them well
    enough for the layer-2 LPs: the error blames the data and says what to do."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 2))
    x[1] = x[0]
    x[1, 0] = np.nextafter(x[0, 0], 10)
    ds = data.make_dataset(x, rng.uniform(-1, 1, (300, 1)))
    with pytest.raises(CapacityError, match="project too close together.*deduplicate or perturb") as err:
        constructions.build("yun3", ds, yun3_smallest_widths(300, 1))
    assert "bug" not in str(err.value)
