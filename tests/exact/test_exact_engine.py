"""The exact engine against a plain fractions.Fraction evaluation written here.

Every comparison is exact (Fractions, ==): the engine's residual and kink distance must equal the
reference's for every network kind (ReLU, hard-tanh, exact integer/rational weights, residual),
for the rank-one sweep and the general path, at random points and at points exactly on a kink,
for any chunk size.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from capacity.exact import certify_mlp, certify_residual, exact_outputs, is_rank_one, to_dyadic


# ----------------------------------------------------------------- the reference (plain Fractions)

def fr(v):
    return v if isinstance(v, Fraction) else Fraction(v)


def ref_mlp(kernels, biases, x, activation):
    """(outputs as rows of Fractions, exact kink distance) by the textbook forward pass."""
    h = [[fr(v) for v in row] for row in np.asarray(x).tolist()]
    kink = None
    n = len(kernels)
    for i, (k, b) in enumerate(zip(kernels, biases)):
        K = [[fr(v) for v in r] for r in np.asarray(k).tolist()]
        B = [fr(v) for v in np.asarray(b).tolist()]
        z = [[sum((row[a] * K[a][j] for a in range(len(K))), Fraction(0)) + B[j] for j in range(len(B))] for row in h]
        if i < n - 1:
            if activation == "relu":
                d = min(abs(v) for r in z for v in r)
                h = [[max(v, Fraction(0)) for v in r] for r in z]
            else:
                d = min(min(abs(v - 1), abs(v + 1)) for r in z for v in r)
                h = [[min(max(v, Fraction(-1)), Fraction(1)) for v in r] for r in z]
            kink = d if kink is None else min(kink, d)
        else:
            h = z
    return h, kink


def ref_residual(out, y):
    return max(abs(o - fr(t)) for ro, ry in zip(out, np.asarray(y).tolist()) for o, t in zip(ro, ry))


def rand_mlp(rng, widths, scale=1.0):
    ks = [rng.normal(size=(a, b)) * scale for a, b in zip(widths[:-1], widths[1:])]
    bs = [rng.normal(size=b) for b in widths[1:]]
    return ks, bs


def as_floats(rows):
    return np.array([[float(v) for v in r] for r in rows])


# ----------------------------------------------------------------- plain MLPs, float weights

@pytest.mark.parametrize("activation", ["relu", "hardtanh"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engine_equals_fraction_reference(activation, seed):
    rng = np.random.default_rng(seed)
    widths = [3, 6, 5, 2] if seed != 2 else [2, 4, 1]
    ks, bs = rand_mlp(rng, widths, scale=1.5)
    x = rng.normal(size=(17, widths[0]))
    out, kink = ref_mlp(ks, bs, x, activation)
    assert (exact_outputs(ks, bs, x, activation) == np.array(out, dtype=object)).all()
    y = as_floats(out) + rng.normal(size=(17, widths[-1])) * 1e-3  # residual of order 1e-3
    r = certify_mlp(ks, bs, x, y, activation=activation)
    assert r.residual == ref_residual(out, y)
    assert r.kink_distance == kink
    assert r.level == "failed" and r.residual_is_exact and r.tiers["exact"] == 17
    assert r.exact_residual_float >= r.residual and Fraction(r.min_abs_preactivation) <= kink


def test_exact_outputs_give_certified_exact():
    rng = np.random.default_rng(5)
    ks, bs = rand_mlp(rng, [4, 8, 3])
    x = rng.normal(size=(9, 4))
    out = exact_outputs(ks, bs, x)
    y = np.array(out, dtype=object)  # exact targets (object array of Fractions)
    r = certify_mlp(ks, bs, x, y, tol=0.0)
    assert r.level == "certified-exact" and r.residual == 0 and r.exact_residual == "0"


# ----------------------------------------------------------------- exact (object) weights

def test_exact_integer_and_rational_weights():
    rng = np.random.default_rng(3)
    big = 2**80  # beyond float64's integers
    k0 = np.array([[int(v) * big + 1 for v in rng.integers(-5, 6, size=4)] for _ in range(2)], dtype=object)
    b0 = np.array([Fraction(int(v), 3) for v in rng.integers(-5, 6, size=4)], dtype=object)
    k1 = np.array([[Fraction(int(v), 7) for v in rng.integers(-4, 5, size=3)] for _ in range(4)], dtype=object)
    b1 = np.array([int(v) for v in rng.integers(-3, 4, size=3)], dtype=object)
    k2 = np.array([[1], [-2], [Fraction(1, 5)]], dtype=object)
    b2 = np.array([Fraction(-1, 11)], dtype=object)
    ks, bs = [k0, k1, k2], [b0, b1, b2]
    x = np.array([[int(v) for v in row] for row in rng.integers(-3, 4, size=(8, 2))], dtype=object)
    out, kink = ref_mlp(ks, bs, x, "relu")
    y = np.array(out, dtype=object)
    r = certify_mlp(ks, bs, x, y)
    assert r.level == "certified-exact" and r.residual == 0 and r.kink_distance == kink
    y2 = y.copy()
    y2[3, 0] = y2[3, 0] + Fraction(1, 10**30)
    r2 = certify_mlp(ks, bs, x, y2, tol=1e-29)
    assert r2.residual == Fraction(1, 10**30) and r2.level == "certified-bound"
    assert certify_mlp(ks, bs, x, y2, tol=1e-31).level == "failed"
    # float x with object weights
    xf = rng.normal(size=(5, 2))
    out_f, _ = ref_mlp(ks, bs, xf, "relu")
    assert (exact_outputs(ks, bs, xf) == np.array(out_f, dtype=object)).all()


# ----------------------------------------------------------------- residual networks

def ref_residual_net(params, x):
    w_in, b_in, U, s, V, R, c = params

    def aff(h, W, b):
        W = [[fr(v) for v in r] for r in np.asarray(W).tolist()]
        b = [fr(v) for v in np.asarray(b).tolist()]
        return [[sum((row[a] * W[a][j] for a in range(len(W))), Fraction(0)) + b[j] for j in range(len(b))]
                for row in h]

    h = aff([[fr(v) for v in r] for r in np.asarray(x).tolist()], w_in, b_in)
    kink = None
    for blk in range(np.shape(U)[0]):
        z = aff(h, U[blk], s[blk])
        d = min(abs(v) for r in z for v in r)
        kink = d if kink is None else min(kink, d)
        a = [[max(v, Fraction(0)) for v in r] for r in z]
        av = aff(a, V[blk], np.zeros(np.shape(V)[2]))
        h = [[p + q for p, q in zip(r1, r2)] for r1, r2 in zip(h, av)]
    return aff(h, R, c), kink


@pytest.mark.parametrize("seed", [0, 1])
def test_residual_kind(seed):
    rng = np.random.default_rng(seed)
    dx, D, nb, k, dy = 3, 4, 2, 3, 2
    params = (rng.normal(size=(dx, D)), rng.normal(size=D), rng.normal(size=(nb, D, k)), rng.normal(size=(nb, k)),
              rng.normal(size=(nb, k, D)), rng.normal(size=(D, dy)), rng.normal(size=dy))
    x = rng.normal(size=(11, dx))
    out, kink = ref_residual_net(params, x)
    y = as_floats(out)
    r = certify_residual(params, x, y)
    assert r.residual == ref_residual(out, y) and r.kink_distance == kink
    r0 = certify_residual(params, x, np.array(out, dtype=object))
    assert r0.level == "certified-exact"
    assert certify_residual(params, x, y, tol=float(r.residual) * 2).level == "certified-bound"
    assert certify_residual(params, x, y, chunk=2).residual == r.residual


# ----------------------------------------------------------------- rank-one sweep vs general path

def rank_one_net(rng, widths, on_kink_x=None):
    """A random ReLU net whose kernel_0 is exactly u ⊗ a (dyadic entries with few bits)."""
    dx, d1 = widths[0], widths[1]
    u = rng.integers(-7, 8, size=dx) / 4.0
    u[0] = 1.0
    a = rng.choice([-1.0, 1.0], size=d1) * 2.0 ** rng.integers(-3, 3, size=d1)  # dyadic kinks -b0/a
    k0 = np.outer(u, a)  # exact: few-bit products
    b0 = rng.integers(-16, 17, size=d1) / 8.0
    rest_k = [rng.normal(size=(p, q)) for p, q in zip(widths[1:-1], widths[2:])]
    rest_b = [rng.normal(size=q) for q in widths[2:]]
    return [k0] + rest_k, [b0] + rest_b, u, a, b0


@pytest.mark.parametrize("widths", [[3, 7, 5, 2], [2, 6, 4, 3, 1]])
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_path_equals_general_path(widths, seed):
    rng = np.random.default_rng(seed)
    ks, bs, u, a, b0 = rank_one_net(rng, widths)
    assert is_rank_one(ks[0])
    x = rng.normal(size=(40, widths[0]))
    # put some points exactly on first-layer kinks: u . x = -b0_j / a_j (u[0] = 1, dyadic kinks)
    for i, j in enumerate(range(0, widths[1], 2)):
        x[i, 1:] = rng.integers(-64, 65, size=widths[0] - 1) / 16.0  # few bits: u . x is exact in float64
        x[i, 0] = -b0[j] / a[j] - float(np.dot(u[1:], x[i, 1:]))
    x[20] = x[0]  # duplicate points
    out, kink = ref_mlp(ks, bs, x, "relu")
    assert kink == 0  # some points sit exactly on a kink
    y = as_floats(out)
    fast = certify_mlp(ks, bs, x, y, fast_path=True, chunk=7)
    gen = certify_mlp(ks, bs, x, y, fast_path=False, chunk=7)
    assert fast.method == "rank-one sweep" and gen.method.startswith("integer")
    assert fast.residual == gen.residual == ref_residual(out, y)
    assert fast.kink_distance == gen.kink_distance == kink
    assert (exact_outputs(ks, bs, x, fast_path=True) == np.array(out, dtype=object)).all()


def test_fast_path_on_layer2_root_and_kink_distance():
    # a point exactly on a layer-2 root: z2 = relu(t) - 1/2 = 0 at t = 1/2
    k0 = np.array([[1.0, -1.0]])
    b0 = np.array([0.0, 0.0])
    k1 = np.array([[1.0], [0.0]])
    b1 = np.array([-0.5])
    k2 = np.array([[3.0]])
    b2 = np.array([0.25])
    ks, bs = [k0, k1, k2], [b0, b1, b2]
    x = np.array([[-1.0], [0.25], [0.5], [0.75], [2.0]])
    out, kink = ref_mlp(ks, bs, x, "relu")
    y = as_floats(out)
    for fp in (True, False):
        r = certify_mlp(ks, bs, x, y, fast_path=fp)
        assert r.level == "certified-exact" and r.kink_distance == kink == 0


def test_rank_one_is_tested_exactly():
    rng = np.random.default_rng(0)
    u, a = rng.normal(size=4), rng.normal(size=6)
    k = np.outer(u, a)  # rounded products: generally NOT exactly rank one
    assert not is_rank_one(k)
    assert is_rank_one(np.outer(np.array([1.0, -2.0, 0.5]), np.array([0.25, 3.0])))
    ks = [k, rng.normal(size=(6, 3)), rng.normal(size=(3, 1))]
    bs = [np.zeros(6), np.zeros(3), np.zeros(1)]
    x = rng.normal(size=(3, 4))
    with pytest.raises(ValueError, match="rank-one"):
        certify_mlp(ks, bs, x, np.zeros((3, 1)), fast_path=True)
    assert certify_mlp(ks, bs, x, np.zeros((3, 1))).method.startswith("integer")


# ----------------------------------------------------------------- chunks, tol, inputs

@pytest.mark.parametrize("fast", [True, False])
def test_chunk_size_independence(fast):
    rng = np.random.default_rng(7)
    ks, bs, *_ = rank_one_net(rng, [3, 6, 4, 2])
    x = rng.normal(size=(23, 3))
    out, kink = ref_mlp(ks, bs, x, "relu")
    y = as_floats(out) + 1e-9
    rs = [certify_mlp(ks, bs, x, y, chunk=c, fast_path=fast) for c in (1, 5, 23, 1000)]
    assert all(r.residual == rs[0].residual == ref_residual(out, y) for r in rs)
    assert all(r.kink_distance == kink for r in rs)


def test_tol_reaches_every_path():
    rng = np.random.default_rng(11)
    ks, bs, *_ = rank_one_net(rng, [2, 5, 4, 1])
    x = rng.normal(size=(12, 2))
    out, _ = ref_mlp(ks, bs, x, "relu")
    y = as_floats(out)
    y[4, 0] += 2.0**-20
    exact = ref_residual(out, y)
    up = float(exact) if Fraction(float(exact)) >= exact else math.nextafter(float(exact), math.inf)
    for fast in (True, False):
        for filt in (True, False):
            kw = dict(fast_path=fast, float_filter=filt)
            assert certify_mlp(ks, bs, x, y, tol=up, **kw).level == "certified-bound"
            below = float(exact) * (1 - 2**-40)
            assert certify_mlp(ks, bs, x, y, tol=below, **kw).level == "failed"
            assert certify_mlp(ks, bs, x, y, tol=0.0, **kw).level == "failed"
    yq = np.array(out, dtype=object)
    assert certify_mlp(ks, bs, x, yq, tol=0.0).level == "certified-exact"
    with pytest.raises(ValueError, match="tol"):
        certify_mlp(ks, bs, x, y, tol=-1.0)
    with pytest.raises(ValueError, match="shape"):
        certify_mlp(ks, bs, x, y[:5])


def test_to_dyadic_roundtrip():
    a = np.array([0.1, -3.5e-300, 1e300, 0.0, 2.0**-1074])
    ints, k = to_dyadic(a)
    assert all(Fraction(int(i), 2**k) == Fraction(float(v)) for i, v in zip(ints, a))


def test_as_dict_and_progress():
    rng = np.random.default_rng(2)
    ks, bs = rand_mlp(rng, [2, 3, 1])
    x = rng.normal(size=(10, 2))
    calls = []
    r = certify_mlp(ks, bs, x, np.zeros((10, 1)), chunk=3, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (4, 4)
    assert certify_mlp(ks, bs, x, np.zeros((10, 1)), chunk=3, progress=True).residual == r.residual  # tqdm bar
    d = r.as_dict()
    assert Fraction(d["residual"]) == r.residual and d["method"] and d["peak_rss_bytes"] > 0


def test_float_overflow_does_not_mislead_the_exact_tier():
    # float64 products overflow to inf (1e200 * 1e200): the float hints are useless there, the exact
    # residual and kink distance must still be right
    rng = np.random.default_rng(9)
    ks = [rng.normal(size=(2, 3)) * 1e200, rng.normal(size=(3, 2)) * 1e200, rng.normal(size=(2, 1)) * 1e-300]
    bs = [rng.normal(size=3), rng.normal(size=2), rng.normal(size=1)]
    x = rng.normal(size=(6, 2))
    out, kink = ref_mlp(ks, bs, x, "relu")
    y = np.zeros((6, 1))
    with np.errstate(all="ignore"):
        r = certify_mlp(ks, bs, x, y, tol=1e300, float_filter=False)
    assert r.residual == ref_residual(out, y) and r.kink_distance == kink
    assert r.level == ("certified-bound" if r.residual <= Fraction(1e300) else "failed")


def test_int64_arrays_stay_exact():
    k0 = np.array([[2**60 + 1, -(2**58) - 3]], dtype=np.int64)  # not representable in float64
    ks, bs = [k0, np.array([[1], [1]], dtype=np.int64)], [np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.int64)]
    x = np.array([[1], [-1], [3]], dtype=np.int64)
    out, _ = ref_mlp([k.astype(object) for k in ks], [b.astype(object) for b in bs], x.astype(object), "relu")
    assert [[int(v) for v in r] for r in out] == [[2**60 + 1], [2**58 + 3], [3 * (2**60 + 1)]]
    r = certify_mlp(ks, bs, x, np.array(out, dtype=object))
    assert r.level == "certified-exact"
    r2 = certify_mlp(ks, bs, x, np.array(out, dtype=object) + 1)
    assert r2.residual == 1


@pytest.mark.parametrize("activation", ["relu", "hardtanh"])
def test_deep_exact_network_adapts_its_primes(activation):
    # object weights (no float hints): the primes per layer follow the exact maxima, residues are
    # extended through the digits when a layer needs more; deep enough for bounds to compound
    rng = np.random.default_rng(13)
    widths = [2] + [3] * 8 + [1]
    ks = [np.array([[int(v) * 2**40 for v in r] for r in rng.integers(-3, 4, size=(a, b))], dtype=object)
          for a, b in zip(widths[:-1], widths[1:])]
    bs = [np.array([Fraction(int(v), 2**40) for v in rng.integers(-5, 6, size=b)], dtype=object) for b in widths[1:]]
    x = rng.normal(size=(7, 2))
    out, kink = ref_mlp(ks, bs, x, activation)
    y = as_floats(out)
    r = certify_mlp(ks, bs, x, y, activation=activation, chunk=3)
    assert r.residual == ref_residual(out, y) and r.kink_distance == kink
    assert (exact_outputs(ks, bs, x, activation) == np.array(out, dtype=object)).all()


def test_residual_kind_exact_params():
    # object (exact) parameters: no float pass, signs from the digits
    rng = np.random.default_rng(4)
    dx, D, nb, k, dy = 2, 3, 2, 2, 1

    def q(shape):
        return np.array([Fraction(int(v), 3) for v in rng.integers(-4, 5, size=int(np.prod(shape)))],
                        dtype=object).reshape(shape)

    params = (q((dx, D)), q((D,)), q((nb, D, k)), q((nb, k)), q((nb, k, D)), q((D, dy)), q((dy,)))
    x = rng.integers(-3, 4, size=(6, dx)).astype(np.float64)
    out, kink = ref_residual_net(params, x)
    r = certify_residual(params, x, np.array(out, dtype=object))
    assert r.level == "certified-exact" and r.kink_distance == kink


def test_residual_kind_float_filter_tier():
    rng = np.random.default_rng(8)
    dx, D, nb, k, dy = 3, 4, 3, 2, 2
    params = (rng.normal(size=(dx, D)), rng.normal(size=D), rng.normal(size=(nb, D, k)), rng.normal(size=(nb, k)),
              rng.normal(size=(nb, k, D)), rng.normal(size=(D, dy)), rng.normal(size=dy))
    x = rng.normal(size=(20, dx))
    out, _ = ref_residual_net(params, x)
    y = as_floats(out)
    y[5, 1] += 1e-3
    exact = ref_residual(out, y)
    r = certify_residual(params, x, y, tol=1e-6)
    assert r.level == "failed" and r.tiers["exact"] >= 1 and r.tiers["float_filter"] >= 15
    assert r.residual == exact  # the failing point went to the exact tier
    r2 = certify_residual(params, x, y, tol=2e-3)
    assert r2.level == "certified-bound" and r2.tiers["float_filter"] + r2.tiers["exact"] == 20
    assert r2.exact_residual_float >= float(exact) and not (r2.tiers["exact"] == 0 and r2.residual_is_exact)
