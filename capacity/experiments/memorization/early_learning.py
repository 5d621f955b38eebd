"""Early learning then memorization of noisy labels, and the ELR loss (Liu et al. 2020).

Paper: S. Liu, J. Niles-Weed, N. Razavian, C. Fernandez-Granda, "Early-Learning Regularization
Prevents Memorization of Noisy Labels", NeurIPS 2020 (Sec. 3 and App. A for the linear model;
Sec. 4 for ELR; the authors' code for the ELR details).

Part A, the paper's linear setting (faithful to Sec. 3):
  x_i ~ N(ε*_i v, σ² I_p), ‖v‖ = 1, true class ε*_i ∈ {±1}; each observed label equals the true one
  w.p. 1 - Δ and is otherwise replaced by a uniformly random one of the two (so the flip rate is
  Δ/2); p/n ∈ (1 - Δ/2, 1) so the noisy labels are linearly separable (Cover/Schläfli counting).
  Model: the two-class linear softmax, i.e. logistic regression on θ = Θ_1 - Θ_2, trained by plain
  gradient descent with the gradient as our notes record it from the paper,
      ∇L(θ) = (1/2n) Σ_i x_i (tanh(θᵀx_i) - ε_i),
  which is exactly the gradient of L(θ) = (1/2n) Σ_i log(1 + exp(-2 ε_i θᵀx_i)); the notes write the
  loss as (1/n) Σ log(1 + exp(-ε_i θᵀx_i)), whose gradient has tanh(θᵀx_i / 2): the two differ by
  the rescaling θ -> 2θ (factor conventions [reconstructed], not re-read in the paper).  θ_0 is
  uniform on the sphere of radius 2, η fixed.
  Measured over time: on the mislabelled set W, the fraction predicted as their TRUE class and as
  their NOISY label; clean-set accuracy; accuracy on fresh test points; cos(-∇L, v).
  Float64 (the linear model is cheap).  The paper's illustration uses R^100 with 40% of the labels
  randomized (Δ = 0.4); the theorem's σ ≤ σ_Δ is a constant it does not give numerically, so σ
  here is our choice [reconstructed].

Part B, ELR on noisy digits (formula faithful to the authors' code, training simplified):
      L_ELR = CE + λ · mean_i log(1 - ⟨t_i, p_i⟩),   t_i ← β t_i + (1 - β) p_i
  with p_i clamped to [1e-4, 1 - 1e-4] and a stop-gradient copy for the target update (see
  :func:`capacity.experiments.memorization._common.elr_terms`).  λ = 3, β = 0.7 (their CIFAR-10
  symmetric-noise choice).  Simplified: full-batch Adam on a 64-w-10 MLP in float32 (the paper:
  ResNet-34, SGD with mini-batches, lr schedule, 120 epochs), so "one step" is one visit of every
  example and the targets average over the last ~1/(1-β) steps, not epochs of mini-batches.

Presets: quick = p 100, n 110, σ 0.1, η 0.5, 20,000 GD steps, 8 seeds (7 s) + CE and ELR on 1,000
digits with 40% of the labels redrawn, width 128, 1,500 steps, 2 seeds each (≈ 15 s): under
30 s in all.  full = p 1,000, n 1,100, 100,000 steps, 16 seeds (≈ 7·10¹² FLOP, ~10 min CPU) and
ELR on 1,200 digits, width 256, 6,000 steps, 5 seeds (≈ 200x the quick ELR work, ~1 hour CPU).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from capacity.experiments.memorization import _common as C

MEASURE = "early-learning"
OUTPUTS = ("linear.csv", "elr.csv", "elr_summary.csv", "early_learning.png", "elr.png")


@dataclasses.dataclass(frozen=True)
class Preset:
    dim: int  # p
    n: int
    delta: float  # Δ: a label is redrawn w.p. Δ (flip rate Δ/2)
    sigma: float
    eta: float
    steps: int
    seeds: int
    n_train: int  # digits, part B
    noise: float  # fraction of digit labels redrawn
    width: int
    elr_steps: int
    elr_lambda: float
    elr_beta: float
    elr_seeds: int
    lr: float


PRESETS = {
    "quick": Preset(dim=100, n=110, delta=0.4, sigma=0.1, eta=0.5, steps=20_000, seeds=8, n_train=1000, noise=0.4,
                    width=128, elr_steps=1500, elr_lambda=3.0, elr_beta=0.7, elr_seeds=2, lr=1e-3),
    "full": Preset(dim=1000, n=1100, delta=0.4, sigma=0.1, eta=0.5, steps=100_000, seeds=16, n_train=1200,
                   noise=0.4, width=256, elr_steps=6000, elr_lambda=3.0, elr_beta=0.7, elr_seeds=5, lr=1e-3),
}


# ------------------------------------------------------------------------- linear model


@dataclasses.dataclass(frozen=True)
class LinearData:
    x: np.ndarray  # (S, n, p) one dataset per seed
    true: np.ndarray  # (S, n) ±1
    observed: np.ndarray  # (S, n) ±1
    x_test: np.ndarray  # (S, m, p)
    true_test: np.ndarray
    v: np.ndarray  # (S, p)
    theta0: np.ndarray  # (S, p)


def make_linear_data(P: Preset, seed: int, n_test: int = 1000) -> LinearData:
    rng = np.random.default_rng(seed)
    s = P.seeds
    v = rng.standard_normal((s, P.dim)); v /= np.linalg.norm(v, axis=1, keepdims=True)
    true = rng.choice([-1.0, 1.0], size=(s, P.n))
    x = true[..., None] * v[:, None, :] + P.sigma * rng.standard_normal((s, P.n, P.dim))
    redraw = rng.random((s, P.n)) < P.delta
    observed = np.where(redraw, rng.choice([-1.0, 1.0], size=(s, P.n)), true)
    tt = rng.choice([-1.0, 1.0], size=(s, n_test))
    xt = tt[..., None] * v[:, None, :] + P.sigma * rng.standard_normal((s, n_test, P.dim))
    th = rng.standard_normal((s, P.dim)); th *= 2.0 / np.linalg.norm(th, axis=1, keepdims=True)
    return LinearData(x, true, observed, xt, tt, v, th)


def logistic_grad(theta, x, eps):
    """∇L(θ) = (1/2n) Σ_i x_i (tanh(θᵀx_i) - ε_i) (the paper's expression)."""
    z = jnp.matmul(x, theta, precision=jax.lax.Precision.HIGHEST)
    return jnp.matmul(jnp.tanh(z) - eps, x, precision=jax.lax.Precision.HIGHEST) / (2 * x.shape[0])


@functools.partial(jax.jit, static_argnames=("steps", "every"))
def _gd_linear(theta0, x, eps, true, xt, tt, v, eta, *, steps: int, every: int):
    wrong = eps != true

    def metrics(theta):
        pred = jnp.sign(jnp.matmul(x, theta, precision=jax.lax.Precision.HIGHEST))
        nw = jnp.maximum(jnp.sum(wrong), 1)
        g = logistic_grad(theta, x, eps)
        kappa2 = (jnp.tanh(jnp.matmul(x, theta, precision=jax.lax.Precision.HIGHEST)) - eps) ** 2
        return jnp.stack([
            jnp.sum((pred == true) & wrong) / nw,  # mislabelled predicted as true class
            jnp.sum((pred == eps) & wrong) / nw,  # mislabelled predicted as their noisy label
            jnp.sum((pred == eps) & ~wrong) / jnp.maximum(jnp.sum(~wrong), 1),  # clean accuracy
            jnp.mean(jnp.sign(jnp.matmul(xt, theta, precision=jax.lax.Precision.HIGHEST)) == tt),  # test acc
            -jnp.dot(g, v) / jnp.linalg.norm(g),  # cos(-∇L, v)
            jnp.sum(kappa2 * ~wrong) / jnp.maximum(jnp.sum(~wrong), 1),
            jnp.sum(kappa2 * wrong) / nw,
            jnp.dot(theta, v),
        ])

    def inner(theta, _):
        return theta - eta * logistic_grad(theta, x, eps), None

    def outer(theta, _):
        theta, _ = jax.lax.scan(inner, theta, None, length=every)
        return theta, metrics(theta)

    m0 = metrics(theta0)
    theta, ms = jax.lax.scan(outer, theta0, None, length=steps // every)
    return jnp.concatenate([m0[None], ms], axis=0)


LINEAR_FIELDS = ("mislabeled_as_true", "mislabeled_as_noisy", "clean_acc", "test_acc", "cos_grad_v",
                 "kappa2_clean", "kappa2_mislabeled", "theta_dot_v")


@dataclasses.dataclass(frozen=True)
class LinearRow:
    """Linear model at one GD step, one seed."""

    seed: int
    step: int
    mislabeled_as_true: float
    mislabeled_as_noisy: float
    clean_acc: float
    test_acc: float
    cos_grad_v: float
    kappa2_clean: float
    kappa2_mislabeled: float
    theta_dot_v: float


def run_linear(P: Preset, seed: int) -> list[LinearRow]:
    data = make_linear_data(P, seed)
    every = max(1, P.steps // 20_000)
    ms = jax.vmap(functools.partial(_gd_linear, steps=P.steps, every=every),
                  in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
        data.theta0, data.x, data.observed, data.true, data.x_test, data.true_test, data.v, P.eta)
    ms = np.asarray(ms)  # (S, R+1, F)
    steps = np.arange(ms.shape[1]) * every
    keep = np.unique(np.concatenate([[0], np.unique(np.geomspace(every, P.steps, 300).astype(int) // every)]))
    rows = []
    for s in range(P.seeds):
        for r in keep:
            rows.append(LinearRow(s, int(steps[r]), *[float(v) for v in ms[s, r]]))
    return rows


# ---------------------------------------------------------------------------- ELR on digits


@dataclasses.dataclass(frozen=True)
class ElrRow:
    loss: str  # "ce" or "elr"
    seed: int
    step: int
    test_acc: float
    noisy_as_given: float  # fraction of changed-label examples predicted as their (wrong) given label
    noisy_as_true: float  # ... predicted as their true class
    clean_acc: float


@dataclasses.dataclass(frozen=True)
class ElrSummary:
    loss: str
    seed: int
    final_test_acc: float
    best_test_acc: float
    final_noisy_as_given: float
    final_noisy_as_true: float


def run_elr(P: Preset, seed: int, progress) -> tuple[list[ElrRow], list[ElrSummary]]:
    d = C.load_digits_split(P.n_train, seed=seed)
    rng = np.random.default_rng(seed + 11)
    ys, noisy = zip(*[C.noisy_labels(d.y_train, P.noise, 10, rng) for _ in range(P.elr_seeds)])
    ys, noisy = np.stack(ys), np.stack(noisy)
    rows, summ = [], []
    for loss in ("ce", "elr"):
        spec = C.TrainSpec((64, P.width, 10), steps=P.elr_steps, record_every=P.elr_steps // 50,
                           loss="xent" if loss == "ce" else "elr", elr_lambda=P.elr_lambda, elr_beta=P.elr_beta)
        res = C.train_many(spec, d.x_train, ys, seeds=[seed * 977 + s for s in range(P.elr_seeds)], lr=P.lr,
                           x_eval=d.x_test, y_eval=d.y_test, progress=f"{loss} on noisy digits" if progress else False)
        # correctness w.r.t. the given labels; "as true" needs predictions against the clean labels
        for s in range(P.elr_seeds):
            nz = noisy[s]
            for r, st in enumerate(res.steps):
                rows.append(ElrRow(loss, s, int(st), float(res.eval_correct[r, s].mean()),
                                   float(res.train_correct[r, s][nz].mean()), float("nan"),
                                   float(res.train_correct[r, s][~nz].mean())))
        # final predictions against true labels (train_pred is the last record)
        for s in range(P.elr_seeds):
            nz = noisy[s]
            as_true = float((res.train_pred[s][nz] == d.y_train[nz]).mean())
            te = res.eval_correct[:, s].mean(axis=1)
            summ.append(ElrSummary(loss, s, float(te[-1]), float(te.max()), float(res.train_correct[-1, s][nz].mean()),
                                   as_true))
    return rows, summ


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    import time

    P = PRESETS[preset] if isinstance(preset, str) else preset
    t0 = time.perf_counter()
    lin = run_linear(P, seed)
    t_lin = time.perf_counter() - t0
    rows, summ = run_elr(P, seed, progress)
    C.write_csv(os.path.join(out, "linear.csv"), lin)
    C.write_csv(os.path.join(out, "elr.csv"), rows)
    C.write_csv(os.path.join(out, "elr_summary.csv"), summ)
    plot(out)
    return summarize(lin, summ, P) + [f"linear part {C.fmt_seconds(t_lin)}"]


def _mean_curve(rows, field):
    steps = sorted({r.step for r in rows})
    return np.array(steps), np.array([np.mean([getattr(r, field) for r in rows if r.step == s]) for s in steps])


def summarize(lin, summ, P) -> list[str]:
    st, as_true = _mean_curve(lin, "mislabeled_as_true")
    _, as_noisy = _mean_curve(lin, "mislabeled_as_noisy")
    _, test = _mean_curve(lin, "test_acc")
    pk = int(np.argmax(as_true))
    cross = np.nonzero(as_noisy > as_true)[0]
    cross = [c for c in cross if c > pk]
    lines = [f"linear (p={P.dim}, n={P.n}, Δ={P.delta}, σ={P.sigma}, η={P.eta}, {P.seeds} seeds): "
             f"mislabelled predicted as TRUE class peaks at {as_true[pk]:.3f} (step {st[pk]}), "
             f"as NOISY label {as_noisy[pk]:.3f} then; at the end ({st[-1]} steps) true {as_true[-1]:.3f}, "
             f"noisy {as_noisy[-1]:.3f}; noisy overtakes true at step {st[cross[0]] if cross else 'never'}; "
             f"test accuracy peak {test.max():.3f} -> final {test[-1]:.3f}"]
    for loss in ("ce", "elr"):
        ss = [s for s in summ if s.loss == loss]
        lines.append(f"digits, {P.noise:.0%} labels redrawn, {loss.upper()}: test acc final "
                     f"{np.mean([s.final_test_acc for s in ss]):.3f} (best {np.mean([s.best_test_acc for s in ss]):.3f}); "
                     f"changed-label examples fitted to the wrong label {np.mean([s.final_noisy_as_given for s in ss]):.3f}, "
                     f"predicted as their true class {np.mean([s.final_noisy_as_true for s in ss]):.3f}")
    return lines


def plot(out: str) -> None:
    plt = C.pyplot()
    lin = [r for r in C.read_csv(os.path.join(out, "linear.csv")) if int(r["step"]) > 0]  # log axis
    steps = sorted({int(r["step"]) for r in lin})
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.3))

    def curve(field):
        v = np.array([[float(r[field]) for r in lin if int(r["step"]) == s] for s in steps])
        return v.mean(1), v.min(1), v.max(1)

    x = np.array(steps)
    # T = first step with θᵀv >= 0.1 (the theorem's horizon), per seed
    t_hit = []
    for sd in sorted({r["seed"] for r in lin}):
        hit = [int(r["step"]) for r in lin if r["seed"] == sd and float(r["theta_dot_v"]) >= 0.1]
        if hit:
            t_hit.append(min(hit))
    t_med = float(np.median(t_hit)) if t_hit else None
    for field, name, c in (("mislabeled_as_true", "mislabelled: predicted as TRUE class", "C2"),
                           ("mislabeled_as_noisy", "mislabelled: predicted as NOISY label (memorized)", "C3"),
                           ("clean_acc", "clean examples: accuracy", "C0"),
                           ("test_acc", "fresh test points: accuracy", "C1")):
        m, lo, hi = curve(field)
        ax[0].plot(x, m, color=c, label=name)
        ax[0].fill_between(x, lo, hi, color=c, alpha=0.15)
    ax[0].set_xscale("log")
    ax[0].set_xlabel("gradient-descent step")
    ax[0].set_ylabel("fraction")
    n_seeds = len({r["seed"] for r in lin})
    ax[0].set_title(f"Linear two-Gaussian model: early learning, then memorization\n(mean and range over {n_seeds} seeds)")
    ax[0].legend(fontsize=8)
    for field, name, c in (("cos_grad_v", "cos(-∇L, v)", "C4"), ("kappa2_clean", "mean κ² clean", "C0"),
                           ("kappa2_mislabeled", "mean κ² mislabelled", "C3")):
        m, lo, hi = curve(field)
        ax[1].plot(x, m, color=c, label=name)
    ax[1].axhline(1 / 6, color="C4", ls=":", lw=0.8, label="1/6 (theorem's bound for t < T)")
    if t_med is not None:
        for a in ax:
            a.axvline(t_med, color="k", ls=":", lw=0.8)
        ax[1].plot([], [], "k:", lw=0.8, label=f"T = first step with θᵀv ≥ 0.1 (median {t_med:.0f})")
    ax[1].set_xscale("log")
    ax[1].set_xlabel("gradient-descent step")
    ax[1].set_title("Gradient direction and per-example residuals κ_i² = (tanh θᵀx_i - ε_i)²")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "early_learning.png"), dpi=120)
    plt.close(fig)

    rows = C.read_csv(os.path.join(out, "elr.csv"))
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.3))
    for loss, c in (("ce", "C3"), ("elr", "C0")):
        rs = [r for r in rows if r["loss"] == loss]
        st = sorted({int(r["step"]) for r in rs})
        for field, a, ls in (("test_acc", 0, "-"), ("noisy_as_given", 1, "-"), ("clean_acc", 1, "--")):
            v = [np.mean([float(r[field]) for r in rs if int(r["step"]) == s]) for s in st]
            lab = {"test_acc": "test accuracy", "noisy_as_given": "changed labels fitted (memorized)",
                   "clean_acc": "clean labels fitted"}[field]
            ax[a].plot(st, v, color=c, ls=ls, label=f"{loss.upper()}: {lab}")
    ax[0].set_xlabel("full-batch step"); ax[0].set_ylabel("test accuracy")
    ax[0].set_title("Noisy digits: test accuracy, cross-entropy vs ELR")
    ax[1].set_xlabel("full-batch step"); ax[1].set_ylabel("fraction of training examples")
    ax[1].set_title("Memorization of the changed labels")
    ax[0].legend(fontsize=8); ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "elr.png"), dpi=120)
    plt.close(fig)
