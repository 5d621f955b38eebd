"""Networks: the NNX module, the NET.npz reader/writer, the forward pass and its rigorous bounded twin."""

from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from netutil import numpy_forward, random_net

from capacity import exact
from capacity.errors import DataFileError
from capacity.networks import MLP, MLPNet, load_net, mlp_forward_bounded, save_net


@pytest.mark.parametrize("act", ["relu", "hardtanh"])
def test_module_matches_numpy_and_is_float64(act):
    ks, bs = random_net(0, (3, 7, 5, 2))
    net = MLP(ks, bs, act)
    x = np.random.default_rng(1).standard_normal((11, 3))
    out = net(jnp.asarray(x))
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(out), numpy_forward(ks, bs, x, act), rtol=1e-13, atol=1e-13)


def test_module_trains_with_optax_as_is():
    net = MLP.random((2, 8, 1), rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((16, 2)))
    y = jnp.sin(x[:, :1])

    def loss(m):
        return jnp.mean((m(x) - y) ** 2)

    l0 = float(loss(net))
    for _ in range(20):
        g = nnx.grad(loss)(net)
        opt.update(net, g)
    assert float(loss(net)) < l0


def test_net_npz_roundtrip_and_errors(tmp_path):
    ks, bs = random_net(2, (4, 6, 3))
    p = tmp_path / "n.npz"
    save_net(p, MLPNet(ks, bs, "relu", {"construction": "test"}))
    back = load_net(p)
    assert back.meta["construction"] == "test" and "versions" in back.meta
    for a, b in zip(back.kernels + back.biases, ks + bs):
        np.testing.assert_array_equal(a, b)
    f = np.load(p)  # the README's three-line NumPy loader works on it
    L = sum(k.startswith("kernel_") for k in f.files)
    assert L == 2
    np.savez(tmp_path / "broken.npz", kernel_0=np.zeros((2, 3)), bias_0=np.zeros(3), kernel_1=np.zeros((4, 1)),
             bias_1=np.zeros(1))
    with pytest.raises(DataFileError, match="expects 4 inputs"):
        load_net(tmp_path / "broken.npz")


@pytest.mark.parametrize("act", ["relu", "hardtanh"])
def test_a_priori_bound_covers_the_exact_error(act):
    """|f̂(x) - f(x)| <= bound, with f evaluated exactly in rationals (a test that can fail)."""
    ks, bs = random_net(3, (5, 30, 30, 2), scale=10.0)
    x = np.random.default_rng(4).standard_normal((40, 5)) * 100
    out, bound, _, _ = mlp_forward_bounded([jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs], jnp.asarray(x), act)
    rows = exact.exact_outputs(ks, bs, x, act)
    err = np.array([[float(abs(Fraction(float(o)) - Fraction(e))) for o, e in zip(orow, erow)]
                    for orow, erow in zip(np.asarray(out), rows)])
    assert np.all(err <= np.asarray(bound))
    assert np.max(err) > 0  # the check is not vacuous: rounding did happen
    assert np.max(np.asarray(bound)) < 1e-8 * np.max(np.abs(np.asarray(out)))  # and the bound is not absurd


def test_kink_margin_and_chunking_match_brute_force():
    ks, bs = random_net(5, (3, 9, 4, 1))
    x = np.random.default_rng(6).standard_normal((37, 3))
    args = ([jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs], jnp.asarray(x))
    o1, b1, m1, _ = mlp_forward_bounded(*args, chunk=5)
    o2, b2, m2, _ = mlp_forward_bounded(*args, chunk=4096)
    # XLA may sum in another order for another chunk shape, so outputs agree within the two
    # rigorous bounds (both enclose the same exact value), not bitwise
    assert np.all(np.abs(np.asarray(o1) - np.asarray(o2)) <= np.asarray(b1) + np.asarray(b2))
    np.testing.assert_allclose(np.asarray(m1), np.asarray(m2), rtol=1e-12)
    z1 = x @ ks[0] + bs[0]
    z2 = np.maximum(z1, 0) @ ks[1] + bs[1]
    brute = np.minimum(np.abs(z1).min(1), np.abs(z2).min(1))
    np.testing.assert_allclose(np.asarray(m1), brute, rtol=1e-12)


def test_residual_network_as_mlp_is_the_same_function_exactly():
    """The MLP form of a residual network (used by piece counting) equals it in exact arithmetic."""
    from flax import nnx

    from capacity import exact
    from capacity.networks import ResidualNet, ResNet

    net = ResidualNet(ResNet.random(3, 4, 3, 5, 2, rngs=nnx.Rngs(7)).arrays())
    mlp = net.as_mlp()
    x = np.random.default_rng(3).standard_normal((25, 3))
    rows_mlp = exact.exact_outputs(mlp.kernels, mlp.biases, x)
    y = np.asarray(net.apply(x))
    res = exact.certify_residual(net.params, x, y, tol=0.0)  # the residual net's exact outputs vs its float ones
    ref = exact.certify_mlp(mlp.kernels, mlp.biases, x, y, tol=0.0)
    assert ref.residual == res.residual > 0  # same exact function: the same exact rational distance to y
    y_exact = np.array(rows_mlp, dtype=object)  # and the MLP form's exact outputs fit the residual net exactly
    assert exact.certify_residual(net.params, x, y_exact, tol=0.0).level == "certified-exact"


def test_chunks_are_equal_so_little_is_padded():
    """N = 10,000 with chunk 4096: three chunks of 3334 rows (2 padded), not 12,288 rows; results equal the
    one-chunk pass within their rigorous bounds."""
    import jax

    from capacity.networks import map_chunks

    seen = []

    def f(xc):
        seen.append(xc.shape[0])
        return (xc * 2.0,)

    x = jnp.arange(10_000.0)[:, None]
    (out,) = jax.jit(lambda v: map_chunks(f, v, 4096))(x)
    assert seen == [3334] and out.shape == (10_000, 1) and float(out[-1, 0]) == 2 * 9999.0
