"""Memorization in a density model (van den Burg & Williams 2021), CPU preset with Gaussian KDEs.

Paper: G. van den Burg, C. Williams, "On Memorization in Probabilistic Deep Generative Models",
NeurIPS 2021.

Score (faithful to the paper and its summarize.py): for a randomized learner A, p(x | A, D) =
E_{f ~ A(D)} p_f(x) and

    M(i) = log p(x_i | A, D) - log p(x_i | A, D \\ {x_i}),

estimated with K folds repeated L times: split the n indices into K disjoint folds, L independent
random partitions; train one model on D \\ I_k for every (repetition, fold).  For every i,
U_i = log-mean-exp of log p_f(x_i) over the L(K - 1) models that trained on i, V_i = log-mean-exp
over the L models where i was held out, M̂_i = U_i - V_i.

Model (simplified): the paper trains VAEs (log-likelihood by importance sampling); the CPU preset
here uses an exact-likelihood Gaussian kernel density estimate on the digits (pixels in [0, 1],
d = 64), p_f(x) = (1/|S|) Σ_{j ∈ S} N(x; x_j, h² I), for several bandwidths h (a small h memorizes
more).  A KDE has no training, so "training on D \\ I_k" is a 0/1 mask over kernels and all
L·K models are evaluated at once with one masked log-sum-exp in JAX (float64).  For a KDE with
K = n (leave-one-out) the estimator has the closed form
log[(K_h(0) + Σ_{j≠i} K_h(x_i - x_j)) / n] - log[Σ_{j≠i} K_h(x_i - x_j) / (n - 1)]
(:func:`kde_loo_memorization`), which the tests compare it against.

Nearest-neighbour test (a simplified version of the sample-vs-train check the paper argues misses
this memorization [reconstructed protocol]): draw S samples from the KDE fitted on all training
images; flag training image i as "copied" when some sample is closer to x_i than τ, the median
distance from a held-out digit to its nearest training digit (i.e. closer than new data usually
is).  We report the flagged fraction among the top 5% memorized images and among all images.

Presets: quick = 1,000 digits, K = 10, L = 5 (50 KDEs), 5 bandwidths, 5,000 samples: about 15 s.
full = 1,500 digits, L = 10 (100 KDEs per bandwidth), 9 bandwidths, 20,000 samples: a few minutes.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from capacity.experiments.memorization import _common as C

MEASURE = "generative"
OUTPUTS = ("generative.csv", "generative_summary.csv", "generative_most_memorized.png", "generative.png")


@dataclasses.dataclass(frozen=True)
class Preset:
    n_train: int
    folds: int  # K
    repeats: int  # L
    bandwidths: tuple[float, ...]
    samples: int


PRESETS = {
    "quick": Preset(n_train=1000, folds=10, repeats=5, bandwidths=(0.15, 0.3, 0.5, 0.7, 1.0), samples=5000),
    "full": Preset(n_train=1500, folds=10, repeats=10, bandwidths=(0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0),
                   samples=20000),
}


def sq_dists(a, b):
    """Squared Euclidean distances (len(a), len(b)), float64."""
    a = np.asarray(a, np.float64); b = np.asarray(b, np.float64)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


@jax.jit
def _kde_logp(d2, masks, h):
    """log p_f(x_i) for every model f (a 0/1 mask over kernels) and point i: (M, n)."""
    d = 64.0
    logk = -d2 / (2 * h * h) - 0.5 * d * jnp.log(2 * jnp.pi * h * h)  # (n_eval, n_kernels)

    def one(m):
        z = jnp.where(m[None, :], logk, -jnp.inf)
        return jax.scipy.special.logsumexp(z, axis=1) - jnp.log(jnp.sum(m))

    return jax.lax.map(one, masks)


def fold_masks(n: int, folds: int, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """(repeats * folds, n) bool: model (l, k) trains on everything except fold k of partition l."""
    out = np.ones((repeats * folds, n), bool)
    for l in range(repeats):
        perm = rng.permutation(n)
        for k, idx in enumerate(np.array_split(perm, folds)):
            out[l * folds + k, idx] = False
    return out


def memorization_from_logp(logp: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """M̂_i = logmeanexp_{f ∋ i} log p_f(x_i) - logmeanexp_{f ∌ i} log p_f(x_i)."""
    from scipy.special import logsumexp

    m = np.asarray(masks, bool)
    u = logsumexp(np.where(m, logp, -np.inf), axis=0) - np.log(m.sum(0))
    v = logsumexp(np.where(~m, logp, -np.inf), axis=0) - np.log((~m).sum(0))
    return u - v


def kde_loo_memorization(x: np.ndarray, h: float) -> np.ndarray:
    """Closed-form leave-one-out memorization score of a Gaussian KDE (see the module docstring)."""
    from scipy.special import logsumexp

    n = x.shape[0]
    logk = -sq_dists(x, x) / (2 * h * h)  # the normalising constant cancels
    off = np.where(np.eye(n, dtype=bool), -np.inf, logk)
    rest = logsumexp(off, axis=1)
    return np.logaddexp(0.0, rest) - np.log(n) - (rest - np.log(n - 1))


@dataclasses.dataclass(frozen=True)
class GenRecord:
    index: int
    digits_row: int
    label: int
    bandwidth: float
    mem: float
    log_density_all: float  # log p(x_i) under the KDE on all training images
    nn_copied: bool


@dataclasses.dataclass(frozen=True)
class GenSummary:
    bandwidth: float
    mean_mem: float
    q95_mem: float
    max_mem: float
    nn_flagged_all: float  # fraction of all training images the NN test flags
    nn_flagged_top5: float  # ... of the top-5% memorized
    corr_mem_logdensity: float


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    from tqdm.auto import tqdm

    P = PRESETS[preset] if isinstance(preset, str) else preset
    d = C.load_digits_split(P.n_train, seed=seed)
    x = d.x_train.astype(np.float64)
    d2 = jnp.asarray(sq_dists(x, x))
    rng = np.random.default_rng(seed + 1)
    masks = fold_masks(P.n_train, P.folds, P.repeats, rng)
    tau = float(np.median(np.sqrt(sq_dists(d.x_test, x).min(1))))
    recs, summ = [], []
    for h in tqdm(P.bandwidths, desc="generative (bandwidths)", disable=not progress, leave=False):
        logp = np.asarray(_kde_logp(d2, jnp.asarray(masks), h))
        mem = memorization_from_logp(logp, masks)
        full = np.asarray(_kde_logp(d2, jnp.ones((1, P.n_train), bool), h))[0]
        centers = rng.integers(0, P.n_train, size=P.samples)
        samples = x[centers] + h * rng.standard_normal((P.samples, x.shape[1]))
        dist = np.sqrt(sq_dists(samples, x))  # (S, n)
        copied = (dist < tau).any(axis=0)
        top = mem >= np.quantile(mem, 0.95)
        for i in range(P.n_train):
            recs.append(GenRecord(i, int(d.train_index[i]), int(d.y_train[i]), h, float(mem[i]), float(full[i]),
                                  bool(copied[i])))
        summ.append(GenSummary(h, float(mem.mean()), float(np.quantile(mem, 0.95)), float(mem.max()),
                               float(copied.mean()), float(copied[top].mean()), float(np.corrcoef(mem, full)[0, 1])))
    C.write_csv(os.path.join(out, "generative.csv"), recs)
    C.write_csv(os.path.join(out, "generative_summary.csv"), summ)
    plot(out)
    lines = [f"Gaussian KDE on {P.n_train} digits, K={P.folds} folds x L={P.repeats} repeats; NN threshold "
             f"τ = {tau:.3f} (median held-out-to-train NN distance)"]
    for s in summ:
        lines.append(f"h={s.bandwidth:.2f}: mem mean {s.mean_mem:.3f}, 95% quantile {s.q95_mem:.3f}, max "
                     f"{s.max_mem:.3f}; NN test flags {s.nn_flagged_all:.3f} of all, {s.nn_flagged_top5:.3f} of the "
                     f"top-5% memorized; corr(mem, log p) = {s.corr_mem_logdensity:.3f}")
    return lines


def plot(out: str) -> None:
    from sklearn.datasets import load_digits

    plt = C.pyplot()
    images = load_digits().images
    recs = C.read_csv(os.path.join(out, "generative.csv"))
    summ = C.read_csv(os.path.join(out, "generative_summary.csv"))
    hs = [float(s["bandwidth"]) for s in summ]
    h_show = hs[1] if len(hs) > 1 else hs[0]
    rs = [r for r in recs if float(r["bandwidth"]) == h_show]
    mem = np.array([float(r["mem"]) for r in rs])
    order = np.argsort(-mem)
    fig, axes = plt.subplots(2, 10, figsize=(13, 3.8))
    for row, idx in ((0, order[:10]), (1, order[::-1][:10])):
        for a, i in zip(axes[row], idx):
            a.imshow(images[int(rs[i]["digits_row"])], cmap="gray_r")
            a.set_title(f"y={rs[i]['label']} M={mem[i]:.2f}\nNN-flag={'yes' if rs[i]['nn_copied'] == 'True' else 'no'}",
                        fontsize=8)
            a.axis("off")
    fig.suptitle(f"KDE (h={h_show}): most memorized (top) and least memorized (bottom) training digits; "
                 "M = log p(x|with) - log p(x|without)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "generative_most_memorized.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(1, 3, figsize=(16, 4.2))
    for i, h in enumerate(hs):
        m = np.array([float(r["mem"]) for r in recs if float(r["bandwidth"]) == h])
        lp = np.array([float(r["log_density_all"]) for r in recs if float(r["bandwidth"]) == h])
        ax[0].hist(m, bins=50, histtype="step", color=f"C{i}", label=f"h={h:g}")
        if h == h_show:
            ax[1].scatter(lp, m, s=5, alpha=0.5, color=f"C{i}")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("memorization score M̂_i (nats)")
    ax[0].set_ylabel("training images")
    ax[0].set_title("Smaller bandwidth, more memorization")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel(f"log p(x_i) under the KDE on all training images (h={h_show})")
    ax[1].set_ylabel("M̂_i")
    ax[1].set_title("Memorization score vs log-likelihood")
    fl_all = [float(s["nn_flagged_all"]) for s in summ]
    fl_top = [float(s["nn_flagged_top5"]) for s in summ]
    ax[2].plot(hs, fl_all, "o-", label="all training images")
    ax[2].plot(hs, fl_top, "s--", label="top 5% by memorization score")
    ax[2].set_xlabel("bandwidth h")
    ax[2].set_ylabel("fraction flagged as copied")
    ax[2].set_title("Nearest-neighbour test (sample closer than τ)")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "generative.png"), dpi=120)
    plt.close(fig)
