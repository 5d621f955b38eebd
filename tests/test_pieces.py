"""Linear-piece enumeration on a line, the piece bounds, and the impossibility certificate."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.networks import MLPNet, save_net
from theory import bounds
from capacity.experiments.necessity import random_piece_stats, train_alternating, trained_pieces
from capacity.pieces import count_pieces, impossibility_certificate, pieces_batched

U = 2.0 ** -53


def random_net(rng, sizes, bias_scale=1.0):
    ks = [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(b) * bias_scale for b in sizes[1:]]
    return ks, bs


def forward_with_scale(ks, bs, x):
    """f(x) and the a-priori magnitude |x||W| + |b| ... that bounds its rounding error (gamma_k times it)."""
    h, s = x, np.abs(x)
    for i, (w, b) in enumerate(zip(ks, bs)):
        h, s = h @ w + b, s @ np.abs(w) + np.abs(b)
        if i < len(ks) - 1:
            h, s = np.maximum(h, 0), s
    return h[:, 0], s[:, 0]


def sampled_kink_clusters(ks, bs, x0, d, lo, hi, m):
    """Brute force: grid cells where the second finite difference exceeds its rounding noise."""
    s = np.linspace(lo, hi, m)
    f, scale = forward_with_scale(ks, bs, x0[None, :] + s[:, None] * d[None, :])
    k = sum(w.shape[0] + 2 for w in ks)
    noise = 4 * (k * U / (1 - k * U)) * scale.max()
    d2 = np.abs(f[2:] - 2 * f[1:-1] + f[:-2])
    hot = np.flatnonzero(d2 > 8 * noise) + 1  # kink strictly inside (s[i-1], s[i+1])
    clusters = np.split(hot, np.flatnonzero(np.diff(hot) > 1) + 1) if hot.size else []
    return s, [(s[c[0] - 1], s[c[-1] + 1]) for c in clusters], noise


def test_breakpoints_match_dense_sampling():
    """Exact kinks = clusters of nonzero second differences on a fine grid, one to one."""
    rng = np.random.default_rng(1)
    lo, hi, m = -3.0, 3.0, 60001
    h = (hi - lo) / (m - 1)
    checked = 0
    for _ in range(12):
        sizes = [2, int(rng.integers(1, 6)), int(rng.integers(1, 6)), 1]
        ks, bs = random_net(rng, sizes)
        x0, d = rng.standard_normal(2), rng.standard_normal(2)
        ex = count_pieces((ks, bs), x0, d, interval=(lo, hi), exact=True)
        kinks = np.array([float(t) for t in ex.kinks])
        jumps = np.abs(np.diff(ex.slopes[:, 0]))
        s, clusters, noise = sampled_kink_clusters(ks, bs, x0, d, lo, hi, m)
        # only nets whose kinks are resolvable by this grid: separated, and slope jumps above the noise
        inner = kinks[(kinks > lo + 3 * h) & (kinks < hi - 3 * h)]
        if (kinks.size > 1 and np.diff(kinks).min() < 6 * h) or (jumps[jumps > 0].size and
                                                                  jumps[jumps > 0].min() * h / 2 < 40 * noise):
            continue
        checked += 1
        assert len(clusters) == inner.size, (clusters, inner)
        for (a, b), t in zip(clusters, inner):
            assert a < t < b
    assert checked >= 6


def test_float_mode_agrees_with_exact_mode():
    rng = np.random.default_rng(2)
    for _ in range(10):
        sizes = [3, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 3))]
        ks, bs = random_net(rng, sizes)
        x0, d = rng.standard_normal(3), rng.standard_normal(3)
        ex = count_pieces((ks, bs), x0, d, exact=True)
        fl = count_pieces((ks, bs), x0, d)
        assert (ex.raw_pieces, ex.pieces) == (fl.raw_pieces, fl.pieces)
        k = sum(sizes) + 2 * len(sizes)
        for a, b in zip(ex.breakpoints, fl.breakpoints):
            assert abs(float(a) - b) <= 1e3 * k * U * max(1.0, abs(b))
        assert np.allclose(ex.slopes, fl.slopes, rtol=1e3 * k * U, atol=1e3 * k * U)


@given(d1=st.integers(1, 7), d2=st.integers(1, 7), dx=st.integers(1, 3), seed=st.integers(0, 2**31 - 1),
       bias_scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_piece_bound_holds_on_random_nets(d1, d2, dx, seed, bias_scale):
    st_ = random_piece_stats(d1, d2, nets=16, dx=dx, seed=seed, bias_scale=bias_scale)
    assert st_["max_raw"] <= bounds.sharper_piece_bound(d1, d2) <= bounds.yun3_max_pieces(d1, d2)
    rng = np.random.default_rng(seed)
    ks = [rng.standard_normal((16, dx, d1)), rng.standard_normal((16, d1, 1))]
    bs = [rng.standard_normal((16, d1)) * bias_scale, rng.standard_normal((16, 1))]
    one = pieces_batched(ks, bs, np.zeros(dx), rng.standard_normal(dx))
    assert max(r.raw_pieces for r in one) <= bounds.two_layer_max_pieces(d1)


def test_one_layer_bound_is_attained_and_counts_can_exceed_it():
    """d1 kinks at 1..d1 with nonzero output weights: exactly d1 + 1 pieces (the bound is tight)."""
    d1 = 6
    ks = [np.ones((1, d1)), np.array([[1.0, -2.0, 3.0, -1.0, 2.0, -3.0]]).T]
    bs = [-np.arange(1.0, d1 + 1), np.zeros(1)]
    for exact in (False, True):
        r = count_pieces((ks, bs), np.zeros(1), np.ones(1), exact=exact)
        assert r.pieces == d1 + 1 == r.bound
        assert [float(t) for t in r.kinks] == list(range(1, d1 + 1))


def test_merging_removes_cancelled_kinks():
    """relu(s) - relu(s) + relu(s - 1): raw breakpoints {0, 1}, but f has a single kink at 1."""
    ks = [np.array([[1.0, 1.0, 1.0]]), np.array([[1.0], [-1.0], [1.0]])]
    bs = [np.array([0.0, 0.0, -1.0]), np.zeros(1)]
    for exact in (False, True):
        r = count_pieces((ks, bs), np.zeros(1), np.ones(1), exact=exact)
        assert r.raw_pieces == 3 and r.pieces == 2 and [float(t) for t in r.kinks] == [1.0]


def test_hardtanh_and_interval():
    net = MLPNet([np.ones((1, 1)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)], "hardtanh")
    assert [float(t) for t in count_pieces(net, exact=True).kinks] == [-1.0, 1.0]
    assert count_pieces(net, interval=(0.0, 5.0)).pieces == 2


@pytest.mark.parametrize("d1,d2", [(1, 1), (2, 3), (4, 4), (5, 2)])
def test_certificate_at_the_exact_boundary(d1, d2):
    t = 2 * d1 * d2 + d2 + 2
    yes = impossibility_certificate(d1, d2, t + 1)  # 2 d1 d2 + d2 + 2 = N - 1
    no = impossibility_certificate(d1, d2, t)  # = N
    assert yes.applies and "CERTIFIED" in yes.lines[-1]
    assert not no.applies and "does NOT apply" in "\n".join(no.lines) and "may or may not" in "\n".join(no.lines)
    assert impossibility_certificate(d1, None, d1 + 3).applies
    assert not impossibility_certificate(d1, None, d1 + 2).applies


def test_certificate_4_4_40_and_trained_nets_obey_it():
    cert = impossibility_certificate(4, 4, 40)
    assert cert.applies and any("37 < 39" in line for line in cert.lines)
    # below the line every network has max residual >= 1 (step 5); training cannot beat it
    r = train_alternating((1, 3), 12, seeds=2, steps=300)  # 2*3 + 3 + 2 = 11 < 12
    assert impossibility_certificate(1, 3, 12).applies
    assert r.residuals.min() >= 1 - 1e3 * U
    whole, data = trained_pieces(r)
    assert whole.max() <= bounds.yun3_max_pieces(1, 3) and data.max() <= whole.max()


def test_yun3_construction_on_alternating_data_has_enough_pieces():
    from capacity.constructions import names

    if "yun3" not in names():
        pytest.skip("yun3 construction not registered in this checkout")
    from capacity.constructions import build
    from capacity.data import make_dataset

    n = 16
    i = np.arange(1, n + 1, dtype=np.float64)
    c = build("yun3", make_dataset(i[:, None], 0.9 * (-1.0) ** i[:, None]), [8, 8])
    r = count_pieces((c.kernels, c.biases), np.zeros(1), np.ones(1), exact=True)
    assert n - 1 <= r.pieces <= bounds.yun3_max_pieces(8, 8)


# ------------------------------------------------------------------------------- CLI




def test_cli_lower_bound(run_cli):
    code, out, _ = run_cli("lower-bound", "--widths", "4,4", "--n", "40")
    assert code == 0 and "CERTIFIED" in out and "38 < N = 40" in out
    code, out, _ = run_cli("lower-bound", "--widths", "4,4", "--n", "38")
    assert code == 1 and "does NOT apply" in out
    code, _, err = run_cli("lower-bound", "--widths", "4,4,4", "--n", "38")
    assert code == 2 and "D1,D2" in err


def test_cli_pieces(run_cli, tmp_path):
    rng = np.random.default_rng(3)
    ks, bs = random_net(rng, [2, 4, 3, 1])
    path = tmp_path / "NET.npz"
    save_net(path, MLPNet(ks, bs))
    code, out, _ = run_cli("pieces", "--net", str(path), "--direction", "1,0.5", "--json")
    rec = json.loads(out)
    ref = count_pieces((ks, bs), np.zeros(2), np.array([1.0, 0.5]), exact=True)
    assert code == 0 and rec["pieces"] == ref.pieces and rec["bound"] == bounds.yun3_max_pieces(4, 3)
    code, out, _ = run_cli("pieces", "--net", str(path), "--exact")
    assert code == 0 and "linear pieces after merging" in out and "exact rationals" in out
    code, _, err = run_cli("pieces", "--net", str(path), "--direction", "1,2,3")
    assert code == 2 and "--direction needs 2" in err
