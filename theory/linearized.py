r"""The linearized (Gauss-Newton / NTK) theory of mini-batch SGD near a memorizing minimum.

While the activation pattern on the data equals θ*'s, f(x_i; θ) is a polynomial in θ.
Linearizing at θ* with J = J(θ*), K = J Jᵀ and residual e ∈ R^{N·dy}, squared loss
R(θ) = (1/N) Σ_i ‖f(x_i) − y_i‖² and the batch step θ ← θ − η (2/B) J_Sᵀ e_S:

* full-batch GD: e_t = (I − (2η/N) K)^t e_0, so R_t = ‖(I − (2η/N)K)^t e_0‖²/N
  (:func:`gd_risk_prediction`, through the eigenbasis of K);
* in expectation over batches of B distinct points drawn afresh each step, M_t = E[e_t e_tᵀ]
  obeys M_{t+1} = M_t − c p (K M_t + M_t K) + c² K (M_t ∘ Q) K, with c = 2η/B, p = B/N,
  Q_ij = p when rows i, j belong to the same point and q = B(B−1)/(N(N−1)) otherwise; the
  adjoint A_{t+1} = A_t − c p (K A_t + A_t K) + c² (K A_t K) ∘ Q, A_0 = I gives
  E R_t = e_0ᵀ A_t e_0 / N for every start (:func:`expected_risk_operator`);
* η = 1/L with L ≥ λ_max((2/B) J_Sᵀ J_S) for every batch S makes each linearized step
  non-expansive (:func:`safe_learning_rate`).

Provenance: these are standard linearization formulas, derived here; the paper's SGD theorem
(Yun, Sra & Jadbabaie 2019, last result) is UNCONFIRMED in every quantitative part
(:mod:`theory.registry`).  The simulation that these predictions are compared against is
:mod:`capacity.experiments.sgd`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class SGDConfig:
    steps: int
    batch: int
    lr: float
    record_every: int
    decades: int = 12  # record the first step with R ≤ R(θ₀)·10^-k for k = 1..decades

    @property
    def n_records(self) -> int:
        return self.steps // self.record_every


def safe_learning_rate(gram: np.ndarray, n: int, dy: int, batch: int) -> float:
    """η = 1/L with L ≥ λ_max((2/B) J_Sᵀ J_S) for *every* batch S (a rigorous bound).

    L = (2/B) · min(λ_max(K), sum of the B largest per-point traces of K's diagonal blocks);
    η = 1/L is half the stability limit 2/L of every step of the linearized model, so each
    linearized SGD step is non-expansive in parameter space.
    """
    k = np.asarray(gram)
    lam = float(np.linalg.eigvalsh(k)[-1])
    per_point = np.sort(np.diag(k).reshape(n, dy).sum(axis=1))[::-1]
    return 1.0 / ((2.0 / batch) * min(lam, float(np.sum(per_point[:batch]))))


def gd_risk_prediction(gram: np.ndarray, e0: np.ndarray, n: int, lr: float, times: np.ndarray) -> np.ndarray:
    """Linearized full-batch GD: R_t = ‖(I − (2η/N)K)^t e_0‖²/N via the eigenbasis of K.

    e0: (K, n·dy); returns (K, len(times)).
    """
    lam, vec = np.linalg.eigh(gram)
    coef = np.atleast_2d(e0) @ vec  # (K, n)
    factor = (1.0 - 2.0 * lr * lam / n)[None, :] ** (2.0 * np.asarray(times, float)[:, None])  # (T, n)
    return (coef ** 2) @ factor.T / n


def adjoint_step(gram, n: int, dy: int, batch: int, lr: float):
    c = 2.0 * lr / batch
    p = batch / n
    q = batch * (batch - 1) / (n * (n - 1)) if n > 1 else 1.0
    point = np.repeat(np.arange(n), dy)
    qmat = jnp.asarray(np.where(point[:, None] == point[None, :], p, q))
    k = jnp.asarray(gram)

    def adj(a):
        ka = jnp.matmul(k, a, precision=HIGHEST)
        kak = jnp.matmul(ka, k, precision=HIGHEST)
        # symmetrize: "ka + ka.T" alone would apply a wrong (unstable) map to the rounding-error
        # antisymmetric part of a; here every step is the exact map, then a symmetric projection
        new = a - c * p * (ka + jnp.matmul(a, k, precision=HIGHEST)) + c * c * kak * qmat
        return 0.5 * (new + new.T)

    return adj


def expected_risk_operator(gram: np.ndarray, n: int, dy: int, cfg: SGDConfig) -> np.ndarray:
    """A_t at the recorded times (t = 0, r, 2r, ...): E R_t = e_0ᵀ A_t e_0 / N (see module docstring)."""
    adj = adjoint_step(gram, n, dy, cfg.batch, cfg.lr)

    def block(a, _):
        a, _ = jax.lax.scan(lambda a_, _x: (adj(a_), None), a, None, length=cfg.record_every)
        return a, a

    a0 = jnp.eye(n * dy, dtype=jnp.float64)
    _, recs = jax.jit(lambda a: jax.lax.scan(block, a, None, length=cfg.n_records))(a0)
    return np.concatenate([np.asarray(a0)[None], np.asarray(recs)])


def expected_risk(ops: np.ndarray, e0: np.ndarray, n: int) -> np.ndarray:
    """E R_t per start: (K, n_records + 1)."""
    return np.einsum("tij,ki,kj->kt", ops, e0, e0) / n
