r"""The float filter: a float64 forward pass with a rigorous *a posteriori* error bound per point.

Notation: W (n, o), b (o,) one layer's stored float64 weights; h the exact input of the
layer (exact real arithmetic on the stored weights and data); ĥ the float64 value computed
for it; e_h a float64 array with |ĥ - h| <= e_h componentwise (e = 0 at the input x, which is
stored exactly).  u = 2^-53, γ_k = k u / (1 - k u), τ = 2^-1022 (smallest normal).
Assumptions: IEEE-754 binary64, round to nearest, no fast-math; any summation order, with or
without FMA (NumPy's BLAS).

**Claim 1 (pre-activation).**  ẑ = fl(fl(ĥ W) + b) satisfies, with z = h W + b,

    |ẑ - z| <= e_h |W| + γ_{n+1} (|ĥ| |W| + |b|) + (n + 2) τ.

Proof.  Higham (*Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1, eq. (3.4)
and Lemma 3.1): a dot product of length n computed in any order is Σ ĥ_i w_i (1 + θ_i) with
|θ_i| <= γ_n, and the bias addition is one more factor (1 + δ), |δ| <= u; so
|ẑ - (ĥ W + b)| <= γ_{n+1} (|ĥ| |W| + |b|) when nothing underflows.  Underflow adds an
absolute error of at most 2^-1075 to each of the 2n + 1 operations, which the following
factors can enlarge by at most (1 + γ_{n+1}); this is below (n + 2) τ.  Finally
|(ĥ - h) W| <= e_h |W|, and the triangle inequality gives the claim.

**Claim 2 (computing the bound).**  The code computes
``e_z = fl(fl(fl(q |W|) + fl(γ'|b|)) * κ) + (n + 3) τ`` with ``q = fl(fl(γ' |ĥ|) + e_h)``,
γ' >= γ_{n+1} and κ = fl(1 + 2 γ_{n+4}).  Every operation acts on non-negative numbers, and a
path from an input to the result passes through at most n + 3 roundings before the final
product, so the computed sum Ĉ is at least C (1 - u)^{n+3} >= C / (1 + γ_{n+3}), C being the
exact value of e_h |W| + γ'(|ĥ| |W| + |b|) (underflow only loses absolute amounts, covered by
the τ term).  Then fl(Ĉ κ) >= Ĉ (1 + 2γ_{n+4})(1 - u)^2 >= Ĉ (1 + γ_{n+3}) >= C since
γ_{n+4} >= 4u; the last addition of (n + 3) τ rounds down by at most a factor (1 - u), covered
by the same slack.  Hence e_z >= the right-hand side of Claim 1.

**Claim 3 (activation).**  ReLU: if ẑ < -e_z then z <= ẑ + e_z < 0, so h' = relu(z) = 0 =
relu(ẑ) = ĥ' exactly and e_h' = 0; otherwise |relu(ẑ) - relu(z)| <= |ẑ - z| <= e_z (ReLU is
1-Lipschitz).  Hard-tanh: if fl(ẑ - e_z) > 1 then ẑ - e_z > 1 (rounding is monotone), so z > 1
and h' = 1 = ĥ' exactly (e_h' = 0), symmetrically below -1; otherwise e_h' = e_z.  This is the
a-posteriori gain over the a-priori pass of :mod:`capacity.verification`: the error of every unit
whose state is certified inactive (or saturated) is exactly zero and does not propagate.
A point's *activation pattern* is certified when every hidden unit has |ẑ| > e_z (ReLU) or
its distance to ±1 exceeds e_z (hard-tanh): the exact network is then affine near the point
with that pattern.

**Claim 4 (residual).**  At the output, |f - y| <= |f̂ - y| + e_f, and the code's
``fl(fl(fl(|f̂ - y|) (1 + 4u)) + e_f) (1 + 4u) + τ`` is an upper bound of it (each rounding of a
non-negative quantity loses at most a factor (1 - u)).  A point whose bound is <= tol at
every output is certified (exact residual <= tol) without exact work.  This needs no
pattern certification (Claims 1-3 hold in either case); the count of points with certified
patterns is reported separately.
"""

from __future__ import annotations

import math

import numpy as np

U = 2.0**-53
TINY = 2.0**-1022


def gamma_up(k: int) -> float:
    """An upper bound of γ_k = k u / (1 - k u) (the float quotient inflated by 1e-12)."""
    if k * U >= 0.5:
        return math.inf
    return k * U / (1.0 - k * U) * (1.0 + 1e-12)


class FloatPass:
    """Float forward pass of one chunk with rigorous per-entry bounds.

    Attributes: ``z`` / ``e`` lists over hidden layers of (m, width) arrays (ẑ and e_z);
    ``out`` / ``e_out`` (m, dy); ``pattern_ok`` (m,) bool.
    """

    def __init__(self, kernels, biases, x: np.ndarray, activation: str):
        h = np.asarray(x, dtype=np.float64)
        eh = None  # zero at the input: x is stored exactly
        self.z, self.e = [], []
        n_layers = len(kernels)
        m = h.shape[0]
        ok = np.ones(m, dtype=bool)
        for li, (w, b) in enumerate(zip(kernels, biases)):
            n = w.shape[0]
            aw = np.abs(w)
            g = gamma_up(n + 1)
            kappa = 1.0 + 2.0 * gamma_up(n + 4)
            z = h @ w + b
            q = g * np.abs(h) if eh is None else g * np.abs(h) + eh
            ez = (q @ aw + g * np.abs(b)) * kappa + (n + 3) * TINY
            if li < n_layers - 1:
                if activation == "relu":
                    ok &= np.all(np.abs(z) > ez, axis=1)
                    eh = np.where(z < -ez, 0.0, ez)
                    h = np.maximum(z, 0.0)
                else:
                    hi = (z - ez) > 1.0
                    lo = (z + ez) < -1.0
                    ok &= np.all(np.minimum(np.abs(z - 1.0), np.abs(z + 1.0)) > ez, axis=1)
                    eh = np.where(hi | lo, 0.0, ez)
                    h = np.clip(z, -1.0, 1.0)
                self.z.append(z)
                self.e.append(ez)
            else:
                self.out, self.e_out = z, ez
        self.pattern_ok = ok

    def residual_bound(self, y: np.ndarray) -> np.ndarray:
        """(m,) rigorous upper bounds of max_o |f(x_i)_o - y_io| (Claim 4)."""
        d = np.abs(self.out - y)
        r = (d * (1.0 + 4 * U) + self.e_out) * (1.0 + 4 * U) + TINY
        return np.max(r, axis=1) if r.shape[1] else np.zeros(r.shape[0])

    def kink_lower(self, activation: str) -> float:
        """A rigorous lower bound of the exact kink distance over this chunk's points (>= 0)."""
        best = math.inf
        for z, e in zip(self.z, self.e):
            dist = np.abs(z) if activation == "relu" else np.minimum(np.abs(z - 1.0), np.abs(z + 1.0))
            if activation != "relu":  # |z - 1| itself was rounded: lower it by one ulp
                dist = np.nextafter(dist, 0.0)
            lo = dist - e
            if lo.size:
                best = min(best, float(np.nextafter(np.maximum(lo, 0.0), 0.0).min()))
        return best


def _affine_bound(h, eh, w, b):
    """(ẑ, e_z) of Claim 1-2 for one affine map (e_h None means exact input)."""
    n = w.shape[0]
    g = gamma_up(n + 1)
    kappa = 1.0 + 2.0 * gamma_up(n + 4)
    z = h @ w + b
    q = g * np.abs(h) if eh is None else g * np.abs(h) + eh
    ez = (q @ np.abs(w) + g * np.abs(b)) * kappa + (n + 3) * TINY
    return z, ez


class ResidualFloatPass:
    r"""Float pass of a residual network with rigorous bounds (same assumptions as above).

    Input map and read-out: Claims 1-2.  Block b with ẑ = fl(fl(ĥ U) + s) (Claim 1-2, bound e_z),
    â = relu(ẑ), e_a = 0 where ẑ < -e_z else e_z (Claim 3), t̂ = fl(â V) (a dot product of length
    k: |t̂ - â V| <= γ_k |â| |V|), ĥ' = fl(ĥ + t̂) (one rounding: <= u (|ĥ| + |t̂|)).  With
    |â V - a V| <= e_a |V| and γ_k + u (1 + γ_k) <= γ_{k+1}:

        |ĥ' - h'| <= e_h + e_a |V| + γ_{k+1} (|ĥ| + |â| |V|) + (k + 2) τ,

    computed as ``fl(e_h + fl(q |V|) + fl(γ'|ĥ|)) κ' + (k + 3) τ`` with q = fl(fl(γ'|â|) + e_a),
    γ' >= γ_{k+1}, κ' = 1 + 2γ_{k+6}: at most k + 5 roundings of non-negative terms (Claim 2's
    argument).  Attributes: ``z`` / ``e`` lists over blocks (m, k); ``out`` / ``e_out`` (m, dy).
    """

    def __init__(self, params, x: np.ndarray):
        w_in, b_in, U, s, V, R, c = (np.asarray(p, dtype=np.float64) for p in params)
        h, eh = _affine_bound(np.asarray(x, dtype=np.float64), None, w_in, b_in)
        self.z, self.e = [], []
        for blk in range(U.shape[0]):
            z, ez = _affine_bound(h, eh, U[blk], s[blk])
            ea = np.where(z < -ez, 0.0, ez)
            a = np.maximum(z, 0.0)
            v = V[blk]
            k = v.shape[0]
            g = gamma_up(k + 1)
            kappa = 1.0 + 2.0 * gamma_up(k + 6)
            t = a @ v
            eh = (eh + (g * a + ea) @ np.abs(v) + g * np.abs(h)) * kappa + (k + 3) * TINY
            h = h + t
            self.z.append(z)
            self.e.append(ez)
        self.out, self.e_out = _affine_bound(h, eh, R, c)

    def residual_bound(self, y: np.ndarray) -> np.ndarray:
        """(m,) rigorous upper bounds of max_o |f(x_i)_o - y_io| (Claim 4)."""
        return FloatPass.residual_bound(self, y)

    def take(self, rows) -> "ResidualFloatPass":
        """The same pass restricted to some rows (a new object sharing no state)."""
        new = ResidualFloatPass.__new__(ResidualFloatPass)
        new.z = [z[rows] for z in self.z]
        new.e = [e[rows] for e in self.e]
        new.out, new.e_out = self.out[rows], self.e_out[rows]
        return new
