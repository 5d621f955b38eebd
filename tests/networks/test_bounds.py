"""The two-matmul rounding bound of the bounded passes against exact rational evaluation.

Every check compares |f̂ - f| (f the stored weights in exact arithmetic, capacity.exact) with the
bound; the nets include adversarial cancellation (large weights whose products cancel), hard-tanh
saturation, and subnormal weights and inputs (which XLA on CPU reads as zero).
"""

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from netutil import random_net

from capacity import exact
from capacity.networks import ResidualNet, ResNet, mlp_apply, mlp_forward_bounded
from capacity.networks._rounding import HIGHEST, add_bias, gamma, unit_roundoff

U = unit_roundoff(np.float64)
TINY = float(np.finfo(np.float64).tiny)


def exact_error(out, rows):
    """|out - f| exactly, rounded up to a float (so a bound below it really is too small)."""
    err = np.empty(np.shape(out))
    for idx, e in np.ndenumerate(np.asarray(rows, dtype=object)):
        d = abs(Fraction(float(np.asarray(out)[idx])) - Fraction(e))
        f = float(d)
        err[idx] = f if Fraction(f) >= d else math.nextafter(f, math.inf)
    return err


def truncations(ks, bs):
    """The nets made of the first l layers (l = 1..L): their outputs are the hidden pre-activations."""
    return [(ks[:l], bs[:l]) for l in range(1, len(ks) + 1)]


def cancellation_net(seed, width=12, depth=3, big=1e8):
    """Input (t, t + δ) against first-layer columns ≈ big·(1, -1): pre-activations of size big·δ from
    products of size big·|t|, so the rounding error is ~ u·big·|t| >> u·|z|; deeper layers cancel
    pairs of large weights again (columns (c, -c) with c ~ big / 1e4)."""
    rng = np.random.default_rng(seed)
    w0 = np.stack([np.full(width, 1.0), -np.ones(width)]) * big * (1 + rng.random(width))
    ks, bs = [w0 + rng.standard_normal((2, width))], [rng.standard_normal(width)]
    for _ in range(depth - 2):
        c = rng.standard_normal((width // 2, width)) * big / 1e4
        ks.append(np.concatenate([c, -c + rng.standard_normal(c.shape)]))
        bs.append(rng.standard_normal(width))
    ks.append(rng.standard_normal((width, 2)))
    bs.append(rng.standard_normal(2))
    t = rng.standard_normal(30) * 100
    x = np.stack([t, t + rng.standard_normal(30) * 1e-7], axis=1)
    return ks, bs, x


def bounded(ks, bs, x, act, chunk=4096):
    return [np.asarray(a) for a in mlp_forward_bounded([jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs],
                                                        jnp.asarray(x), act, chunk)]


@pytest.mark.parametrize("act", ["relu", "hardtanh"])
@pytest.mark.parametrize("case", ["random", "cancellation"])
def test_bound_covers_exact_error_at_every_layer(act, case):
    if case == "random":
        ks, bs = random_net(11, (4, 16, 16, 3), scale=3.0)
        x = np.random.default_rng(12).standard_normal((30, 4)) * 10
    else:
        ks, bs, x = cancellation_net(13)
    worst = 0.0
    for tk, tb in truncations(ks, bs):  # the last layer of a truncation is a hidden pre-activation of the net
        out, bound, _, _ = bounded(tk, tb, x, act)
        err = exact_error(out, exact.exact_outputs(tk, tb, x, act))
        assert np.all(err <= bound), f"{len(tk)} layers: bound below the exact error"
        worst = max(worst, float(np.max(err / bound)))
    assert worst > 0  # rounding did happen, so the check is not vacuous


@pytest.mark.parametrize("act", ["relu", "hardtanh"])
def test_cancellation_error_is_far_above_the_output_scale_yet_covered(act):
    """The adversarial net: the exact error is many ulps of the output (cancellation), and covered."""
    ks, bs, x = cancellation_net(14)
    out, bound, _, _ = bounded(ks[:1], bs[:1], x, act)
    err = exact_error(out, exact.exact_outputs(ks[:1], bs[:1], x, act))
    assert np.max(err / np.maximum(np.spacing(np.abs(out)), TINY)) > 1e3  # truly adversarial
    assert np.all(err <= bound)


def kink_net(seed, act, width=16, n=40, big=1e8):
    """A first layer whose every unit sits, at one of the points, within its rounding error of a kink
    (0 for ReLU, 1 for hard-tanh): the bias cancels the computed product up to s ~ 1e-7, while the
    products (~1e10) carry a rounding error ~1e-6, so the computed and exact sides of the kink often
    differ.  The second layer reads each unit alone with weight 1e3, so an error dropped at a kink
    would show at the output."""
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(n) * 100
    x = np.stack([t, t + rng.standard_normal(n) * 1e-7], axis=1)
    w0 = np.stack([np.ones(width), -np.ones(width)]) * big * (1 + rng.random(width))
    pick = rng.integers(n, size=width)
    b0 = -(x @ w0)[pick, np.arange(width)] + (0.0 if act == "relu" else 1.0) + rng.standard_normal(width) * 1e-7
    return [w0, np.eye(width) * 1e3], [b0, np.zeros(width)], x


@pytest.mark.parametrize("act", ["relu", "hardtanh"])
def test_units_whose_computed_side_of_the_kink_is_wrong_keep_their_error(act):
    """Claim 3: a unit's error is dropped only where ẑ is past the kink by more than its bound; at points
    where the computed pre-activation is on the flat side but the exact one is not, the error stays."""
    ks, bs, x = kink_net(61, act)
    z, zb, _, _ = bounded(ks[:1], bs[:1], x, act)
    exact_z = exact.exact_outputs(ks[:1], bs[:1], x, act)
    kink = 0.0 if act == "relu" else 1.0
    wrong_side = sum(1 for i, j in np.ndindex(z.shape) if (z[i, j] < kink) != (Fraction(exact_z[i, j]) < kink))
    assert wrong_side > 0  # the situation under test does occur
    out, bound, _, _ = bounded(ks, bs, x, act)
    err = exact_error(out, exact.exact_outputs(ks, bs, x, act))
    assert np.all(err <= bound) and np.max(err) > 1e-5


def test_subnormal_weights_and_inputs_are_covered():
    """XLA on CPU reads subnormals as zero (DAZ): x = 1e-310 times a weight 1e300 contributes 1e-10 to the
    exact output but 0 on the device; a weight 1e-310 times 1e10 likewise.  The bound covers both."""
    ks = [np.array([[1e300, 1.0], [1e-310, 2.0]]), np.array([[1.0], [1.0]])]
    bs = [np.zeros(2), np.zeros(1)]
    x = np.array([[1e-310, 1e10], [3e-312, -1e10], [1.0, 1.0]])
    for tk, tb in truncations(ks, bs):
        out, bound, _, _ = bounded(tk, tb, x, "relu")
        err = exact_error(out, exact.exact_outputs(tk, tb, x, "relu"))
        assert np.all(err <= bound)
    assert np.max(err) > 1e-11  # the device really did drop the subnormal products


def old_three_matmul_bound(ks, bs, x, act):
    """The previous a-priori pass (main before this change): e|W| + γ_{n+1}(|ĥ||W| + |b|) from three
    matmuls, inflated by 1 + 2γ_{n+3} plus (n + 2)τ, passed through the activation unchanged."""
    h, e = jnp.asarray(x), jnp.zeros_like(jnp.asarray(x))
    act_fn = jax.nn.relu if act == "relu" else (lambda t: jnp.clip(t, -1.0, 1.0))
    for i, (w, b) in enumerate(zip(ks, bs)):
        n = w.shape[0]
        aw = jnp.abs(w)
        z = add_bias(jnp.matmul(h, w, precision=HIGHEST), b)
        scale = add_bias(jnp.matmul(jnp.abs(h), aw, precision=HIGHEST), jnp.abs(b))
        prop = jnp.matmul(e, aw, precision=HIGHEST)
        e = (prop + gamma(n + 1, U) * scale) * (1.0 + 2.0 * gamma(n + 3, U)) + (n + 2) * TINY
        h = act_fn(z) if i < len(ks) - 1 else z
    return np.asarray(e)


@pytest.mark.parametrize("act", ["relu", "hardtanh"])
def test_new_bound_is_never_looser_than_the_old_beyond_its_rounding(act):
    """new <= old · Π_l (1 + 4γ_{n_l+5}) + 2^-900: both bound the same quantity e|W| + γ(|ĥ||W| + |b|); they
    differ by the O(n u) rounding of the bound itself (the new κ is 1 + 2γ_{n+5}, the old 1 + 2γ_{n+3}) and
    by the absolute guards (each below (4 c + 5 n + 10)·2^-1022), and the new one zeroes the error of units
    certainly on a flat piece, so it is usually tighter."""
    ks, bs = random_net(21, (6, 40, 40, 40, 2), scale=1.0)
    bs = [b - 0.5 for b in bs]  # plenty of units off (ReLU) or saturated
    x = np.random.default_rng(22).standard_normal((200, 6)) * 3
    _, new, _, _ = bounded(ks, bs, x, act)
    old = old_three_matmul_bound(ks, bs, x, act)
    factor = math.prod(1.0 + 4.0 * gamma(k.shape[0] + 5, U) for k in ks)
    assert np.all(new <= old * factor + 2.0**-900)
    assert np.median(new / old) < 0.9  # the flat-piece rule pays off on this net


def test_outputs_are_bitwise_those_of_mlp_apply():
    """The bounded pass computes its outputs with the same operations as mlp_apply (one dot, one bias add
    per layer), for every chunking (measured on XLA CPU, as before this change)."""
    ks, bs = random_net(31, (16, 90, 90, 1))
    x = jnp.asarray(np.random.default_rng(32).standard_normal((700, 16)))
    jk, jb = [jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs]
    ref = np.asarray(jax.jit(mlp_apply)(jk, jb, x))
    for chunk in (50, 256, 4096):
        np.testing.assert_array_equal(np.asarray(mlp_forward_bounded(jk, jb, x, "relu", chunk)[0]), ref)


def test_relative_margin_is_faithful_at_the_input_layer_and_never_larger_deeper():
    """rel_margin = distance / S with S >= |ĥ||W| + |b|: at a one-hidden-layer net (e = 0 there) S is that
    scale times κ(1 + 8u) up to rounding; deeper it is never larger than distance / (|ĥ||W| + |b|)."""
    ks, bs = random_net(41, (5, 20, 20, 1))
    x = np.random.default_rng(42).standard_normal((50, 5))
    z1 = x @ ks[0] + bs[0]
    s1 = np.abs(x) @ np.abs(ks[0]) + np.abs(bs[0])
    h1 = np.maximum(z1, 0)
    z2 = h1 @ ks[1] + bs[1]
    s2 = h1 @ np.abs(ks[1]) + np.abs(bs[1])
    ref1 = np.min(np.abs(z1) / s1, axis=1)
    ref = np.minimum(ref1, np.min(np.abs(z2) / s2, axis=1))
    slack = 1.0 + 2.0 * gamma(20 + 3, U)  # NumPy's own rounding of the reference scales
    _, _, _, rel1 = bounded([ks[0], ks[2]], [bs[0], bs[2]], x, "relu")
    np.testing.assert_allclose(rel1, ref1, rtol=4.0 * gamma(5 + 5, U) + 16 * U)
    _, _, _, rel = bounded(ks, bs, x, "relu")
    assert np.all(rel <= ref * slack)


@pytest.mark.parametrize("dominant", ["stream", "branch"])
def test_residual_bound_covers_exact_error_with_cancellation(dominant):
    """The residual twin against the exact outputs of its MLP form (the same function exactly).  The input
    map cancels (x = (t, t + δ) against columns ≈ 1e8 (1, -1)), so the stream starts with an error far
    above its rounding; with small branch outputs V that error must be carried along the stream, with
    large U and V it must be carried through the branches: both paths of the update bound are needed."""
    from capacity.networks import ResidualParams

    rng = np.random.default_rng(53)
    d, nb, k = 4, 2, 3
    w_in = np.stack([np.ones(d), -np.ones(d)]) * 1e8 * (1 + rng.random(d))
    su, sv = (1.0, 1e-3) if dominant == "stream" else (10.0, 10.0)
    p = ResidualParams(w_in, rng.standard_normal(d), rng.standard_normal((nb, d, k)) * su, rng.standard_normal((nb, k)),
                       rng.standard_normal((nb, k, d)) * sv, rng.standard_normal((d, 1)), rng.standard_normal(1))
    t = rng.standard_normal(30) * 100
    x = np.stack([t, t + rng.standard_normal(30) * 1e-7], axis=1)
    net = ResidualNet(p)
    out, bound, _, _ = (np.asarray(a) for a in net.forward_bounded(x))
    mlp = net.as_mlp()
    err = exact_error(out, exact.exact_outputs(mlp.kernels, mlp.biases, x))
    assert np.all(err <= bound) and np.max(err) > 1e-8
