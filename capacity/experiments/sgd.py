r"""Mini-batch SGD started near a memorizing minimum θ*, and its local (linearized) theory.

What the paper says (Yun, Sra & Jadbabaie 2019, last result; see
``../shared/reference/yun2019-digest.md`` §8).  Confirmed [P, R]: started close to a
memorizing global minimum, (mini-batch) SGD quickly reaches a nearby point with much
smaller empirical risk; **no convergence guarantee** is claimed.  Everything
quantitative is UNCONFIRMED: the loss assumptions, the step size, the radius, the batch
size, the probability, the rate, the exponent in ρ and the exact form of the no-kink
(margin) assumption.  Nothing here relies on them: we *measure* the phenomenon and
compare it with a prediction we can compute ourselves.

Our setting (assumed, stated plainly):

* squared loss, R(θ) = (1/N) Σ_i ‖f_θ(x_i) − y_i‖², ReLU MLP, float64;
* θ* memorizes (R(θ*) ≈ 0) and has kink margin μ > 0 (:mod:`capacity.experiments.minima`);
* θ₀ = θ* + ρ Δ/‖Δ‖, Δ ~ N(0, I_P) (one fixed direction per index, reused across ρ);
* plain SGD, ``optax.sgd(η)`` with constant η, mini-batches of B distinct points drawn
  uniformly afresh at every step (without replacement within a step); the batch loss is
  (1/B) Σ_{i∈S} ‖f(x_i) − y_i‖², so the step is θ ← θ − η (2/B) J_Sᵀ e_S.

Local theory.  While the activation pattern on the data equals θ*'s, f(x_i; θ) is a
polynomial in θ (multilinear across layers).  Linearizing at θ* (Gauss–Newton / NTK with
J = J(θ*), K = JJᵀ, residual e ∈ R^{N·dy}):

* pathwise, with the *same* batches S_t as the measured run:
  e_{t+1} = (I − c K D_{S_t}) e_t, c = 2η/B, D_S the selector of the rows of the points
  in S; parameters θ_{t+1} − θ* = θ_t − θ* − c Jᵀ D_S e_t.  For B = N this is GD:
  e_t = (I − (2η/N) K)^t e_0 (closed form :func:`gd_risk_prediction`).  Started from the
  measured e_0 = e(θ₀); its relative deviation from the measured run is O(ρ).
* in expectation over batches: M_t = E[e_t e_tᵀ] obeys
  M_{t+1} = M_t − c p (K M_t + M_t K) + c² K (M_t ∘ Q) K, p = B/N, Q_ij = p when rows i, j
  belong to the same point and q = B(B−1)/(N(N−1)) otherwise; E R_t = tr(M_t)/N.  We run
  the adjoint A_{t+1} = A_t − c p (K A_t + A_t K) + c² (K A_t K) ∘ Q, A_0 = I, once, so that
  E R_t = e_0ᵀ A_t e_0 / N for every start (:func:`expected_risk_operator`).
* the pattern provably cannot change while ‖θ_t − θ*‖ ≤ ρ_safe
  (:func:`capacity.experiments.minima.no_flip_radius`, a rigorous Lipschitz bound from μ and the weight
  norms).  Outside that ball the linear model is only a guide.

Implementation.  One trajectory is a nested ``lax.scan`` (outer: records, inner:
``record_every`` steps); trajectories are ``vmap``-ed and the batch axis is sharded over
the local devices (padded to a multiple of the device count, padding dropped), all in
one compiled call (:func:`simulate`).  Matmuls use ``precision="highest"``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from capacity.experiments.minima import Geometry, Minimum, preactivations_flat, residual_flat, risk_flat
from theory.linearized import SGDConfig, expected_risk, expected_risk_operator, safe_learning_rate

HIGHEST = jax.lax.Precision.HIGHEST
EPS = float(np.finfo(np.float64).eps)


def record_interval(steps: int, target_records: int = 200) -> int:
    """Largest divisor of ``steps`` that is ≤ steps / target_records (≥ 1)."""
    cap = max(1, steps // target_records)
    return max(d for d in range(1, cap + 1) if steps % d == 0)


def initial_points(m: Minimum, radii: Sequence[float], directions: int, seeds: int, *, seed: int = 0):
    """θ₀ = θ* + ρ Δ_d/‖Δ_d‖ for every (ρ, d, s); returns (theta0 (K, P), keys (K, 2), index dict)."""
    p = m.layout.size
    dirs = np.array(jax.random.normal(jax.random.PRNGKey(seed), (directions, p), jnp.float64))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    rr, dd, ss = (a.ravel() for a in np.meshgrid(np.asarray(radii, float), np.arange(directions),
                                                 np.arange(seeds), indexing="ij"))
    theta0 = m.theta[None, :] + rr[:, None] * dirs[dd]
    keys = np.stack([np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed + 1), int(s))) for s in ss])
    return theta0, keys, {"radius": rr, "direction": dd.astype(int), "seed": ss.astype(int)}


def _batch_rows(points, dy: int):
    return jnp.ravel(points[:, None] * dy + jnp.arange(dy)[None, :])


def make_trajectory(m: Minimum, geom: Geometry, cfg: SGDConfig, *, return_theta: bool = False):
    """A pure function (theta0 (P,), key (2,)) -> dict of per-trajectory records."""
    layout, n, dy, b = m.layout, m.n, m.dy, cfg.batch
    x, y = jnp.asarray(m.x), jnp.asarray(m.y)
    theta_star = jnp.asarray(m.theta)
    pattern = jnp.asarray(geom.pattern)
    jac = jnp.asarray(geom.jacobian)
    gram = jnp.asarray(geom.gram)
    c = 2.0 * cfg.lr / b
    opt = optax.sgd(cfg.lr)
    ks = jnp.arange(1, cfg.decades + 1, dtype=jnp.float64)

    def batch_loss(theta, pts):
        return risk_flat(layout, theta, x[pts], y[pts])

    def observe(theta):
        risk = risk_flat(layout, theta, x, y)
        flips = jnp.sum((preactivations_flat(layout, theta, x) > 0) != pattern)
        return risk, flips, jnp.linalg.norm(theta - theta_star)

    def step(carry, key):
        theta, state, e_lin, d_lin, t, acc = carry
        pts = jax.random.permutation(jax.random.fold_in(key, t), n)[:b]
        g = jax.grad(batch_loss)(theta, pts)
        upd, state = opt.update(g, state, theta)
        theta = optax.apply_updates(theta, upd)
        rows = _batch_rows(pts, dy)
        e_s = e_lin[rows]
        e_lin = e_lin - c * jnp.matmul(gram[:, rows], e_s, precision=HIGHEST)
        d_lin = d_lin - c * jnp.matmul(e_s, jac[rows], precision=HIGHEST)
        t = t + 1
        risk, flips, dist = observe(theta)
        risk_lin = jnp.sum(e_lin * e_lin) / n
        thresh = acc["risk0"] * 10.0 ** (-ks)
        acc = dict(acc,
                   min_risk=jnp.minimum(acc["min_risk"], risk),
                   argmin=jnp.where(risk < acc["min_risk"], t, acc["argmin"]),
                   min_risk_lin=jnp.minimum(acc["min_risk_lin"], risk_lin),
                   flips_max=jnp.maximum(acc["flips_max"], flips),
                   dist_max=jnp.maximum(acc["dist_max"], dist),
                   hit=jnp.where((acc["hit"] < 0) & (risk <= thresh), t, acc["hit"]),
                   hit_lin=jnp.where((acc["hit_lin"] < 0) & (risk_lin <= thresh), t, acc["hit_lin"]))
        return (theta, state, e_lin, d_lin, t, acc), None

    def run(theta0, key):
        risk0, flips0, dist0 = observe(theta0)
        e0 = residual_flat(layout, theta0, x, y)
        none = -jnp.ones((cfg.decades,), jnp.int64)
        acc = {"risk0": risk0, "min_risk": risk0, "argmin": jnp.int64(0), "min_risk_lin": risk0,
               "flips_max": flips0, "dist_max": dist0, "hit": none, "hit_lin": none}
        carry = (theta0, opt.init(theta0), e0, theta0 - theta_star, jnp.int64(0), acc)

        def block(carry, _):
            carry, _ = jax.lax.scan(lambda c_, _x: step(c_, key), carry, None, length=cfg.record_every)
            # re-observe at the record (cheap) so records are exactly the state at t
            theta, _, e_lin, d_lin, _, _ = carry
            risk, flips, dist = observe(theta)
            return carry, (risk, jnp.sum(e_lin * e_lin) / n, dist, jnp.linalg.norm(d_lin), flips)

        carry, rec = jax.lax.scan(block, carry, None, length=cfg.n_records)
        theta, _, _, _, _, acc = carry
        first = (risk0, risk0, dist0, dist0, flips0)
        names = ("risk", "risk_lin", "dist", "dist_lin", "flips")
        out = {k: jnp.concatenate([jnp.reshape(f, (1,)), r]) for k, f, r in zip(names, first, rec)}
        out.update({k: v for k, v in acc.items()})
        out["flips_end"] = out["flips"][-1]
        out["flips0"] = flips0
        out["e0"] = e0
        if return_theta:
            out["theta_end"] = theta
        return out

    return run


def make_step(m: Minimum, cfg: SGDConfig):
    """One SGD step (theta, t, key) -> theta, jitted: the per-trajectory loop baseline."""
    layout, n, b = m.layout, m.n, cfg.batch
    x, y = jnp.asarray(m.x), jnp.asarray(m.y)
    opt = optax.sgd(cfg.lr)

    @jax.jit
    def one(theta, t, key):
        pts = jax.random.permutation(jax.random.fold_in(key, t), n)[:b]
        g = jax.grad(lambda th: risk_flat(layout, th, x[pts], y[pts]))(theta)
        upd, _ = opt.update(g, opt.init(theta), theta)
        return optax.apply_updates(theta, upd), risk_flat(layout, theta, x, y)

    return one


def trajectory_sharding(count: int):
    """(padded count, NamedSharding over the local devices along the trajectory axis)."""
    devs = jax.local_devices()
    padded = -(-count // len(devs)) * len(devs)
    mesh = Mesh(np.array(devs), ("traj",))
    return padded, NamedSharding(mesh, PartitionSpec("traj"))


def compile_simulation(m: Minimum, geom: Geometry, cfg: SGDConfig, count: int, *, return_theta: bool = False):
    """AOT-compiled vmapped run for ``count`` trajectories: (fn, padded count, sharding)."""
    padded, sharding = trajectory_sharding(count)
    fn = jax.jit(jax.vmap(make_trajectory(m, geom, cfg, return_theta=return_theta)))
    spec_t = jax.ShapeDtypeStruct((padded, m.layout.size), jnp.float64, sharding=sharding)
    spec_k = jax.ShapeDtypeStruct((padded, 2), jnp.uint32, sharding=sharding)
    return fn.lower(spec_t, spec_k).compile(), padded, sharding


def simulate(m: Minimum, geom: Geometry, theta0, keys, cfg: SGDConfig, *, return_theta: bool = False,
             compiled=None) -> dict:
    """Run every trajectory in one compiled call; returns numpy arrays with leading axis K."""
    count = theta0.shape[0]
    fn, padded, sharding = compiled or compile_simulation(m, geom, cfg, count, return_theta=return_theta)
    pad = padded - count
    th = np.concatenate([theta0, np.repeat(theta0[:1], pad, axis=0)]) if pad else theta0
    kk = np.concatenate([keys, np.repeat(keys[:1], pad, axis=0)]) if pad else keys
    out = fn(jax.device_put(jnp.asarray(th), sharding), jax.device_put(jnp.asarray(kk, jnp.uint32), sharding))
    return {k: np.asarray(v)[:count] for k, v in jax.block_until_ready(out).items()}


# ----------------------------------------------------------------------- predictions


def mean_square_rate(gram: np.ndarray, n: int, dy: int, batch: int, lr: float) -> float:
    """Asymptotic per-step factor of E R_t of the linearized SGD: the spectral radius of the adjoint map.

    Computed by Arnoldi (``scipy.sparse.linalg.eigs``) on the (n·dy)²-dimensional map, exactly as
    iterated by :func:`expected_risk_operator`.  Always ≥ the GD factor (1 − 2ηλ_min(K)/N)², since
    E e_t follows GD exactly.  < 1: E R_t → 0 at this rate; ≥ 1: E R_t diverges even where
    typical trajectories contract (heavy tails), so the expected curve predicts nothing.
    """
    from scipy.sparse.linalg import LinearOperator, eigs

    m = n * dy
    c = 2.0 * lr / batch
    p = batch / n
    q = batch * (batch - 1) / (n * (n - 1)) if n > 1 else 1.0
    point = np.repeat(np.arange(n), dy)
    qmat = np.where(point[:, None] == point[None, :], p, q)
    k = np.asarray(gram)

    def matvec(v):
        a = np.reshape(v, (m, m))
        return np.ravel(a - c * p * (k @ a + a @ k) + c * c * (k @ a @ k) * qmat)

    if m * m <= 4:
        dense = np.stack([matvec(e) for e in np.eye(m * m)], axis=1)
        return float(np.max(np.abs(np.linalg.eigvals(dense))))
    op = LinearOperator((m * m, m * m), matvec=matvec, dtype=np.float64)
    val = eigs(op, k=1, which="LM", tol=1e-12, maxiter=20000, v0=np.eye(m).ravel(), return_eigenvectors=False)
    return float(np.abs(val[0]))


def auto_learning_rate(geom: Geometry, n: int, dy: int, batch: int) -> tuple[float, float]:
    """(η, factor): the η on a √2-grid from the safe rate up to the GD limit with the fastest mean-square decay."""
    eta0 = safe_learning_rate(geom.gram, n, dy, batch)
    gd_limit = 2.0 / (2.0 * geom.singular_values[0] ** 2 / n)
    best = None
    for k in range(0, 16):
        eta = eta0 * 2 ** (k / 2)
        if eta >= gd_limit:
            break
        f = mean_square_rate(geom.gram, n, dy, batch, eta)
        if best is None or f < best[1]:
            best = (eta, f)
    return best


def float_floor(m: Minimum) -> float:
    """Risk below which float64 rounding of f dominates: (64 eps (1 + max|y|))² dy."""
    return (64 * EPS * (1.0 + float(np.max(np.abs(m.y))))) ** 2 * m.dy


def log_deviation(measured: np.ndarray, predicted: np.ndarray, floor: float) -> np.ndarray:
    """Per trajectory: max over records with both risks ≥ floor of |log10 meas − log10 pred| (decades)."""
    ok = (measured >= floor) & (predicted >= floor)
    dev = np.abs(np.log10(np.maximum(measured, 1e-300)) - np.log10(np.maximum(predicted, 1e-300)))
    return np.where(ok, dev, 0.0).max(axis=1)


def decay_span(predicted: np.ndarray, floor: float) -> np.ndarray:
    """Decades of predicted decay inside the compared window, per trajectory."""
    p = np.where(predicted >= floor, predicted, np.nan)
    return np.log10(p[:, 0]) - np.log10(np.nanmin(p, axis=1))


# ------------------------------------------------------------------------ experiment


@dataclasses.dataclass
class Experiment:
    """Everything one run produced: inputs, geometry, per-trajectory records, predictions."""

    minimum: Minimum
    geometry: Geometry
    config: SGDConfig
    index: dict  # radius, direction, seed per trajectory
    records: dict  # from simulate
    expected: np.ndarray  # (K, n_records + 1) E R_t of the linearized SGD
    mean_square_rate: float  # per-step factor of E R_t (≥ 1: expected curve diverges)
    seconds: dict

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.config.n_records + 1) * self.config.record_every

    @property
    def radii(self) -> np.ndarray:
        return np.unique(self.index["radius"])

    def summary(self) -> list[dict]:
        """Per radius: risk ratios, flips, linear-theory agreement (see :func:`log_deviation`)."""
        r, floor = self.records, float_floor(self.minimum)
        dev = log_deviation(r["risk"], r["risk_lin"], floor)
        span = decay_span(r["risk_lin"], floor)
        rows = []
        for rho in self.radii:
            sel = self.index["radius"] == rho
            fixed = sel & (r["flips_max"] == 0)
            ratio = r["min_risk"][sel] / r["risk0"][sel]
            hit3 = r["hit"][sel][:, 2]
            hit3_lin = r["hit_lin"][sel][:, 2]
            mean_meas = np.mean(r["risk"][sel], axis=0)
            mean_exp = np.mean(self.expected[sel], axis=0)
            ok = (mean_meas >= floor) & (mean_exp >= floor)
            rows.append({
                "rho": float(rho), "count": int(sel.sum()),
                "risk0_median": float(np.median(r["risk0"][sel])),
                "min_risk_median": float(np.median(r["min_risk"][sel])),
                "ratio_median": float(np.median(ratio)), "ratio_max": float(np.max(ratio)),
                "flip_fraction_start": float(np.mean(r["flips0"][sel] > 0)),
                "flip_fraction": float(np.mean(r["flips_max"][sel] > 0)),
                "flips_max_mean": float(np.mean(r["flips_max"][sel])),
                "dist_max_over_rho": float(np.max(r["dist_max"][sel]) / rho),
                "dist_end_over_rho": float(np.median(r["dist"][sel][:, -1]) / rho),
                "steps_to_1e3_median": float(np.median(np.where(hit3 >= 0, hit3, np.nan))) if np.any(hit3 >= 0) else None,
                "steps_to_1e3_lin_median": float(np.median(np.where(hit3_lin >= 0, hit3_lin, np.nan))) if np.any(hit3_lin >= 0) else None,
                "unflipped": int(fixed.sum()),
                "lin_dev_decades_max": float(np.max(dev[fixed])) if fixed.any() else None,
                "lin_dev_relative_max": float(np.max(dev[fixed] / np.maximum(span[fixed], 1.0))) if fixed.any() else None,
                "lin_dev_decades_max_flipped": float(np.max(dev[sel & ~fixed])) if (sel & ~fixed).any() else None,
                "expected_log10_ratio_end": float(np.log10(mean_meas[ok][-1] / mean_exp[ok][-1])) if ok.any() else None,
            })
        return rows

    def report_lines(self) -> list[str]:
        m, g, c = self.minimum, self.geometry, self.config
        lines = [f"minimum: {m.source}; widths {'-'.join(map(str, m.layout.widths))}, P = {m.layout.size}, N = {m.n}",
                 *g.lines(),
                 f"SGD: optax.sgd η = {c.lr:.4g} (η·λ_max(2K/N) = {c.lr * 2 * g.singular_values[0] ** 2 / m.n:.3g}), "
                 f"batch B = {c.batch}, T = {c.steps} steps, {len(self.index['radius'])} trajectories, "
                 f"record every {c.record_every}",
                 f"linearized SGD: E R_t decays by {self.mean_square_rate:.6f} per step asymptotically "
                 f"(GD with this η: {(1 - 2 * c.lr * g.singular_values[g.rank - 1] ** 2 / m.n) ** 2:.6f}); "
                 + ("mean-square stable" if self.mean_square_rate < 1 else "SECOND MOMENT DIVERGES: E-curve meaningless"),
                 "agreement = max over unflipped trajectories and recorded steps of |log10 R_meas − log10 R_lin| "
                 "(R_lin: linearized SGD with the same batches, from the measured e(θ₀)); rel = that / predicted decades "
                 f"of decay; float floor {float_floor(m):.1e}",
                 f"{'ρ':>9} {'R(θ0)':>9} {'minR/R0':>9} {'(worst)':>9} {'flip@0':>6} {'flipped':>7} {'dist/ρ':>6} "
                 f"{'t(1e-3)':>8} {'lin':>7} {'agree dec':>9} {'rel':>7} {'agr-flip':>8} {'E-curve':>7}"]
        def fmt(v, f):  # a missing value keeps its column's width, so the table stays aligned
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return "-".rjust(int(f.split(".")[0]))
            return format(v, f)

        for row in self.summary():
            lines.append(f"{row['rho']:9.2e} {row['risk0_median']:9.2e} {row['ratio_median']:9.2e} {row['ratio_max']:9.2e} "
                         f"{row['flip_fraction_start']:6.2f} {row['flip_fraction']:7.2f} {row['dist_max_over_rho']:6.2f} "
                         f"{fmt(row['steps_to_1e3_median'], '8.0f')} {fmt(row['steps_to_1e3_lin_median'], '7.0f')} "
                         f"{fmt(row['lin_dev_decades_max'], '9.2e')} {fmt(row['lin_dev_relative_max'], '7.1e')} {fmt(row['lin_dev_decades_max_flipped'], '8.1e')} "
                         f"{fmt(row['expected_log10_ratio_end'], '7.2f')}")
        lines.append("agr-flip = the same agreement measure over the trajectories whose pattern changed (no guarantee there)")
        lines.append("E-curve = log10(mean measured R_T / mean expected R_T of the linearized SGD) over all trajectories of that ρ")
        lines.append("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        return lines


def run_experiment(m: Minimum, radii: Sequence[float], *, directions: int, seeds: int, steps: int, batch: int,
                   lr: float | None = None, seed: int = 0, record_every: int | None = None,
                   geometry: Geometry | None = None) -> Experiment:
    """Geometry at θ*, all trajectories in one compiled call, and the linear predictions."""
    import time

    t0 = time.perf_counter()
    geom = geometry or local_geometry(m)
    t1 = time.perf_counter()
    if lr is None:
        lr, _ = auto_learning_rate(geom, m.n, m.dy, batch)
    ms_rate = mean_square_rate(geom.gram, m.n, m.dy, batch, lr)
    cfg = SGDConfig(steps=steps, batch=batch, lr=float(lr), record_every=record_every or record_interval(steps))
    theta0, keys, index = initial_points(m, radii, directions, seeds, seed=seed)
    compiled = compile_simulation(m, geom, cfg, theta0.shape[0])
    t2 = time.perf_counter()
    rec = simulate(m, geom, theta0, keys, cfg, compiled=compiled)
    rec["risk0_lin"] = np.sum(((theta0 - m.theta[None, :]) @ geom.jacobian.T) ** 2, axis=1) / m.n
    t3 = time.perf_counter()
    expected = expected_risk(expected_risk_operator(geom.gram, m.n, m.dy, cfg), rec["e0"], m.n)
    t4 = time.perf_counter()
    return Experiment(m, geom, cfg, index, rec, expected, ms_rate,
                      {"geometry": t1 - t0, "compile": t2 - t1, "simulate": t3 - t2, "expected-SGD recursion": t4 - t3})


def save_experiment(exp: Experiment, out_dir) -> str:
    """``sgd.npz`` (records, predictions, θ*) and ``sgd_summary.json``, written atomically."""
    import json
    import os

    from capacity._files import atomic_save_npz, atomic_write_text

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "sgd.npz")
    arrays = {f"rec_{k}": v for k, v in exp.records.items()}
    arrays.update({f"index_{k}": v for k, v in exp.index.items()})
    arrays.update(expected=exp.expected, times=exp.times, theta_star=exp.minimum.theta, x=exp.minimum.x, y=exp.minimum.y,
                  singular_values=exp.geometry.singular_values)
    atomic_save_npz(path, arrays)
    summary = {"config": dataclasses.asdict(exp.config), "source": exp.minimum.source, "record": exp.minimum.record,
               "widths": exp.minimum.layout.widths, "kink_margin": exp.geometry.kink_margin,
               "no_flip_radius": exp.geometry.no_flip_radius, "theta_norm": exp.geometry.theta_norm,
               "jacobian_rank": exp.geometry.rank, "smallest_singular_values": exp.geometry.smallest_nonzero(5),
               "rows": exp.summary(), "seconds": exp.seconds}
    atomic_write_text(os.path.join(out_dir, "sgd_summary.json"), json.dumps(summary, indent=2, default=float))
    return path


from capacity.experiments.minima import local_geometry  # noqa: E402  (re-exported for callers of run_experiment)
