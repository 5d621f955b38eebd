r"""Memorizing global minima θ* and the local geometry the SGD theory needs.

A *memorizing minimum* of the empirical risk

.. math::  R(\theta) = \frac1N \sum_{i=1}^N \lVert f_\theta(x_i) - y_i \rVert_2^2

is a θ* with f_θ*(x_i) = y_i, so R(θ*) = 0.  Two sources:

* :func:`trained_minimum`: an over-parameterized float64 MLP trained by Adam (optax,
  cosine-decayed step, in one ``lax.scan``) and then polished by Levenberg–Marquardt
  steps on the flattened parameters, δ = -Jᵀ(JJᵀ + λI)⁻¹ e (the minimum-norm
  Gauss–Newton step of the under-determined system, λ adapted), until R ≤ ``target``.
* :func:`constructed_minimum`: a registered construction (default ``yun3``) with labels
  shrunk strictly inside (-1, 1) so that no hard-tanh sits at a corner (a corner is a ReLU
  pre-activation exactly 0, i.e. kink margin 0).

Local geometry at θ* (:func:`local_geometry`):

* kink margin μ = min over data i, hidden layers l and units j of |z^l_j(x_i; θ*)|;
* the Jacobian J = ∂(f_θ(x_i)_r)/∂θ (rows (i, r), row index i·dy + r) and its singular
  values (rank with tolerance σ_max·max(J.shape)·eps), and K = JJᵀ;
* :func:`no_flip_radius`: the largest ρ for which **no** parameter perturbation of
  Euclidean norm ≤ ρ can change the activation pattern on the data.  The bound is
  rigorous in exact arithmetic.  With Δh^l the change of the layer-l activations at x_i,
  ε_l ≥ ‖Δh^l‖₂, and every layer's perturbation (ΔW_l, Δb_l) of norm ≤ ρ:

  .. math::

     |\Delta z^l_j| \le \varepsilon_{l-1} (\lVert W_{l,:j}\rVert_2 + \rho)
                       + \sqrt{\lVert h^{l-1}\rVert_2^2 + 1}\,\rho,\qquad
     \varepsilon_l = \min\Big(\varepsilon_{l-1}(\lVert W_l\rVert_{op} + \rho)
                       + \sqrt{\lVert h^{l-1}\rVert^2 + 1}\,\rho,\ \lVert(|\Delta z^l_j|)_j\rVert_2\Big)

  (ReLU is 1-Lipschitz, ε_0 = 0), and the pattern cannot change while every bound is
  below |z^l_j(x_i; θ*)|.  ρ_safe ≤ μ always (a bias perturbation of size μ moves one
  pre-activation by exactly μ).  Ignored: the float64 rounding of z* itself (relative
  1e-15, orders of magnitude below μ in every setting used here).

The SGD statement this serves (Yun, Sra & Jadbabaie 2019, last result) is known only in
outline; its assumptions, rate and exponent are UNCONFIRMED (see :mod:`capacity.experiments.sgd`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from capacity.data import Dataset
from capacity.errors import CapacityError, ShapeError
from capacity.networks import mlp_apply, mlp_preactivations

HIGHEST = jax.lax.Precision.HIGHEST


# ----------------------------------------------------------------------- flat parameters


@dataclasses.dataclass(frozen=True)
class Layout:
    """Flattening of (kernels, biases): per layer kernel (in, out) row-major, then bias."""

    widths: tuple[int, ...]  # (dx, d1, ..., dy)

    @property
    def size(self) -> int:
        return sum(a * b + b for a, b in zip(self.widths[:-1], self.widths[1:]))

    def unflatten(self, theta):
        kernels, biases, k = [], [], 0
        for a, b in zip(self.widths[:-1], self.widths[1:]):
            kernels.append(theta[k:k + a * b].reshape(a, b))
            k += a * b
            biases.append(theta[k:k + b])
            k += b
        return kernels, biases

    def flatten(self, kernels: Sequence, biases: Sequence):
        parts = []
        for w, b in zip(kernels, biases):
            parts += [jnp.ravel(jnp.asarray(w, jnp.float64)), jnp.asarray(b, jnp.float64)]
        return jnp.concatenate(parts)


def apply_flat(layout: Layout, theta, x):
    """f(x) for flattened parameters θ (the one forward pass, :func:`capacity.networks.mlp_apply`)."""
    return mlp_apply(*layout.unflatten(theta), x)


def preactivations_flat(layout: Layout, theta, x):
    """All hidden pre-activations at x (m, dx), concatenated: shape (m, d1 + ... + d_{L-1})."""
    return jnp.concatenate(mlp_preactivations(*layout.unflatten(theta), x), axis=-1)


def risk_flat(layout: Layout, theta, x, y):
    """R(θ) = (1/N) Σ_i ‖f(x_i) − y_i‖²."""
    r = apply_flat(layout, theta, x) - y
    return jnp.sum(r * r) / x.shape[0]


def residual_flat(layout: Layout, theta, x, y):
    """e(θ) = (f(x_i)_r − y_ir) flattened with row index i·dy + r."""
    return jnp.ravel(apply_flat(layout, theta, x) - y)


# ---------------------------------------------------------------------------- minima


@dataclasses.dataclass
class Minimum:
    """A memorizing minimum θ* (flattened) with its data and how it was obtained."""

    layout: Layout
    theta: np.ndarray
    x: np.ndarray
    y: np.ndarray  # (N, dy) targets the network fits
    source: str
    record: dict = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def dy(self) -> int:
        return int(self.y.shape[1])

    def risk(self) -> float:
        return float(risk_flat(self.layout, jnp.asarray(self.theta), jnp.asarray(self.x), jnp.asarray(self.y)))


def _regression_targets(ds: Dataset) -> np.ndarray:
    if ds.is_classification:
        raise CapacityError("the SGD experiment needs real labels (regression); got class labels. "
                            "Generate a dataset without --classes.")
    return np.asarray(ds.y, np.float64).reshape(ds.n, -1)


def kink_margin(m: Minimum) -> float:
    """μ = min over data and hidden units of |pre-activation| at θ*."""
    z = preactivations_flat(m.layout, jnp.asarray(m.theta), jnp.asarray(m.x))
    return float(jnp.min(jnp.abs(z)))


def trained_minimum(ds: Dataset, hidden: Sequence[int], *, seed: int = 0, candidates: int = 1, **options) -> Minimum:
    """Train ``candidates`` nets (seeds seed, seed+1, ...) and keep the one with the largest kink margin.

    Options go to :func:`train_to_zero` (adam_steps, adam_lr, target, max_lm_steps).
    """
    best, margins = None, []
    for s in range(seed, seed + max(1, int(candidates))):
        m = train_to_zero(ds, hidden, seed=s, **options)
        margins.append(kink_margin(m))
        if best is None or margins[-1] > best[0]:
            best = (margins[-1], m)
    best[1].record["candidate_margins"] = margins
    return best[1]


def train_to_zero(ds: Dataset, hidden: Sequence[int], *, seed: int = 0, adam_steps: int = 3000,
                  adam_lr: float = 1e-2, target: float = 1e-20, max_lm_steps: int = 60) -> Minimum:
    """Train an MLP (dx, *hidden, dy) to empirical risk ≤ ``target`` (Adam, then LM).

    Raises :class:`CapacityError` if the target is not reached (say so, with the risk).
    """
    y = _regression_targets(ds)
    x = np.asarray(ds.x, np.float64)
    if len(hidden) < 1 or any(int(h) < 1 for h in hidden):
        raise ShapeError(f"hidden widths must be positive integers; got {list(hidden)}")
    layout = Layout((ds.dx, *[int(h) for h in hidden], y.shape[1]))
    if layout.size < ds.n * y.shape[1]:
        raise CapacityError(f"{layout.size} parameters < {ds.n * y.shape[1]} equations: a trained minimum needs an "
                            f"over-parameterized net; widen the hidden layers (--widths)")
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(seed)
    kernels, biases = [], []
    for a, b in zip(layout.widths[:-1], layout.widths[1:]):
        key, k1, k2 = jax.random.split(key, 3)
        kernels.append(jax.random.normal(k1, (a, b), jnp.float64) * math.sqrt(2.0 / a))
        biases.append(0.1 * jax.random.normal(k2, (b,), jnp.float64))
    theta = layout.flatten(kernels, biases)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    opt = optax.adam(optax.cosine_decay_schedule(adam_lr, adam_steps, alpha=1e-2))

    @jax.jit
    def adam_run(theta):
        def step(carry, _):
            th, st = carry
            loss, g = jax.value_and_grad(risk_flat, argnums=1)(layout, th, xj, yj)
            upd, st = opt.update(g, st, th)
            return (optax.apply_updates(th, upd), st), loss
        (th, _), losses = jax.lax.scan(step, (theta, opt.init(theta)), None, length=adam_steps)
        return th, losses[-1]

    theta, _ = adam_run(theta)
    res_jac = jax.jit(lambda th: (residual_flat(layout, th, xj, yj),
                                  jax.jacrev(residual_flat, argnums=1)(layout, th, xj, yj)))
    risk_fn = jax.jit(lambda th: risk_flat(layout, th, xj, yj))
    theta = np.asarray(theta)
    risk = float(risk_fn(theta))
    adam_risk = risk
    lam, lm_steps = 1e-3, 0
    for _ in range(max_lm_steps):
        e, jac = (np.asarray(a) for a in res_jac(theta))
        kmat = jac @ jac.T
        scale = float(np.mean(np.diag(kmat))) or 1.0
        improved = False
        for _ in range(30):
            a = np.linalg.solve(kmat + lam * scale * np.eye(kmat.shape[0]), e)
            cand = theta - jac.T @ a
            r_new = float(risk_fn(cand))
            if np.isfinite(r_new) and r_new < risk:
                improved = True
                gain = risk / max(r_new, 1e-300)
                theta, risk, lam = cand, r_new, max(lam / 10.0, 1e-15)
                lm_steps += 1
                break
            lam *= 8.0
        if not improved or (risk <= target and gain < 10.0):
            break
    if not risk <= target:
        raise CapacityError(f"training reached risk {risk:.3g} > target {target:.3g} (Adam {adam_steps} steps: "
                            f"{adam_risk:.3g}, then {lm_steps} LM steps); try wider layers, another --seed or more steps")
    rec = {"adam_steps": adam_steps, "adam_lr": adam_lr, "adam_risk": adam_risk, "lm_steps_accepted": lm_steps,
           "seed": seed, "seconds": time.perf_counter() - t0}
    return Minimum(layout, theta, x, y, f"trained (Adam {adam_steps} steps, then {lm_steps} Levenberg-Marquardt steps)",
                   rec)


def constructed_minimum(ds: Dataset, hidden: Sequence[int], *, construction: str = "yun3",
                        label_shrink: float = 0.9, seed: int = 0, **options) -> Minimum:
    """θ* from a registered construction, labels multiplied by ``label_shrink`` ∈ (0, 1).

    Shrinking keeps every label strictly inside (-1, 1), so no hard-tanh of the yun3
    construction sits exactly at a corner (which would make the kink margin 0).
    """
    if not 0.0 < label_shrink < 1.0:
        raise CapacityError(f"label_shrink must lie in (0, 1) to keep labels strictly inside (-1, 1); got {label_shrink}")
    y = _regression_targets(ds) * label_shrink
    shrunk = dataclasses.replace(ds, y=y)
    from capacity import constructions  # imported here: the registry imports every construction module

    con = constructions.build(construction, shrunk, list(hidden), seed=seed, **options)
    if con.kind != "mlp" or con.activation != "relu":
        raise CapacityError(f"construction {construction!r} builds a {con.kind}/{con.activation} network; "
                            "the SGD experiment needs a plain ReLU MLP")
    widths = (ds.dx, *[int(np.shape(k)[1]) for k in con.kernels])
    layout = Layout(widths)
    theta = np.asarray(layout.flatten(con.kernels, con.biases))
    return Minimum(layout, theta, np.asarray(ds.x, np.float64), y, f"constructed ({construction}, labels x {label_shrink})",
                   {"construction": construction, "label_shrink": label_shrink, "seed": seed})


# ------------------------------------------------------------------------- geometry


@dataclasses.dataclass
class Geometry:
    """Local quantities at θ*: residual, Jacobian, NTK Gram matrix, margins, spectrum."""

    risk: float
    theta_norm: float
    kink_margin: float  # μ
    kink_margin_layers: list  # min |z| per hidden layer
    pattern: np.ndarray  # (N, H) bool, z > 0 at θ*
    jacobian: np.ndarray  # (N*dy, P)
    singular_values: np.ndarray  # descending
    rank: int
    no_flip_radius: float

    @property
    def gram(self) -> np.ndarray:
        return self.jacobian @ self.jacobian.T

    def smallest_nonzero(self, k: int = 3) -> list[float]:
        return [float(s) for s in self.singular_values[:self.rank][-k:]]

    def lines(self) -> list[str]:
        s = self.singular_values
        return [f"risk R(θ*) = {self.risk:.3e}   ‖θ*‖ = {self.theta_norm:.4g}",
                f"kink margin μ = {self.kink_margin:.3e} (per hidden layer: "
                + ", ".join(f"{m:.3e}" for m in self.kink_margin_layers) + ")",
                f"Jacobian {self.jacobian.shape[0]}x{self.jacobian.shape[1]}: rank {self.rank}, σ_max = {s[0]:.4g}, "
                f"smallest non-zero σ = " + ", ".join(f"{v:.4g}" for v in self.smallest_nonzero()),
                f"provable no-flip radius ρ_safe = {self.no_flip_radius:.3e} (= {self.no_flip_radius / self.kink_margin:.3g} μ)"
                if self.kink_margin > 0 else "kink margin is 0: no fixed-pattern ball exists"]


def local_geometry(m: Minimum) -> Geometry:
    """Kink margin, Jacobian spectrum and provable no-flip radius at θ*."""
    th, x, y = jnp.asarray(m.theta), jnp.asarray(m.x), jnp.asarray(m.y)
    jac = np.asarray(jax.jit(jax.jacrev(residual_flat, argnums=1), static_argnums=0)(m.layout, th, x, y))
    k, b = m.layout.unflatten(th)
    pre = [np.asarray(z) for z in mlp_preactivations(k, b, x, "relu")]
    margins = [float(np.min(np.abs(z))) for z in pre]
    s = np.linalg.svd(jac, compute_uv=False)
    tol = (s[0] if s.size else 0.0) * max(jac.shape) * np.finfo(np.float64).eps
    mu = min(margins)
    return Geometry(risk=m.risk(), theta_norm=float(np.linalg.norm(m.theta)), kink_margin=mu,
                    kink_margin_layers=margins, pattern=np.concatenate([z > 0 for z in pre], axis=1),
                    jacobian=jac, singular_values=s, rank=int(np.sum(s > tol)),
                    no_flip_radius=no_flip_radius(m) if mu > 0 else 0.0)


def preactivation_shift_bound(m: Minimum, rho: float) -> list[np.ndarray]:
    """Rigorous bound on |z^l_j(x_i; θ) − z^l_j(x_i; θ*)| over all ‖θ − θ*‖₂ ≤ ρ.

    Returns one (N, d_l) array per hidden layer (formula in the module docstring).
    """
    kernels, biases = (list(map(np.asarray, a)) for a in m.layout.unflatten(m.theta))
    # the hidden activations at θ* come from the one forward pass
    hidden = [np.maximum(np.asarray(z), 0.0) for z in mlp_preactivations(kernels, biases, jnp.asarray(m.x), "relu")]
    h = np.asarray(m.x, np.float64)
    eps = np.zeros(h.shape[0])
    out = []
    for li, (w, b) in enumerate(zip(kernels[:-1], biases[:-1])):
        lift = np.sqrt(np.sum(h * h, axis=1) + 1.0) * rho  # ‖[h, 1]‖ ρ (rounding of this float bound: ~1e-16 relative)
        col = np.linalg.norm(w, axis=0)  # ‖W_{:, j}‖
        unit = eps[:, None] * (col[None, :] + rho) + lift[:, None]
        out.append(unit)
        layer = eps * (np.linalg.norm(w, 2) + rho) + lift
        eps = np.minimum(layer, np.linalg.norm(unit, axis=1))
        h = hidden[li]
    return out


def no_flip_radius(m: Minimum, *, iters: int = 80) -> float:
    """Largest ρ (bisection on log ρ) with every shift bound < |z*| at every data point and unit."""
    kernels, biases = m.layout.unflatten(jnp.asarray(m.theta))
    absz = [np.abs(np.asarray(z)) for z in mlp_preactivations(kernels, biases, jnp.asarray(m.x), "relu")]
    mu = min(float(np.min(a)) for a in absz)
    if mu <= 0:
        return 0.0

    def safe(rho):
        return all(np.all(bd < a) for bd, a in zip(preactivation_shift_bound(m, rho), absz))

    lo, hi = mu * 1e-12, mu  # the bound is >= ρ, so ρ_safe < μ
    if not safe(lo):
        return 0.0
    for _ in range(iters):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if safe(mid) else (lo, mid)
    return lo
