"""Slab constructions (Bubeck, Baum) never return a network that misses a label (issue: bubeck, 0.13).

The property: for random data of any magnitude float64 holds (power-of-ten scales 1e-12 .. 1e12
and scales that are not powers of two, so the power-of-two normalization rounds nothing away but
the data differ bit for bit), ``bubeck`` and ``baum`` either raise a :class:`CapacityError` or
return a network whose *exact* residual (:func:`capacity.verification.certify`, rational
arithmetic on the stored weights) is within the default tolerance; and the residual the
construction records from its own exact check is that same number.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity import constructions
from capacity.constructions import baum, bubeck
from capacity.data import generate, make_dataset
from capacity.errors import CapacityError, GeneralPositionError
from capacity.verification import DEFAULT_TOL, certify

POWERS = [10.0 ** k for k in range(-12, 13)]
ODD = [0.27755575615628914, 0.2, 1 / 3, 3.3, 7e-9, 123456.789, 2.0 ** -40 * 3]


def _dataset(name: str, n: int, dx: int, seed: int, scale: float, near: float | None = None):
    """Gaussian data times ``scale``; with ``near``, the last point is moved to within ``near`` (relative)
    of the affine hull of the first dx points (a nearly degenerate, thin-slab dataset)."""
    d0 = generate("gaussian", n, dx, seed=seed, classes=2 if name == "baum" else None)
    x = d0.x.copy()
    if near is not None and n > dx:
        rng = np.random.default_rng(seed)
        w = rng.dirichlet(np.ones(dx)) * 1.5 - 0.5 / dx  # affine weights (sum 1), some outside the hull
        x[-1] = w @ x[:dx] + near * rng.standard_normal(dx)
    return make_dataset(x * scale, d0.y)


def _build(name, ds, via_registry: bool, seed: int = 0):
    if via_registry:
        return constructions.build(name, ds, None, seed=seed)
    return (bubeck if name == "bubeck" else baum).build(ds, None, seed=seed)


def test_issue_reproducer_interpolates():
    ds0 = generate("gaussian", 60, 3, seed=1)
    ds = make_dataset(ds0.x * 0.27755575615628914, ds0.y)  # = (x 1e16) 2^-55 in the report
    c = constructions.build("bubeck", ds, None)
    cert = certify(c.network(), ds)
    assert cert.exact_residual_float <= 1e-9  # was 0.13 (the gadget's shift doubled at a binade edge)
    assert c.record["exact_residual"] == float(cert.residual)  # both the exact value, rounded to nearest


@settings(max_examples=max(150, settings.default.max_examples))  # ~3 s; the "thorough" profile may ask more
@given(name=st.sampled_from(["bubeck", "baum"]), n=st.integers(2, 16), dx=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1), scale=st.sampled_from(POWERS + ODD), via_registry=st.booleans(),
       build_seed=st.integers(0, 3), near=st.sampled_from([None, None, None, 1e-4, 1e-8, 1e-11, 1e-14, 1e-17]))
def test_either_raises_or_interpolates_exactly(name, n, dx, seed, scale, via_registry, build_seed, near):
    try:
        ds = _dataset(name, n, dx, seed, scale, near)
    except CapacityError:  # e.g. a duplicate input after rounding
        return
    try:
        c = _build(name, ds, via_registry, build_seed)
    except CapacityError as err:
        assert str(err)  # raised with a message; nothing returned
        return
    cert = certify(c.network(), ds)
    assert cert.exact_residual_float <= DEFAULT_TOL, (name, n, dx, seed, scale)
    assert c.record["exact_residual"] == float(cert.residual)  # both the exact value, rounded to nearest


def test_scale_sweep_builds_without_raising():
    """Not vacuous: on Gaussian data every scale builds (nothing raises) and interpolates."""
    worst = {"bubeck": 0.0, "baum": 0.0}
    for name in worst:
        for seed, (n, dx) in enumerate([(13, 1), (30, 3), (21, 4)]):
            for scale in [1e-12, 1e-3, 1.0, 1e3, 1e12] + ODD[:3]:
                ds = _dataset(name, n, dx, seed, scale)
                c = constructions.build(name, ds, None)
                worst[name] = max(worst[name], certify(c.network(), ds).exact_residual_float)
    assert worst["baum"] == 0.0  # trapezoids with power-of-two widths: exactly one-hot
    assert worst["bubeck"] <= 1e-9


@pytest.mark.parametrize("gap", [1e-11, 1e-13])
def test_too_thin_slab_raises_naming_points(gap):
    """Two points 1e-11 apart on a line: the slab is too thin for float64 to carry a real label."""
    x = np.array([[0.1], [0.5], [0.5 + gap], [0.9]])
    ds = make_dataset(x, np.array([0.3, -0.7, 0.9, 0.2]))
    with pytest.raises(GeneralPositionError, match="too thin") as err:
        bubeck.build(ds, None)
    named = {int(v) for v in re.search(r"points \{([0-9, ]+)\}", str(err.value)).group(1).split(",")}
    assert named <= {1, 2} and named
    # baum's trapezoids (power-of-two widths, integer offsets) are exact here: one-hot, residual 0
    dsc = make_dataset(x, np.array([0, 1, 0, 1]))
    assert certify(baum.build(dsc, None).network(), dsc).exact_residual_float == 0.0


def test_the_guard_catches_a_wrong_bubeck_network(monkeypatch):
    """Biases rounded to a coarse grid (a wrong gadget) raise instead of returning the network."""
    monkeypatch.setattr(bubeck, "dyadic_grid", lambda bound: 2.0 ** -12)
    with pytest.raises(GeneralPositionError, match="misses the labels of points"):
        bubeck.build(generate("gaussian", 30, 3, seed=0), None)


def test_the_guard_catches_a_wrong_baum_network(monkeypatch):
    """Slabs moved off their groups (a wrong offset) raise instead of returning the network."""
    real = baum.group_hyperplanes

    def shifted(x, groups, seed):
        normals, offsets, gaps, s = real(x, groups, seed)
        return normals, offsets + 0.6 * gaps, gaps, s

    monkeypatch.setattr(baum, "group_hyperplanes", shifted)
    with pytest.raises(GeneralPositionError, match="misses the labels of points"):
        baum.build(generate("gaussian", 30, 3, seed=0, classes=2), None)
