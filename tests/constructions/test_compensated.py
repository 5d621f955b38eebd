"""Compensated rounding of layer 2 (capacity.constructions._compensated): error-free transforms,
the accurate projection, and the claim that only the last weight's rounding survives at an owned point."""

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity import constructions, data
from capacity.constructions import _block1d, _compensated as C
from capacity.exact import exact_outputs
from theory.bounds import yun3_smallest_widths

U = 2.0 ** -53
finite = st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(a=finite, b=finite)
def test_two_sum_and_two_prod_are_error_free(a, b):
    s, e = C.two_sum(np.float64(a), np.float64(b))
    assert F(s) + F(e) == F(a) + F(b)
    if a == 0 or b == 0 or 1e-250 < abs(F(a) * F(b)) < 1e290:  # Dekker's split: no overflow, no underflow
        p, e = C.two_prod(np.float64(a), np.float64(b))
        assert F(p) + F(e) == F(a) * F(b)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), scale=st.sampled_from([1e-8, 1.0, 1e6]))
def test_dot_residual_recovers_the_exact_projection(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((20, 7)) * scale
    u = rng.standard_normal(7)
    t = x @ u
    lo = C.dot_residual(x, u, t, offset=0.375)
    for i in range(20):
        exact = sum(F(a) * F(b) for a, b in zip(x[i], u)) + F(0.375)
        mag = sum(abs(F(a) * F(b)) for a, b in zip(x[i], u)) + F(0.375)
        # double-double: a few units of 2^-104 of the magnitudes, plus rounding the low part once
        assert abs(F(t[i]) + F(lo[i]) - exact) <= mag * F(2) ** -100 + abs(F(lo[i])) * F(U)


def test_exact_pm_one_makes_both_hard_tanh_biases_exact():
    rng = np.random.default_rng(0)
    b = np.concatenate([rng.standard_normal(50) * 10.0 ** rng.integers(-3, 12, 50), [0.0, -1.0, 2.0 ** 52]])
    r = C.exact_pm_one(b)
    for v, w in zip(b, r):
        assert F(float(w + 1.0)) == F(w) + 1 and F(float(w - 1.0)) == F(w) - 1
        assert abs(w - v) <= np.spacing(abs(v) + 2.0)


def _g(w, beta, alpha, kinks, t):
    """Exact value of beta + sum_k w_k relu(alpha_k (t - kink_k)) (Fractions)."""
    return F(beta) + sum(F(wk) * max(F(ak) * (t - F(kk)), F(0)) for wk, ak, kk in zip(w, alpha, kinks))


def _design(rng, K, C_, steep):
    kinks = np.sort(rng.uniform(0, 10, K))
    alpha = 2.0 ** rng.integers(-3, 4, K).astype(float)
    values = rng.uniform(-3, -2, (K, C_)) * steep
    last = rng.standard_normal(C_)
    return kinks, alpha, values, last


@pytest.mark.parametrize("steep", [1.0, 1e8])
def test_round_layer2_leaves_only_the_last_rounding_at_owned_points(steep):
    """The claim of the module docstring, checked in exact arithmetic against its own bound, and
    against independent rounding of the same design (which must be worse on steep designs)."""
    rng = np.random.default_rng(7)
    K, C_ = 12, 5
    kinks, alpha, values, last = _design(rng, K, C_, steep)
    # one owned point per piece for each neuron, positions with low parts (as if x . u were exact)
    T = np.sort(np.concatenate([rng.uniform(kinks[j], kinks[j + 1], 1) for j in range(K - 1)] + [kinks[-1:] + 1.0]))
    T_lo = rng.uniform(-1, 1, T.size) * np.spacing(T)
    own = np.full((K, C_), -1)
    for c in range(C_):
        for j in range(K):
            if rng.random() < 0.7:
                own[j, c] = j
    targets = rng.uniform(-1, 1, (T.size, C_))
    beta = C.exact_pm_one(values[0])
    out = np.arange(C_) % 2  # two outputs, neurons alternating
    targets = targets[:, :2]
    w = C.round_layer2(kinks, alpha, values, last, own, T, T_lo, targets, out, beta)
    worst_comp, worst_naive = F(0), F(0)
    for c in range(C_):
        for j in range(K):
            p = own[j, c]
            if p < 0:
                continue
            tp = F(T[p]) + F(T_lo[p])
            err = abs(_g(w[:, c], beta[c], alpha, kinks, tp) - F(targets[p, out[c]]))
            # the claim's bound: u |s* - s_hat| (t_p - kink_j), s_hat = exact slope left of kink j
            s_hat = sum(F(w[k, c]) * F(alpha[k]) for k in range(j))
            s_new = s_hat + F(w[j, c]) * F(alpha[j])
            bound = F(U) * abs(s_new - s_hat) * (tp - F(kinks[j])) * (1 + F(U)) * 2 + F(2) ** -95 * abs(s_new) * 20
            assert err <= bound, (c, j, float(err), float(bound))
            worst_comp = max(worst_comp, err)
    if steep > 1:
        # the same weights rounded independently from their exact values do much worse
        exact_w = [[None] * C_ for _ in range(K)]
        for c in range(C_):
            s, V = F(0), F(beta[c])
            for j in range(K):
                p = own[j, c]
                if p >= 0:
                    tgt = (F(targets[p, out[c]]) - V) / (F(T[p]) + F(T_lo[p]) - F(kinks[j]))
                elif j + 1 < K:
                    tgt = (F(values[j + 1, c]) - V) / (F(kinks[j + 1]) - F(kinks[j]))
                else:
                    tgt = F(last[c])
                exact_w[j][c] = (tgt - s) / F(alpha[j])
                s = tgt
                if j + 1 < K:
                    V += s * (F(kinks[j + 1]) - F(kinks[j]))
        naive = np.array([[float(exact_w[j][c]) for c in range(C_)] for j in range(K)])
        for c in range(C_):
            for j in range(K):
                p = own[j, c]
                if p >= 0:
                    tp = F(T[p]) + F(T_lo[p])
                    worst_naive = max(worst_naive, abs(_g(naive[:, c], beta[c], alpha, kinks, tp) - F(targets[p, out[c]])))
        assert worst_comp * 10 < worst_naive, (float(worst_comp), float(worst_naive))


def test_yun3_stored_weights_fit_far_better_than_independent_rounding(monkeypatch):
    """End to end: the exact residual of yun3's stored float64 weights, compensated vs the same
    design rounded independently (t_lo withheld), on steep data (a tiny gap in the projection)."""
    n = 1500
    ds = data.generate("gaussian", n, 4, 1, seed=3)
    x = ds.x.copy()
    x[1] = x[0] + 1e-9  # forces a tiny projected gap: steep layer-2 slopes
    ds = data.make_dataset(x, ds.y)
    widths = yun3_smallest_widths(n, 1)

    def residual():
        con = constructions.build("yun3", ds, widths)
        out = exact_outputs(con.net.kernels, con.net.biases, ds.x, "relu")
        return max(abs(out[i, 0] - F(float(ds.y[i, 0]))) for i in range(n)), con

    comp, con = residual()
    orig = _block1d.block_1d
    from capacity.constructions import yun3
    monkeypatch.setattr(yun3, "block_1d", lambda *a, t_lo=None, **k: orig(*a, **k))
    naive, con_naive = residual()
    assert con.record["span_over_min_gap"] == con_naive.record["span_over_min_gap"]  # same design
    assert comp * 20 < naive, (float(comp), float(naive))
