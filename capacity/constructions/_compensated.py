r"""Compensated rounding of a 1-D block's layer 2: stored float64 weights whose *exact* evaluation fits.

Why.  A layer-2 neuron of the 1-D block (:mod:`._block1d`) computes, in the network's frame,

.. math::  g(t) = \beta + \sum_k w_k \alpha_k (t - \kappa_k)_+ ,

with kinks κ_k, powers of two α_k (layer 1) and the layer-2 weights w_k, β.  Near an owned point
the slope of g is about 1/(local gap), so the terms w_k α_k (t - κ_k) reach ~ span/min-gap and
cancel to a label in [-1, 1].  Rounding each w_k to float64 *independently* perturbs g(t_p) by
up to u Σ_{κ_k < t_p} |w_k α_k| (t_p - κ_k), u = 2^-53: every steep piece anywhere to the left
of p pollutes p over the whole distance between them.  Measured at N = 2e4 (yun3, Gaussian data
in R^16): an exact residual of 2.6e-8 for the stored weights.

What.  :func:`round_layer2` rounds the weights *in order along t* and lets each one absorb the
rounding of all earlier ones.  It tracks the function the rounded weights actually define, at
the positions layer 1 actually computes (the exact projections t_p = x_p . u, carried as
``T + T_lo``), in double-double arithmetic:

* state: V̂ = g(κ_j) and ŝ = slope of g just left of κ_j, both of the *rounded* weights so far;
* at kink j the next piece's target slope s* is the one that makes g pass through the owned
  point's label in that piece (at most one per piece), s* = (y_p - V̂) / (t_p - κ_j), or else
  the one that reaches the design value at the next kink; then w_j = fl((s* - ŝ) / α_j).

Claim.  With exact bookkeeping the stored weights give
|g(t_p) - y_p| <= u |s* - ŝ| (t_p - κ_j) for an owned point p in piece (κ_j, κ_{j+1}): only the
last weight's own rounding remains, over the distance from p's own left kink.
Proof.  ŝ_{j+1} = ŝ + w_j α_j exactly (α_j is a power of two), and w_j α_j = (s* - ŝ)(1 + δ),
|δ| <= u, so g(t_p) = V̂ + ŝ_{j+1}(t_p - κ_j) = y_p + δ (s* - ŝ)(t_p - κ_j), since V̂ is the
value of g at κ_j of the rounded weights (bookkeeping), and s*'s definition.  The bookkeeping
is double-double (relative error about 2^-104 of the terms), so the claim holds up to that
term, far below it.  Nothing here is a certificate: the stored network is certified (or not) by
the exact engine; this only makes the stored weights better.  The bias β is rounded so that
β + 1 and β - 1 (the two ReLUs of one hard-tanh neuron) are exact float64 numbers.

Measured (yun3, Gaussian R^16, exact residual of the stored weights, same data and design):
N = 2e4: 2.6e-8 independent rounding, 8.1e-11 compensated (a Fraction prototype of this scheme).
"""

from __future__ import annotations

import numpy as np

_SPLIT = 134217729.0  # 2^27 + 1 (Veltkamp)


def two_sum(a, b):
    """s, e with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """p, e with p = fl(a b) and a b = p + e exactly (Dekker; assumes no overflow or underflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def dd_add(a, b):
    """Double-double a + b (the accurate two-two-sum)."""
    s, e = two_sum(a[0], b[0])
    t, f = two_sum(a[1], b[1])
    s, e = _fast_two_sum(s, e + t)
    return _fast_two_sum(s, e + f)


def dd_neg(a):
    return -a[0], -a[1]


def dd_mul(a, b):
    p, e = two_prod(a[0], b[0])
    return _fast_two_sum(p, e + (a[0] * b[1] + a[1] * b[0]))


def dd_div(a, b):
    """Double-double a / b (long division with two correction steps)."""
    q1 = a[0] / b[0]
    r = dd_add(a, dd_neg(dd_mul((q1, np.zeros_like(q1)), b)))
    q2 = r[0] / b[0]
    r = dd_add(r, dd_neg(dd_mul((q2, np.zeros_like(q2)), b)))
    q3 = r[0] / b[0]
    q = _fast_two_sum(q1, q2)
    return dd_add(q, (q3, np.zeros_like(q3)))


def dot_residual(x: np.ndarray, u: np.ndarray, t: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """lo with t + lo = x @ u + offset to about 2^-104 relative (t: the float64 projections used).

    Each product is split error-free (:func:`two_prod`) and summed in double-double.
    """
    x = np.asarray(x, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    acc = (np.full(x.shape[0], float(offset)), np.zeros(x.shape[0]))
    for d in range(x.shape[1]):
        acc = dd_add(acc, two_prod(x[:, d], np.full(x.shape[0], u[d])))
    hi, lo = dd_add(acc, (-np.asarray(t, dtype=np.float64), np.zeros(x.shape[0])))
    return hi + lo


def exact_pm_one(b: np.ndarray) -> np.ndarray:
    """b rounded to a multiple of ulp(|b| + 2), so that b + 1 and b - 1 are exact float64 numbers."""
    b = np.asarray(b, dtype=np.float64)
    e = np.frexp(np.abs(b) + 2.0)[1]
    q = np.ldexp(1.0, e - 52)
    return np.round(b / q) * q


def round_layer2(kinks, alpha, values, last_slope, own_piece_point, T, T_lo, targets, output, beta):
    """Float64 layer-2 weights, rounded with compensation (module docstring), for C neurons at once.

    Args:
      kinks, alpha: (K,) layer-1 kink positions and powers of two (float64, as stored).
      values: (K, C) design values of each neuron's g at the kinks (network frame).
      last_slope: (C,) design slope after the last kink.
      own_piece_point: (K, C) int: for piece j + 1 (right of kink j) the index of the neuron's
        owned point in it, or -1.
      T, T_lo: (M,) positions as used for the kinks, and their low parts (T + T_lo ~ exact t).
      targets: (M, dy) labels (read only at owned points).
      output: (C,) int, the output (column of ``targets``) each neuron serves.
      beta: (C,) the bias (value left of the first kink), already rounded with :func:`exact_pm_one`.

    Returns:
      w (K, C) float64 with the neuron's layer-2 input weights (w_k multiplies relu(α_k (t - κ_k))).
    """
    kinks = np.asarray(kinks, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    K, C = values.shape
    zero = np.zeros(C)
    V = (np.asarray(beta, dtype=np.float64).copy(), zero.copy())
    s = (zero.copy(), zero.copy())
    w = np.empty((K, C))
    output = np.asarray(output)
    for j in range(K):
        p = own_piece_point[j]
        has = p >= 0
        pi = np.where(has, p, 0)
        if j + 1 < K:
            gap = two_sum(np.full(C, kinks[j + 1]), np.full(C, -kinks[j]))
            target = dd_div(dd_add((values[j + 1], zero), dd_neg(V)), gap)
        else:
            target = (np.asarray(last_slope, dtype=np.float64), zero)
        if has.any():
            num = dd_add((targets[pi, output], zero), dd_neg(V))
            den = dd_add((T[pi], T_lo[pi]), (np.full(C, -kinks[j]), zero))
            den = (np.where(has, den[0], 1.0), np.where(has, den[1], 0.0))
            own = dd_div(num, den)
            target = (np.where(has, own[0], target[0]), np.where(has, own[1], target[1]))
        d = dd_add(target, dd_neg(s))
        w[j] = (d[0] + d[1]) / alpha[j]
        s = dd_add(s, (w[j] * alpha[j], zero))
        if j + 1 < K:
            V = dd_add(V, dd_mul(s, gap))
    return w
