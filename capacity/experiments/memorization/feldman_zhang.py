"""Feldman-Zhang memorization and influence estimates, and C-scores, on digits.

Papers:
  * V. Feldman, "Does learning require memorization? A short tale about a long tail", STOC 2020.
  * V. Feldman, C. Zhang, "What neural networks memorize and why: discovering the long tail via
    influence estimation", NeurIPS 2020.
  * Z. Jiang, C. Zhang, K. Talwar, M. Mozer, "Characterizing structural regularities of labeled
    data in overparameterized models" (C-score), ICML 2021.

Formulas (Feldman & Zhang's subsampled estimator).  Train K models h_1..h_K, model k on a random
subset S_k of the n training examples, each of size m = r n (one vmapped run; subset membership
is a 0/1 per-example loss weight).  With in_i = {k : i ∈ S_k} and out_i = {k : i ∉ S_k}:

    mem_i      = mean_{k ∈ in_i} 1[h_k(x_i) = y_i]  -  mean_{k ∈ out_i} 1[h_k(x_i) = y_i]
    infl_{i,j} = mean_{k ∈ in_i} 1[h_k(x'_j) = y'_j] -  mean_{k ∈ out_i} 1[h_k(x'_j) = y'_j]   (test j)
    C_i        = mean over ratios r of  mean_{k ∈ out_i(r)} 1[h_k(x_i) = y_i]

(C-score: the expected accuracy on example i of models trained on subsets without it, averaged
over subset ratios; Jiang et al. use ratios 10%..90%; here the preset's ratios.)  Feldman &
Zhang's bound on the estimator: E(mem_i - mem_i^true)^2 ≤ 1/(p K) + 1/((1 - p) K) + e^{-pK/16}/2
with p = min(r, 1 - r); we also report percentile-bootstrap intervals over models, and the
estimates' convergence as K grows.

Faithful: the estimator (two masked averages, one batch of K models estimates every mem_i and
infl_ij), subset ratio r = 0.7, the thresholds used to report pairs (influence ≥ 0.15 and same
class in the paper; we show the top pairs with their values), the C-score definition.
Simplified: digits (n ≈ 1,000 8x8 images) instead of MNIST/CIFAR/ImageNet; a 64-w-10 MLP trained
with full-batch Adam for a fixed number of steps (the official MNIST demo: 784-512-256-10 MLP,
SGD momentum 0.9, lr 0.1, batch 128, 10 epochs); K in the hundreds instead of 2,000-4,000;
float32.

Presets: quick = 1,000 training digits (797 test), width 64, K = 128 models at r = 0.7 plus 32
models at each of r = 0.3, 0.5 for the C-score, 300 steps: 50-115 s on the shared 2-core CPU
(depending on its load).
full = width 256, K = 4,000 at r = 0.7 (the paper's MNIST count) plus 1,000 at each of four more
ratios, 600 steps: about 500x the quick training work, roughly 10+ hours on that CPU, tens of
minutes on one GPU (estimate, not measured).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings

import numpy as np

from capacity.experiments.memorization import _common as C

MEASURE = "feldman-zhang"
OUTPUTS = ("scores.csv", "influence_pairs.csv", "convergence.csv", "most_least_memorized.png",
           "score_histogram.png", "influence_pairs.png", "convergence.png")


@dataclasses.dataclass(frozen=True)
class Preset:
    n_train: int
    n_test: int
    width: int
    models: int  # K at the main ratio
    ratio: float  # r
    cscore_ratios: tuple[float, ...]  # extra ratios for the C-score
    cscore_models: int  # models per extra ratio
    steps: int
    lr: float


PRESETS = {
    "quick": Preset(n_train=1000, n_test=797, width=64, models=128, ratio=0.7, cscore_ratios=(0.3, 0.5),
                    cscore_models=32, steps=300, lr=3e-3),
    "full": Preset(n_train=1000, n_test=797, width=256, models=4000, ratio=0.7, cscore_ratios=(0.1, 0.3, 0.5, 0.9),
                   cscore_models=1000, steps=600, lr=3e-3),
}


# --------------------------------------------------------------------------- estimators


def memorization_scores(masks: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """mem_i = P[h(x_i) = y_i | i ∈ S] - P[h(x_i) = y_i | i ∉ S], estimated over K models.

    masks: (K, n) bool, example i in model k's training subset.  correct: (K, n) bool.
    Returns (n,) float; NaN where i is in every subset or in none.
    """
    m = np.asarray(masks, bool)
    c = np.asarray(correct, float)
    n_in, n_out = m.sum(0), (~m).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c * m).sum(0) / n_in - (c * ~m).sum(0) / n_out


def influence_matrix(masks: np.ndarray, test_correct: np.ndarray) -> np.ndarray:
    """infl_ij = P[h(x'_j) = y'_j | i ∈ S] - P[h(x'_j) = y'_j | i ∉ S]: (n, M) from (K, n) masks and
    (K, M) test correctness (two matrix products)."""
    m = np.asarray(masks, float)
    t = np.asarray(test_correct, float)
    n_in, n_out = m.sum(0), (1 - m).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (m.T @ t) / n_in[:, None] - ((1 - m).T @ t) / n_out[:, None]


def out_of_subset_accuracy(masks: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """mean_{k: i ∉ S_k} 1[h_k(x_i) = y_i] (the C-score at one ratio); NaN if i is never held out."""
    m = np.asarray(masks, bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.asarray(correct, float) * ~m).sum(0) / (~m).sum(0)


def estimator_rmse_bound(ratio: float, k: int) -> float:
    """sqrt(1/(pK) + 1/((1-p)K) + e^{-pK/16}/2), p = min(r, 1-r) (Feldman & Zhang's MSE bound)."""
    p = min(ratio, 1 - ratio)
    return float(np.sqrt(1 / (p * k) + 1 / ((1 - p) * k) + np.exp(-p * k / 16) / 2))


def bootstrap_scores(masks, correct, rng, n_boot: int = 200):
    """Percentile-bootstrap (resampling models) 95% intervals of mem_i: (lo, hi), each (n,)."""
    k = masks.shape[0]
    draws = np.empty((n_boot, masks.shape[1]))
    for b in range(n_boot):
        idx = rng.integers(0, k, size=k)
        draws[b] = memorization_scores(masks[idx], correct[idx])
    with warnings.catch_warnings():  # an example held out by no resampled model has no interval (NaN)
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(draws, 0.025, axis=0), np.nanquantile(draws, 0.975, axis=0)


def random_subsets(k: int, n: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """(k, n) bool: each row a uniformly random subset of exactly round(ratio n) examples."""
    m = int(round(ratio * n))
    out = np.zeros((k, n), bool)
    for r in range(k):
        out[r, rng.choice(n, size=m, replace=False)] = True
    return out


# ------------------------------------------------------------------------------ records


@dataclasses.dataclass(frozen=True)
class ScoreRecord:
    """One training example's estimates."""

    index: int  # row in the training split
    digits_row: int  # row of sklearn's load_digits()
    label: int
    mem: float
    mem_lo: float  # bootstrap 95% interval
    mem_hi: float
    acc_in: float
    acc_out: float
    cscore: float
    n_in: int
    n_out: int


@dataclasses.dataclass(frozen=True)
class InfluencePair:
    train_index: int
    test_index: int
    train_label: int
    test_label: int
    influence: float
    train_mem: float


@dataclasses.dataclass(frozen=True)
class ConvergenceRow:
    """Agreement of two independent estimates, each from K disjoint models, over the examples whose
    all-model score is non-trivial (|mem| >= 0.05; most examples have mem = 0 exactly)."""

    models: int
    n_examples: int
    rms_half_diff: float  # sqrt(mean_i (mem_i(A) - mem_i(B))^2 / 2): the RMSE of one K-model estimate
    mean_ci_width: float  # mean bootstrap 95% interval width of the K-model estimate A
    rmse_bound: float  # Feldman-Zhang bound at this K


def train_subsets(P: Preset, d: C.Digits, ratio: float, k: int, seed: int, progress, tag: str):
    rng = np.random.default_rng(seed)
    masks = random_subsets(k, d.n_train, ratio, rng)
    spec = C.TrainSpec((64, P.width, 10), steps=P.steps, record_every=P.steps // 10)
    res = C.train_many(spec, d.x_train, d.y_train, weights=masks, seeds=[seed * 100_003 + i for i in range(k)],
                       lr=P.lr, x_eval=d.x_test, y_eval=d.y_test, progress=tag if progress else False)
    return masks, res


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    P = PRESETS[preset] if isinstance(preset, str) else preset
    d = C.load_digits_split(P.n_train, P.n_test, seed=seed)
    t0 = time.perf_counter()
    masks, res = train_subsets(P, d, P.ratio, P.models, seed, progress, f"feldman-zhang r={P.ratio}")
    t_main = time.perf_counter() - t0
    correct, test_correct = res.train_correct[-1], res.eval_correct[-1]
    mem = memorization_scores(masks, correct)
    lo, hi = bootstrap_scores(masks, correct, np.random.default_rng(seed + 2))
    acc_in = np.nanmean(np.where(masks, correct, np.nan), axis=0)
    acc_out = out_of_subset_accuracy(masks, correct)
    cs = [acc_out]
    for j, r in enumerate(P.cscore_ratios):
        m2, r2 = train_subsets(P, d, r, P.cscore_models, seed + 10 + j, progress, f"C-score r={r}")
        cs.append(out_of_subset_accuracy(m2, r2.train_correct[-1]))
    cscore = np.nanmean(np.stack(cs), axis=0)
    recs = [ScoreRecord(i, int(d.train_index[i]), int(d.y_train[i]), float(mem[i]), float(lo[i]), float(hi[i]),
                        float(acc_in[i]), float(acc_out[i]), float(cscore[i]), int(masks[:, i].sum()),
                        int((~masks[:, i]).sum())) for i in range(d.n_train)]
    infl = influence_matrix(masks, test_correct)
    same_class = d.y_train[:, None] == d.y_test[None, :]
    flat = np.argsort(-np.where(same_class, infl, -np.inf), axis=None)[:200]  # the paper keeps same-class pairs
    pairs = [InfluencePair(int(i), int(j), int(d.y_train[i]), int(d.y_test[j]), float(infl[i, j]), float(mem[i]))
             for i, j in zip(*np.unravel_index(flat, infl.shape))]
    conv = []
    rng = np.random.default_rng(seed + 3)
    sel = np.isfinite(mem) & (np.abs(mem) >= 0.05)
    for k in [k for k in (8, 16, 32, 64, 128, 256, 512, 1024, 2048) if 2 * k <= P.models]:
        a = memorization_scores(masks[:k], correct[:k])[sel]
        b = memorization_scores(masks[k:2 * k], correct[k:2 * k])[sel]
        l2, h2 = bootstrap_scores(masks[:k], correct[:k], rng, n_boot=100)
        conv.append(ConvergenceRow(k, int(sel.sum()), float(np.sqrt(np.nanmean((a - b) ** 2) / 2)),
                                   float(np.nanmean((h2 - l2)[sel])), estimator_rmse_bound(P.ratio, k)))
    # a pair counts when infl - 2 se >= 0.15 (se from the two binomial proportions) and same class
    n_in = masks.sum(0)[:, None].astype(float)
    n_out = (~masks).sum(0)[:, None].astype(float)
    p_in = (masks.T.astype(float) @ test_correct) / n_in
    p_out = p_in - infl
    se = np.sqrt(p_in * (1 - p_in) / n_in + p_out * (1 - p_out) / n_out)
    same = d.y_train[:, None] == d.y_test[None, :]
    n_sig = int(((infl - 2 * se >= 0.15) & same).sum())
    C.write_csv(os.path.join(out, "scores.csv"), recs)
    C.write_csv(os.path.join(out, "influence_pairs.csv"), pairs)
    C.write_csv(os.path.join(out, "convergence.csv"), conv)
    plot(out, seed=seed, n_train=P.n_train, n_test=P.n_test)
    n_pairs = int(((infl >= 0.15) & (d.y_train[:, None] == d.y_test[None, :])).sum())
    q = np.nanquantile(mem, [0.5, 0.9, 0.99])
    return [f"{P.models} models at r={P.ratio} trained in {C.fmt_seconds(t_main)}; test accuracy "
            f"{res.eval_acc()[-1].mean():.3f}, train accuracy on own subset {res.train_acc(masks)[-1].mean():.3f}",
            f"mem: mean {np.nanmean(mem):.3f}, median {q[0]:.3f}, 90% {q[1]:.3f}, 99% {q[2]:.3f}, max {np.nanmax(mem):.3f}; "
            f"{int((mem >= 0.25).sum())} of {d.n_train} examples with mem >= 0.25",
            f"mean (train acc in-subset - held-out acc) = {np.nanmean(acc_in - acc_out):.3f} (= mean mem)",
            f"C-score: mean {np.nanmean(cscore):.3f}; corr(C-score, mem) = {np.corrcoef(cscore, mem)[0, 1]:.3f}",
            f"influence: {n_pairs} same-class train/test pairs with infl >= 0.15 ({n_sig} with infl - 2 se >= 0.15), "
            f"on {len(set(np.nonzero((infl - 2 * se >= 0.15) & same)[1]))} test points; max {np.nanmax(infl):.3f}",
            f"convergence over the {conv[-1].n_examples} examples with |mem| >= 0.05: RMSE of a K-model estimate "
            + ", ".join(f"K={c.models}: {c.rms_half_diff:.3f}" for c in conv)
            + f"; mean 95% bootstrap width at K={conv[-1].models}: {conv[-1].mean_ci_width:.3f}"]


def _image(row: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images[row]


def plot(out: str, seed: int = 0, n_train: int = 1000, n_test: int = 797) -> None:
    """Draw the four figures from the CSVs in ``out`` (``seed``/sizes rebuild the split for test images)."""
    from sklearn.datasets import load_digits

    plt = C.pyplot()
    images = load_digits().images
    d = C.load_digits_split(n_train, n_test, seed=seed)
    recs = C.read_csv(os.path.join(out, "scores.csv"))
    mem = np.array([float(r["mem"]) for r in recs])
    order = np.argsort(-mem)
    fig, axes = plt.subplots(4, 10, figsize=(13, 7.4))
    for row, idx in ((0, order[:10]), (1, order[10:20]), (2, order[::-1][10:20][::-1]), (3, order[::-1][:10][::-1])):
        for a, i in zip(axes[row], idx):
            r = recs[i]
            a.imshow(images[int(r["digits_row"])], cmap="gray_r")
            a.set_title(f"y={r['label']} mem={float(r['mem']):.2f}\nC={float(r['cscore']):.2f}", fontsize=8)
            a.axis("off")
    fig.suptitle("Most memorized (top two rows) and least memorized (bottom two rows) training digits\n"
                 "(mem = P[correct | in subset] - P[correct | held out]; C = C-score)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "most_least_memorized.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].hist(mem[np.isfinite(mem)], bins=40, color="C0")
    ax[0].set_yscale("log")
    ax[0].axvline(0.25, color="C3", ls="--", label="0.25 (Feldman-Zhang's threshold)")
    ax[0].set_xlabel("memorization score mem_i")
    ax[0].set_ylabel("training examples (log scale)")
    ax[0].set_title(f"Memorization scores of {len(mem)} training digits")
    ax[0].legend(fontsize=8)
    cs = np.array([float(r["cscore"]) for r in recs])
    ax[1].scatter(cs, mem, s=6, alpha=0.5)
    ax[1].set_xlabel("C-score (held-out accuracy, mean over ratios)")
    ax[1].set_ylabel("mem_i")
    ax[1].set_title("Memorized examples are the low-C-score (atypical) ones")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "score_histogram.png"), dpi=120)
    plt.close(fig)

    pairs = C.read_csv(os.path.join(out, "influence_pairs.csv"))[:8]
    fig, axes = plt.subplots(2, len(pairs), figsize=(1.7 * len(pairs), 4.8))
    for c, p in enumerate(pairs):
        ti, tj = int(p["train_index"]), int(p["test_index"])
        axes[0, c].imshow(images[d.train_index[ti]], cmap="gray_r")
        axes[0, c].set_title(f"train y={p['train_label']}\nmem={float(p['train_mem']):.2f}", fontsize=8)
        axes[1, c].imshow(images[d.test_index[tj]], cmap="gray_r")
        axes[1, c].set_title(f"test y={p['test_label']}\ninfl={float(p['influence']):.2f}", fontsize=8)
        axes[0, c].axis("off"); axes[1, c].axis("off")
    fig.suptitle("Highest-influence same-class pairs: training digit (top) raises accuracy on test digit (bottom) by infl",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "influence_pairs.png"), dpi=120)
    plt.close(fig)

    conv = C.read_csv(os.path.join(out, "convergence.csv"))
    k = [int(c["models"]) for c in conv]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(k, [float(c["rms_half_diff"]) for c in conv], "o-",
            label="RMSE of a K-model estimate (two disjoint halves)")
    ax.plot(k, [float(c["mean_ci_width"]) / 3.92 for c in conv], "s-",
            label="bootstrap standard error (95% width / 3.92)")
    ax.plot(k, [float(c["rmse_bound"]) for c in conv], "k--", label="Feldman-Zhang RMSE bound")
    ax.plot(k, [float(conv[0]["rms_half_diff"]) * np.sqrt(k[0] / q) for q in k], ":", color="gray",
            label="1/sqrt(K) reference")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xticks(k, [str(v) for v in k])
    ax.minorticks_off()
    ax.set_xlabel("models K")
    ax.set_ylabel("error of mem_i estimates")
    ax.set_title(f"Convergence in K ({conv[0]['n_examples']} examples with |mem| >= 0.05)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "convergence.png"), dpi=120)
    plt.close(fig)


def benchmark(k: int = 32, steps: int = 100, n_train: int = 500, width: int = 64) -> dict:
    """Wall time of one vmapped run of k models against the per-model loop a user would write (the
    same jitted scan for one model, called k times), same process; compile time excluded by a
    warm-up of both.  Returns {"vmapped_s", "loop_s", "ratio"} (ratio = loop / vmapped)."""
    d = C.load_digits_split(n_train, 0, seed=0)
    masks = random_subsets(k, n_train, 0.7, np.random.default_rng(0))
    spec = C.TrainSpec((64, width, 10), steps=steps, record_every=steps)
    C.train_many(spec, d.x_train, d.y_train, weights=masks, seeds=range(k), lr=3e-3)
    C.train_many(spec, d.x_train, d.y_train, weights=masks[:1], seeds=[0], lr=3e-3)
    t = time.perf_counter()
    C.train_many(spec, d.x_train, d.y_train, weights=masks, seeds=range(k), lr=3e-3)
    tv = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(k):
        C.train_many(spec, d.x_train, d.y_train, weights=masks[i:i + 1], seeds=[i], lr=3e-3)
    tl = time.perf_counter() - t
    return {"vmapped_s": tv, "loop_s": tl, "ratio": tl / tv}
