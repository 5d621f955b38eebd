"""The paths added for long denominators and exact integer networks, against the general path and
against the plain Fraction reference of test_exact_engine (every comparison exact, ==).

* the canonical-rational path (capacity.exact._rational), chosen by an exact lcm test of the
  stored weights: general and rank-one sweep, ReLU and hard-tanh, deeper tails, points on kinks;
* crt_float (exact signs and rigorous float bounds from residues), used by the exact-weight path;
* the residual computed over gcd(E, D_y) (targets whose denominator does or does not divide E).
"""

import math
import random
from fractions import Fraction

import numpy as np
import pytest

import capacity.exact as ex
from capacity.exact import certify_mlp, exact_outputs
from capacity.exact._numbers import crt_float, prime_list, symmetric
from capacity.exact._rational import is_long
from capacity.exact import certify_residual
from tests.exact.test_exact_engine import as_floats, rank_one_net, ref_mlp, ref_residual, ref_residual_net


def long_fraction(rng, v, bits=40):
    """v (float) perturbed to p/q with a random odd q of ``bits`` bits (unrelated denominators)."""
    q = int(rng.integers(2**(bits - 1), 2**bits)) | 1
    return Fraction(round(float(v) * q), q)


def longify(rng, a):
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = long_fraction(rng, v)
    return out


def force(monkeypatch, rational: bool):
    """Force the path: every layer with exact (object) weights counts as long, or none does."""
    monkeypatch.setattr(ex, "is_long", lambda *a: rational and any(np.asarray(v).dtype == object for v in a))


def test_path_choice_is_an_exact_test_of_the_weights():
    rng = np.random.default_rng(0)
    k = rng.normal(size=(6, 5))
    assert not is_long(k)  # float64: one power of two
    assert not is_long(np.array([[Fraction(3, 2**70), Fraction(1, 3)]], dtype=object))  # short lcm
    assert not is_long(np.array([[1, 2**90], [3, -5]], dtype=object))  # integers
    assert is_long(longify(rng, k))  # 30 unrelated 40-bit denominators: lcm ~1200 bits > 4*40 + 256
    # same values, one shared denominator: not long (the test reads the stored numbers, not a label)
    d = 2**40 + 15
    assert not is_long(np.array([[Fraction(int(v * d), d) for v in r] for r in k], dtype=object))
    layers, rational = ex._build_layers([longify(rng, k), k[:5, :2]], [np.zeros(5), np.zeros(2)])
    assert rational and type(layers[0]).__name__ == "RatLayer"
    layers, rational = ex._build_layers([k, k[:5, :2]], [np.zeros(5), np.zeros(2)])
    assert not rational and type(layers[1]).__name__ == "Layer"


@pytest.mark.parametrize("activation", ["relu", "hardtanh"])
def test_rational_general_path_equals_integer_path_and_reference(activation, monkeypatch):
    rng = np.random.default_rng(3)
    widths = [3, 5, 4, 2]
    ks = [longify(rng, rng.normal(size=(a, b)) * 1.5) for a, b in zip(widths[:-1], widths[1:])]
    bs = [longify(rng, rng.normal(size=b)) for b in widths[1:]]
    x = rng.normal(size=(13, 3))
    out, kink = ref_mlp(ks, bs, x, activation)
    y = as_floats(out)
    res = {}
    for rational in (True, False):
        force(monkeypatch, rational)
        r = certify_mlp(ks, bs, x, y, activation=activation, chunk=5)
        assert r.method.startswith("canonical") == rational
        res[rational] = r
        assert (exact_outputs(ks, bs, x, activation, chunk=4) == np.array(out, dtype=object)).all()
    for r in res.values():
        assert r.residual == ref_residual(out, y) and r.kink_distance == kink and r.level == res[True].level


@pytest.mark.parametrize("widths", [[3, 7, 5, 2], [2, 6, 4, 3, 1]])
def test_rational_sweep_equals_general_paths_and_reference(widths, monkeypatch):
    rng = np.random.default_rng(1)
    ks, bs, u, a, b0 = rank_one_net(rng, widths)
    ks = [ks[0]] + [longify(rng, k) for k in ks[1:]]  # float rank-one kernel_0, long rationals after it
    bs = [bs[0]] + [longify(rng, b) for b in bs[1:]]
    x = rng.normal(size=(30, widths[0]))
    for i, j in enumerate(range(0, widths[1], 2)):  # points exactly on first-layer kinks
        x[i, 1:] = rng.integers(-64, 65, size=widths[0] - 1) / 16.0
        x[i, 0] = -b0[j] / a[j] - float(np.dot(u[1:], x[i, 1:]))
    out, kink = ref_mlp(ks, bs, x, "relu")
    assert kink == 0
    y = as_floats(out)
    force(monkeypatch, True)
    fast = certify_mlp(ks, bs, x, y, fast_path=True, chunk=7)
    gen_q = certify_mlp(ks, bs, x, y, fast_path=False, chunk=7)
    assert fast.method == "rank-one sweep on canonical rationals (long denominators)"
    assert (exact_outputs(ks, bs, x, fast_path=True, chunk=6) == np.array(out, dtype=object)).all()
    force(monkeypatch, False)
    fast_i = certify_mlp(ks, bs, x, y, fast_path=True, chunk=7)
    gen_i = certify_mlp(ks, bs, x, y, fast_path=False, chunk=7)
    assert fast_i.method == "rank-one sweep" and gen_i.method.startswith("integer")
    for r in (fast, gen_q, fast_i, gen_i):
        assert r.residual == ref_residual(out, y) and r.kink_distance == kink == 0


def test_rational_sweep_certifies_exact_targets_and_layer2_roots(monkeypatch):
    # z2 = relu(t) * (1/3) - 1/6 has a root at t = 1/2, a data point; outputs are exact rationals
    k0 = np.array([[1.0, -1.0]])
    b0 = np.array([0.0, 0.0])
    k1 = np.array([[Fraction(1, 3)], [Fraction(0)]], dtype=object)
    b1 = np.array([Fraction(-1, 6)], dtype=object)
    k2 = np.array([[Fraction(3, 7)]], dtype=object)
    b2 = np.array([Fraction(1, 11)], dtype=object)
    ks, bs = [k0, k1, k2], [b0, b1, b2]
    x = np.array([[-1.0], [0.25], [0.5], [0.75], [2.0]])
    out, kink = ref_mlp(ks, bs, x, "relu")
    y = np.array(out, dtype=object)
    force(monkeypatch, True)
    for fp in (True, False):
        r = certify_mlp(ks, bs, x, y, fast_path=fp)
        assert r.level == "certified-exact" and r.kink_distance == kink == 0 and r.residual == 0


def test_crt_float_signs_and_bounds():
    rnd = random.Random(7)
    for k in (1, 2, 3, 6, 13, 31):
        ps = prime_list(201, k)
        m = math.prod(int(p) for p in ps)
        h = (m - 1) // 2
        vals = [0, 1, -1, h, -h, h - 1, m // 4, -(m // 4), m // 4 + 1]
        for _ in range(400):
            b = rnd.randint(0, m.bit_length() - 2)
            vals.append(max(-h, min(h, rnd.randint(-(2**b), 2**b))))
        res = symmetric(np.array([[v % int(p) for v in vals] for p in ps], dtype=np.float64), ps)
        for levels in (1, 3):
            s, lo, hi = crt_float(res, ps, levels=levels)
            for v, si, l, u in zip(vals, s.tolist(), lo.tolist(), hi.tolist()):
                assert si == (v > 0) - (v < 0)
                assert Fraction(l) <= abs(v) <= Fraction(u)
                if v:
                    assert u <= 2 * abs(v) * (1 + 2**-30) or u - abs(v) <= 2.0**-30 * m  # tight enough to plan primes


@pytest.mark.parametrize("activation", ["relu", "hardtanh"])
def test_deep_integer_network_values_far_below_bounds(activation):
    # Vardi-like: big integer weights, values far below the a-priori bounds, exact zeros and ties
    rng = np.random.default_rng(4)
    widths = [3] + [4] * 10 + [1]
    ks, bs = [], []
    for a, b in zip(widths[:-1], widths[1:]):
        k = rng.integers(-2, 3, size=(a, b)).astype(object)
        k[0, 0] = 2**50 if a > 3 else 1  # a huge weight acting on a unit that is often zero
        ks.append(k)
        bs.append(rng.integers(-3, 4, size=b).astype(object))
    x = rng.integers(-4, 5, size=(25, 3)) / 4.0
    out, kink = ref_mlp(ks, bs, x, activation)
    y = np.array(out, dtype=object)
    y[3, 0] += Fraction(1, 3)
    r = certify_mlp(ks, bs, x, y, activation=activation, chunk=6)
    assert r.residual == ref_residual(out, y) == Fraction(1, 3) and r.kink_distance == kink
    assert (exact_outputs(ks, bs, x, activation, chunk=7) == np.array(out, dtype=object)).all()


@pytest.mark.parametrize("scale", [2.0**-300, 2.0**40])
def test_residual_over_gcd_of_denominators(scale):
    # targets whose power-of-two denominator exceeds E (no divisibility) and ones that divide it
    rng = np.random.default_rng(2)
    ks = [rng.normal(size=(3, 4)), rng.normal(size=(4, 1))]
    bs = [rng.normal(size=4), rng.normal(size=1)]
    x = rng.normal(size=(9, 3))
    out, kink = ref_mlp(ks, bs, x, "relu")
    y = as_floats(out) + scale * rng.integers(-3, 4, size=(9, 1))
    for filt in (True, False):
        r = certify_mlp(ks, bs, x, y, tol=0.0, float_filter=filt)
        assert r.residual == ref_residual(out, y) and r.kink_distance == kink


def test_rational_residual_net_equals_integer_path_and_reference(monkeypatch):
    rng = np.random.default_rng(6)
    dx, D, nb, k, dy = 3, 4, 3, 2, 2
    params = (rng.normal(size=(dx, D)), rng.normal(size=D), longify(rng, rng.normal(size=(nb, D, k))),
              longify(rng, rng.normal(size=(nb, k))), longify(rng, rng.normal(size=(nb, k, D))),
              rng.normal(size=(D, dy)), rng.normal(size=dy))
    assert is_long(params[2])
    x = rng.normal(size=(9, dx))
    out, kink = ref_residual_net(params, x)
    y = as_floats(out)
    res = {}
    for rational in (True, False):
        force(monkeypatch, rational)
        res[rational] = certify_residual(params, x, y, chunk=4)
        assert ("canonical" in res[rational].method) == rational
        assert certify_residual(params, x, np.array(out, dtype=object)).level == "certified-exact"
    for r in res.values():
        assert r.residual == ref_residual(out, y) and r.kink_distance == kink


def test_crt_float_beyond_the_float_range():
    # products of primes above 2^1024: bounds stay rigorous (lo 0 / hi inf where floats overflow)
    ps = prime_list(3, 48)
    m = math.prod(int(p) for p in ps)
    h = (m - 1) // 2
    vals = [h, -h, h // 3, -(2**1100) - 7, 2**1000 + 1, 2**60 + 5, -3, 0]
    res = symmetric(np.array([[v % int(p) for v in vals] for p in ps], dtype=np.float64), ps)
    s, lo, hi = crt_float(res, ps)
    for v, si, l, u in zip(vals, s.tolist(), lo.tolist(), hi.tolist()):
        assert si == (v > 0) - (v < 0)
        assert l <= abs(v) and (u == math.inf or abs(v) <= Fraction(u))
