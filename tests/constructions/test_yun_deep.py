"""Deep chained construction (yun-deep): capacity of a width profile, boundary, Theta(W) capacity."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from capacity.constructions import yun_deep as yd
from capacity.data import generate
from capacity.errors import DataError, WidthError
from capacity.constructions import get
from capacity.verification import certify, verify
from theory import bounds


def _exact_construction(ds, widths, con, **options):
    """The chained network carried out in exact rationals, evaluated by the exact engine."""
    return certify(get("yun-deep").exact_network(ds, widths, con, **options), ds)


def _brute_capacity(widths, dy):
    """max sum_b 4 A_b B_b by enumerating every split of every interior layer."""
    nh = len(widths)
    free = [w - c for w, c in zip(widths, bounds.deep_carries(nh, dy))]
    if min(free) < 0:
        return 0
    best = 0
    for a_int in itertools.product(*[range(f // 4 + 1) for f in free[1:-1]]):
        A = [free[0] // 4] + list(a_int)
        B = [(free[l] - 4 * A[l]) // (4 * dy) for l in range(1, nh - 1)] + [free[-1] // (4 * dy)]
        best = max(best, sum(4 * a * b for a, b in zip(A, B)))
    return best


def test_three_layers_is_the_yun3_capacity():
    for d1, d2, dy in [(8, 8, 1), (11, 13, 1), (9, 27, 2), (40, 40, 1)]:
        assert bounds.deep_capacity([d1, d2], dy) == bounds.yun3_capacity(d1, d2, dy)


def test_dynamic_program_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(40):
        nh = int(rng.integers(2, 6))
        dy = int(rng.integers(1, 3))
        w = [int(v) for v in rng.integers(2, 30, size=nh)]
        A, B, cap = bounds.deep_plan(w, dy)
        assert cap == _brute_capacity(w, dy), w
        assert cap == sum(4 * a * b for a, b in zip(A, B))


def test_capacity_per_hidden_parameter_stays_above_a_constant():
    # claim: capacity >= W / (16 dy) for every profile with min width >= 32 dy (W = sum d_l d_(l+1));
    # for wide uniform profiles the ratio tends to 1/(8 dy) (every other pair uses whole layers).
    for dy in (1, 2, 3):
        for L in (3, 4, 6, 10, 20):
            ratios = [bounds.deep_capacity([w] * (L - 1), dy) / bounds.hidden_parameters([w] * (L - 1))
                      for w in (32 * dy, 64 * dy, 128 * dy, 512)]
            assert min(ratios) >= 1 / (16 * dy), (dy, L, ratios)
            assert ratios[-1] >= 0.9 / (8 * dy)
        rng = np.random.default_rng(dy)
        for _ in range(100):
            w = [int(v) for v in rng.integers(32 * dy, 400, size=int(rng.integers(2, 15)))]
            assert bounds.deep_capacity(w, dy) >= bounds.hidden_parameters(w) / (16 * dy), w


def test_boundary_and_one_below_non_uniform_depth_five():
    widths = [13, 18, 11, 14]  # L = 5, non-uniform
    cap = bounds.deep_capacity(widths, 1)
    ds = generate("gaussian", cap, 3, seed=7)
    c = yd.build(ds, widths)
    rep = verify(c.network(), ds)
    assert rep.max_residual <= rep.certified_residual and rep.level == "certified-bound"
    assert rep.kink_margin > 0
    assert _exact_construction(ds, widths, c).level == "certified-exact"
    assert sum(c.record["block_points"]) == cap
    ds1 = generate("gaussian", cap + 1, 3, seed=7)
    w_fix = bounds.smallest_uniform_deep_width(cap + 1, len(widths), 1)
    with pytest.raises(WidthError, match=rf"at most {cap} points.*{cap} < N = {cap + 1}.*{w_fix},{w_fix},{w_fix},{w_fix}"):
        yd.build(ds1, widths)


def test_rejects_class_labels():
    with pytest.raises(DataError, match="real labels"):
        yd.build(generate("gaussian", 8, 2, classes=2, seed=0), [16, 16, 16])


@settings(max_examples=8, deadline=None)
@given(widths=st.lists(st.integers(8, 20), min_size=2, max_size=5), dy=st.integers(1, 2),
       seed=st.integers(0, 10_000), frac=st.floats(0.2, 1.0), family=st.sampled_from(["gaussian", "clustered"]))
def test_random_profiles_fit_exactly(widths, dy, seed, frac, family):
    cap = bounds.deep_capacity(widths, dy)
    if cap == 0:
        with pytest.raises(WidthError):
            yd.build(generate("gaussian", 1, 2, dy, seed=seed), widths)
        return
    n = max(1, int(frac * cap))
    ds = generate(family, n, 2, dy, seed=seed)
    c = yd.build(ds, widths, seed=seed)
    rep = verify(c.network(), ds)
    assert rep.max_residual <= rep.certified_residual
    assert _exact_construction(ds, widths, c, seed=seed).level == "certified-exact"
