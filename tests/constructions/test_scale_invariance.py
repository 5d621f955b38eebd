"""Scale invariance: data that build at scale 1 build at any scale float64 holds (issue: 'any data scale
builds').  The registry scales the inputs by a power of two to unit range and folds the scale exactly
into the first layer, so the network on the original inputs is the exact image of the one built."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from capacity import constructions, data
from capacity.errors import CapacityError
from capacity.verification import DEFAULT_TOL, certify, verify
from theory.bounds import yun3_smallest_widths


@settings(max_examples=6, deadline=None)
@given(n=st.integers(2, 20), dx=st.integers(1, 3), seed=st.integers(0, 10**6),
       exponent=st.integers(-12, 12), odd=st.sampled_from([1.0, 0.27755575615628914, 3.3]),
       name=st.sampled_from(["yun3", "zhang"]))
def test_any_scale_builds_and_interpolates(n, dx, seed, exponent, odd, name):
    ds0 = data.generate("gaussian", n, dx, seed=seed)
    scale = odd * 10.0 ** exponent
    ds = data.make_dataset(ds0.x * scale, ds0.y)
    widths = yun3_smallest_widths(n) if name == "yun3" else [n]
    con = constructions.build(name, ds, widths, seed=seed)
    net = con.network()
    assert verify(net, ds).max_residual <= DEFAULT_TOL
    assert certify(net, ds).level != "failed"  # the saved weights, in exact arithmetic
    if name == "yun3":  # the construction in rationals, on the same normalized inputs, fits exactly
        exact_net = constructions.get("yun3").exact_network(ds, widths, con, seed=seed)
        assert certify(exact_net, ds, tol=0.0).level == "certified-exact"


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_scales(scale):
    ds0 = data.generate("gaussian", 40, 3, seed=1)
    ds = data.make_dataset(ds0.x * scale, ds0.y)
    con = constructions.build("yun3", ds, (16, 16))
    assert con.record["input_scale_exponent"] != 0
    assert verify(con.network(), ds).max_residual <= DEFAULT_TOL


def test_subnormal_spacing_in_one_dimension():
    """1-D inputs spaced at subnormal distances: the power-of-two scaling makes them ordinary numbers;
    the network then acts on the original (subnormal) inputs through an exactly folded first layer,
    or the construction refuses with one clear error (never a silent wrong network)."""
    x = np.arange(12, dtype=np.float64)[:, None] * 5e-324  # 0, 1, 2, ... times the smallest subnormal
    y = np.linspace(-0.9, 0.9, 12)
    ds = data.make_dataset(x, y)
    try:
        con = constructions.build("yun3", ds, yun3_smallest_widths(12))
    except CapacityError as e:
        assert "float64" in str(e) and "rescale" in str(e)
        return
    assert certify(con.network(), ds).level != "failed"


@pytest.mark.parametrize("name, activation, widths, classes", [
    ("yun3", "relu", (12, 12), None), ("yun3", "hardtanh", (8, 8), None),
    ("yun-deep", "relu", [12, 12, 12], None), ("yun-resnet", "relu", (), 3)])
def test_every_rational_rebuild_goes_through_the_normalization(name, activation, widths, classes):
    """Built through the registry on inputs far from unit range (the scale is folded into the first
    layer), each construction's rational rebuild still interpolates exactly on the original inputs."""
    ds0 = data.generate("gaussian", 24, 3, seed=5, classes=classes)
    ds = data.make_dataset(ds0.x * 1e3, ds0.y)
    con = constructions.build(name, ds, widths, activation=activation)
    assert con.record["input_scale_exponent"] == 12
    exact_net = constructions.get(name, activation).exact_network(ds, widths, con)
    assert certify(exact_net, ds, tol=0.0).level == "certified-exact"
    assert certify(con.network(), ds).level != "failed"
