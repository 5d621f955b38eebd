"""The float filter's a-posteriori bound against exact evaluation.

Soundness, tested entry by entry: |ẑ - z| <= e for every hidden pre-activation and
|f̂ - f| <= e_f at the output, and a point the filter certifies always has exact residual <= tol,
including networks built for catastrophic cancellation.
"""

from fractions import Fraction

import numpy as np
import pytest

from capacity.exact import certify_mlp
from capacity.exact._filter import FloatPass


def fr(v):
    return v if isinstance(v, Fraction) else Fraction(v)


def exact_layers(kernels, biases, x, activation):
    """Exact pre-activations of every layer (lists of rows of Fractions)."""
    h = [[fr(v) for v in row] for row in np.asarray(x).tolist()]
    zs = []
    for i, (k, b) in enumerate(zip(kernels, biases)):
        K = [[fr(v) for v in r] for r in np.asarray(k).tolist()]
        B = [fr(v) for v in np.asarray(b).tolist()]
        z = [[sum((row[a] * K[a][j] for a in range(len(K))), Fraction(0)) + B[j] for j in range(len(B))] for row in h]
        zs.append(z)
        if activation == "relu":
            h = [[max(v, Fraction(0)) for v in r] for r in z]
        else:
            h = [[min(max(v, Fraction(-1)), Fraction(1)) for v in r] for r in z]
    return zs


def cancellation_net(rng, big=2.0**40):
    """Layer 2 subtracts two huge, nearly equal sums: the float output loses ~40 bits."""
    k0 = np.concatenate([rng.normal(size=(3, 4)), rng.normal(size=(3, 4))], axis=1)
    k0[:, 4:] = k0[:, :4] + rng.normal(size=(3, 4)) * 2.0**-30
    b0 = np.concatenate([np.full(4, 5.0), np.full(4, 5.0)])
    k1 = np.concatenate([np.full((4, 3), big), np.full((4, 3), -big)], axis=0)
    k1 = k1 * (1 + rng.normal(size=(8, 3)) * 2.0**-45)
    b1 = rng.normal(size=3)
    k2 = rng.normal(size=(3, 2))
    b2 = rng.normal(size=2)
    return [k0, k1, k2], [b0, b1, b2]


def check_bounds(ks, bs, x, activation):
    fp = FloatPass(ks, bs, x, activation)
    zs = exact_layers(ks, bs, x, activation)
    for li in range(len(ks) - 1):
        for i in range(x.shape[0]):
            for j in range(ks[li].shape[1]):
                assert abs(Fraction(float(fp.z[li][i, j])) - zs[li][i][j]) <= Fraction(float(fp.e[li][i, j]))
    for i in range(x.shape[0]):
        for o in range(ks[-1].shape[1]):
            assert abs(Fraction(float(fp.out[i, o])) - zs[-1][i][o]) <= Fraction(float(fp.e_out[i, o]))
    return fp, zs


@pytest.mark.parametrize("activation", ["relu", "hardtanh"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_holds_entrywise(activation, seed):
    rng = np.random.default_rng(seed)
    ks = [rng.normal(size=(3, 6)) * 3, rng.normal(size=(6, 5)), rng.normal(size=(5, 2))]
    bs = [rng.normal(size=6), rng.normal(size=5) * 0.1, rng.normal(size=2)]
    x = rng.normal(size=(15, 3))
    check_bounds(ks, bs, x, activation)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bound_holds_under_cancellation(seed):
    rng = np.random.default_rng(seed)
    ks, bs = cancellation_net(rng)
    x = rng.normal(size=(12, 3)) * 0.1
    fp, zs = check_bounds(ks, bs, x, "relu")
    # the cancellation is real: the float output is visibly wrong at some point ...
    err = max(abs(Fraction(float(fp.out[i, o])) - zs[-1][i][o]) for i in range(12) for o in range(2))
    assert err > Fraction(2.0**-30)
    # ... and the filter never certifies a point whose exact residual exceeds tol
    y = fp.out.copy()  # the float outputs as targets: exact residuals are the float errors
    for tol in (float(err) / 4, float(err), 1e-3, 1e3):
        r = certify_mlp(ks, bs, x, y, tol=tol)
        rb = fp.residual_bound(y)
        for i in range(12):
            exact_i = max(abs(zs[-1][i][o] - Fraction(float(y[i, o]))) for o in range(2))
            assert Fraction(float(rb[i])) >= exact_i
            if rb[i] <= tol:
                assert exact_i <= Fraction(tol)
        worst = max(abs(zs[-1][i][o] - Fraction(float(y[i, o]))) for i in range(12) for o in range(2))
        assert r.level == ("failed" if worst > Fraction(tol) else "certified-bound")
        assert r.tiers["float_filter"] + r.tiers["exact"] == 12


def test_filter_tiers_and_levels():
    rng = np.random.default_rng(4)
    ks = [rng.normal(size=(4, 10)), rng.normal(size=(10, 10)), rng.normal(size=(10, 1))]
    bs = [rng.normal(size=10), rng.normal(size=10), rng.normal(size=1)]
    x = rng.normal(size=(50, 4))
    fp = FloatPass(ks, bs, x, "relu")
    y = fp.out.copy()
    y[7, 0] += 1e-3  # one point off by 1e-3: the filter cannot certify it at tol 1e-6
    r = certify_mlp(ks, bs, x, y, tol=1e-6)
    assert r.level == "failed" and r.tiers["exact"] >= 1 and r.tiers["float_filter"] >= 40
    assert r.residual > Fraction(1e-6) and not r.residual_is_exact and r.kink_distance is None
    r2 = certify_mlp(ks, bs, x, y, tol=1e-2)
    assert r2.level == "certified-bound" and r2.tiers["float_filter"] == 50
    assert r2.exact_residual.startswith("<=") and r2.exact_residual_float <= 1e-2
    r3 = certify_mlp(ks, bs, x, y, tol=1e-2, float_filter=False)
    assert r3.level == "certified-bound" and r3.tiers["exact"] == 50 and r3.residual_is_exact
    assert r3.residual <= Fraction(r2.exact_residual_float)
    assert r2.min_abs_preactivation <= float(r3.kink_distance)


@pytest.mark.parametrize("seed", [0, 1])
def test_residual_bound_holds_entrywise(seed):
    from capacity.exact._filter import ResidualFloatPass

    rng = np.random.default_rng(seed)
    dx, D, nb, k, dy = 3, 4, 3, 2, 2
    params = (rng.normal(size=(dx, D)), rng.normal(size=D), rng.normal(size=(nb, D, k)) * 4,
              rng.normal(size=(nb, k)), rng.normal(size=(nb, k, D)) * 4, rng.normal(size=(D, dy)), rng.normal(size=dy))
    x = rng.normal(size=(9, dx))
    fp = ResidualFloatPass(params, x)

    def aff(h, W, b):
        W, b = np.asarray(W).tolist(), np.asarray(b).tolist()
        return [[sum((row[a] * fr(W[a][j]) for a in range(len(W))), Fraction(0)) + fr(b[j]) for j in range(len(b))]
                for row in h]

    h = aff([[fr(v) for v in r] for r in x.tolist()], params[0], params[1])
    for blk in range(nb):
        z = aff(h, params[2][blk], params[3][blk])
        for i in range(9):
            for j in range(k):
                assert abs(Fraction(float(fp.z[blk][i, j])) - z[i][j]) <= Fraction(float(fp.e[blk][i, j]))
        a = [[max(v, Fraction(0)) for v in r] for r in z]
        av = aff(a, params[4][blk], np.zeros(D))
        h = [[p + q for p, q in zip(r1, r2)] for r1, r2 in zip(h, av)]
    f = aff(h, params[5], params[6])
    for i in range(9):
        for o in range(dy):
            assert abs(Fraction(float(fp.out[i, o])) - f[i][o]) <= Fraction(float(fp.e_out[i, o]))
