"""4-layer classifier (yun-classify): exact one-hot output at the boundary of its condition."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from capacity.constructions import yun_classify as yc
from capacity.data import generate
from capacity.errors import DataError, WidthError
from capacity.networks import mlp_apply
from capacity.verification import certify, verify
from theory import bounds


def test_codes_are_dyadic_and_separated():
    for dy in (1, 2, 3, 10, 100, 1000):
        codes, delta = yc.class_codes(dy)
        assert np.all(np.abs(codes) <= 0.75)
        assert np.all(np.diff(codes) == 4 * delta)
        m, _ = np.frexp(delta)
        assert m == 0.5  # a power of two: 1/delta and the trapezoid biases are exact in binary


def test_boundary_exact_one_hot_and_one_below():
    # 4*floor(9/4)*floor(11/4) = 4*2*2 = 16 = N, d3 = 4*dy = 12 (odd widths: the floors matter)
    ds = generate("gaussian", 16, 3, classes=3, seed=4)
    widths = (9, 11, 12)
    assert bounds.yun_classify_capacity(*widths, 3) == ds.n
    c = yc.build(ds, widths)
    out = np.asarray(mlp_apply(c.kernels, c.biases, ds.x))
    rep = verify(c.network(), ds)
    assert rep.accuracy == 1.0 and rep.max_residual <= rep.certified_residual
    cert = certify(c.network(), ds)
    assert cert.level == "certified-exact" and cert.exact_residual_float == 0.0
    assert np.all(np.argmax(out, axis=1) == ds.y)
    with pytest.raises(WidthError, match=r"4\*floor\(d1/4\)\*floor\(d2/4\) = 8 < N = 16.*at most 0|at most 8"):
        yc.build(ds, (9, 7, 12))
    with pytest.raises(WidthError, match=r"d3 = 11 < 4\*dy = 12.*Smallest widths that would do: \d+,\d+,12"):
        yc.build(ds, (9, 11, 11))


def test_rejects_real_labels():
    with pytest.raises(DataError, match="integer class labels"):
        yc.build(generate("gaussian", 8, 2, seed=0), (8, 8, 4))


def test_certify_detects_a_wrong_network():
    ds = generate("gaussian", 16, 2, classes=2, seed=1)
    c = yc.build(ds, (8, 8, 8))
    c.biases[3] = c.biases[3] + np.array([0.0, 2.0**-30])  # output no longer exactly one-hot
    assert certify(c.network(), ds, tol=0.0).level == "failed"  # exactly one-hot is required


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 48), dx=st.integers(1, 5), classes=st.integers(1, 6), seed=st.integers(0, 10_000),
       family=st.sampled_from(["gaussian", "clustered", "grid"]))
def test_random_data_exact_one_hot(n, dx, classes, seed, family):
    ds = generate(family, n, dx, classes=classes, seed=seed)
    widths = bounds.yun_classify_smallest_widths(n, ds.dy)
    c = yc.build(ds, widths, seed=seed)
    cert = certify(c.network(), ds)
    assert cert.level == "certified-exact", cert
    out = np.asarray(mlp_apply(c.kernels, c.biases, ds.x))
    assert np.all(np.argmax(out, axis=1) == ds.y)
