"""Information measures of hidden units (Bansal, Pruthi & Belinkov 2022) on MLPs trained on digits.

Paper: R. Bansal, D. Pruthi, Y. Belinkov, "Measures of Information Reflect Memorization
Patterns", NeurIPS 2022.

Measures (per hidden layer, on the activations a_i^s of neuron i over the S examples s):
  * intra-neuron diversity: Shannon entropy of the binned activations,
        H(A_i) = -Σ_b p_b log p_b,   p_b = fraction of examples in bin b
    (B equal-width bins over the neuron's range; a neuron constant on all examples has H = 0);
  * inter-neuron diversity: mutual information of every pair of neurons,
        I(A_i; A_j) = H(A_i) + H(A_j) - H(A_i, A_j)   (binned, all pairs at once from one count matrix),
    and a k-nearest-neighbour estimate (Kraskov-Stögbauer-Grassberger, scikit-learn's
    mutual_info_regression, k = 3) on a random sample of pairs.
The paper's hypotheses: heuristic (shortcut) memorization lowers entropy and raises MI;
example-level memorization (shuffled labels) raises entropy and lowers MI.

Regimes (one vmapped training call over regimes x seeds): a 74-w-w-10 MLP on 1,000 digits whose
inputs are the 64 pixels plus a 10-dim one-hot "code":
  * clean: true labels, code random (uninformative);
  * spurious: true labels, code = the label on a fraction α = 0.9 of the training examples (a
    planted shortcut, the analogue of Colored MNIST's colour), random otherwise;
  * shuffled β: a fraction β ∈ {0.25, 0.5, 1} of the labels redrawn (example-level memorization),
    code random.
Activations are measured on each model's own training inputs (S = 1,000).

Faithful: the two measures and the regimes' logic.  Simplified / reconstructed: equal-width binning
with B bins (the paper uses adaptive partitioning à la Darbellay-Vajda; its bin counts were not
re-read), an MLP on digits with a planted one-hot code instead of Colored MNIST / IMDb, the
Gaussian-mixture density plots replaced by histograms and box plots; float32 training.

Presets: quick = width 64, 1,500 full-batch Adam steps, 2 seeds, 5 regimes, B = 30: about a minute
on the shared 2-core CPU.  full = width 256, 5,000 steps, 5 seeds, β ∈ {0.1, 0.25, 0.5, 0.75, 1},
α ∈ {0.7, 0.9, 1.0}: about 50x the training work (tens of minutes on that CPU).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from capacity.experiments.memorization import _common as C
from capacity.networks import mlp_preactivations

MEASURE = "information"
OUTPUTS = ("information.csv", "neurons.csv", "information.png")


@dataclasses.dataclass(frozen=True)
class Preset:
    n_train: int
    width: int
    steps: int
    seeds: int
    shuffles: tuple[float, ...]
    alphas: tuple[float, ...]
    bins: int
    knn_pairs: int
    lr: float


PRESETS = {
    "quick": Preset(n_train=1000, width=64, steps=1500, seeds=2, shuffles=(0.25, 0.5, 1.0), alphas=(0.9,), bins=30,
                    knn_pairs=60, lr=3e-3),
    "full": Preset(n_train=1000, width=256, steps=5000, seeds=5, shuffles=(0.1, 0.25, 0.5, 0.75, 1.0),
                   alphas=(0.7, 0.9, 1.0), bins=30, knn_pairs=300, lr=3e-3),
}


# ---------------------------------------------------------------------------- estimators


def bin_indices(a: np.ndarray, bins: int) -> np.ndarray:
    """(S, U) activations -> (S, U) bin indices in 0..bins-1 (equal width over each unit's range)."""
    a = np.asarray(a, np.float64)
    lo, hi = a.min(0), a.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.minimum(((a - lo) / span * bins).astype(np.int64), bins - 1)


def binned_entropy(a: np.ndarray, bins: int) -> np.ndarray:
    """Per-unit Shannon entropy (nats) of the binned activations; (U,)."""
    idx = bin_indices(a, bins)
    s, u = idx.shape
    counts = np.zeros((u, bins))
    np.add.at(counts, (np.broadcast_to(np.arange(u), (s, u)), idx), 1.0)
    p = counts / s
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)


def binned_mutual_information(a: np.ndarray, bins: int) -> np.ndarray:
    """(U, U) matrix of I(A_i; A_j) (nats) from binned activations, all pairs from one count matrix."""
    idx = bin_indices(a, bins)
    s, u = idx.shape
    onehot = np.zeros((s, u * bins))
    onehot[np.arange(s)[:, None], np.arange(u)[None, :] * bins + idx] = 1.0
    joint = (onehot.T @ onehot).reshape(u, bins, u, bins) / s  # p(b_i, b_j)
    marg = np.stack([joint[i, :, i, :].diagonal() for i in range(u)])  # (U, bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = joint / (marg[:, :, None, None] * marg[None, None, :, :])
        terms = np.where(joint > 0, joint * np.log(np.where(joint > 0, ratio, 1.0)), 0.0)
    return terms.sum(axis=(1, 3))


def knn_mutual_information(a: np.ndarray, pairs: np.ndarray, seed: int = 0) -> np.ndarray:
    """KSG k-NN estimate (k = 3, scikit-learn) of I(A_i; A_j) for each (i, j) in pairs; nats."""
    from sklearn.feature_selection import mutual_info_regression

    out = []
    for i, j in pairs:
        if np.ptp(a[:, i]) == 0 or np.ptp(a[:, j]) == 0:
            out.append(0.0)  # a constant unit carries no information
            continue
        out.append(float(mutual_info_regression(a[:, [i]], a[:, j], n_neighbors=3, random_state=seed)[0]))
    return np.array(out)


# ------------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class RegimeRecord:
    regime: str
    level: float  # α for spurious, β for shuffled, 0 for clean
    seed: int
    layer: int
    train_acc: float
    test_acc: float  # clean test digits, random code
    mean_entropy: float
    median_entropy: float
    dead_units: int
    mean_mi_binned: float
    mean_mi_knn: float


@dataclasses.dataclass(frozen=True)
class NeuronRecord:
    regime: str
    level: float
    seed: int
    layer: int
    unit: int
    entropy: float


def _regimes(P: Preset):
    return [("clean", 0.0)] + [("spurious", a) for a in P.alphas] + [("shuffled", b) for b in P.shuffles]


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    P = PRESETS[preset] if isinstance(preset, str) else preset
    d = C.load_digits_split(P.n_train, seed=seed)
    rng = np.random.default_rng(seed + 5)
    eye = np.eye(10, dtype=C.DTYPE)
    xs, ys, meta = [], [], []
    for regime, lvl in _regimes(P):
        for s in range(P.seeds):
            code = rng.integers(0, 10, P.n_train)
            y = d.y_train.copy()
            if regime == "spurious":
                obey = rng.random(P.n_train) < lvl
                code = np.where(obey, y, code)
            elif regime == "shuffled":
                y, _ = C.noisy_labels(d.y_train, lvl, 10, rng)
            xs.append(np.concatenate([d.x_train, eye[code]], axis=1)); ys.append(y); meta.append((regime, lvl, s))
    xs, ys = np.stack(xs), np.stack(ys)
    x_test = np.concatenate([d.x_test, eye[rng.integers(0, 10, len(d.y_test))]], axis=1)
    spec = C.TrainSpec((74, P.width, P.width, 10), steps=P.steps, record_every=P.steps // 10)
    res = C.train_many(spec, xs, ys, seeds=[seed * 613 + i for i in range(len(meta))], lr=P.lr,
                       x_eval=np.broadcast_to(x_test, (len(meta),) + x_test.shape), y_eval=d.y_test,
                       progress="information" if progress else False)
    recs, neurons = [], []
    prng = np.random.default_rng(seed + 9)
    for k, (regime, lvl, s) in enumerate(meta):
        pre = mlp_preactivations([w[k] for w in res.kernels], [b[k] for b in res.biases], xs[k])
        for l, z in enumerate(pre):
            a = np.maximum(np.asarray(z, np.float64), 0.0)
            h = binned_entropy(a, P.bins)
            mi = binned_mutual_information(a, P.bins)
            iu = np.triu_indices(a.shape[1], 1)
            pairs = np.stack(iu, 1)[prng.choice(len(iu[0]), size=min(P.knn_pairs, len(iu[0])), replace=False)]
            knn = knn_mutual_information(a, pairs, seed=seed)
            recs.append(RegimeRecord(regime, lvl, s, l + 1, float(res.train_acc()[-1, k]), float(res.eval_acc()[-1, k]),
                                     float(h.mean()), float(np.median(h)), int((np.ptp(a, 0) == 0).sum()),
                                     float(mi[iu].mean()), float(knn.mean())))
            neurons += [NeuronRecord(regime, lvl, s, l + 1, u, float(h[u])) for u in range(len(h))]
    C.write_csv(os.path.join(out, "information.csv"), recs)
    C.write_csv(os.path.join(out, "neurons.csv"), neurons)
    plot(out)
    lines = [f"{len(meta)} MLPs {'-'.join(map(str, spec.widths))} trained in {C.fmt_seconds(res.seconds)}",
             "regime     level layer  train/test acc  mean H (nats)  mean MI binned  mean MI kNN  dead units"]
    for regime, lvl in _regimes(P):
        for l in range(1, len(spec.widths) - 1):
            rs = [r for r in recs if r.regime == regime and r.level == lvl and r.layer == l]
            m = lambda f: np.mean([getattr(r, f) for r in rs])
            lines.append(f"{regime:9s} {lvl:5.2f} {l:5d}  {m('train_acc'):.3f}/{m('test_acc'):.3f}  {m('mean_entropy'):13.3f}"
                         f"  {m('mean_mi_binned'):14.3f}  {m('mean_mi_knn'):11.3f}  {m('dead_units'):.1f}")
    return lines


def plot(out: str) -> None:
    plt = C.pyplot()
    recs = C.read_csv(os.path.join(out, "information.csv"))
    neurons = C.read_csv(os.path.join(out, "neurons.csv"))
    keys = list(dict.fromkeys((r["regime"], float(r["level"])) for r in recs))
    layers = sorted({int(r["layer"]) for r in recs})
    label = lambda k: "clean" if k[0] == "clean" else (f"spurious α={k[1]:g}" if k[0] == "spurious" else f"shuffled β={k[1]:g}")
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.4))
    data, pos, ticks = [], [], []
    for li, l in enumerate(layers):
        for ki, k in enumerate(keys):
            data.append([float(n["entropy"]) for n in neurons if (n["regime"], float(n["level"])) == k and int(n["layer"]) == l])
            pos.append(li * (len(keys) + 1) + ki)
    bp = ax[0].boxplot(data, positions=pos, widths=0.7, patch_artist=True, showfliers=False)
    for i, patch in enumerate(bp["boxes"]):
        patch.set_facecolor(f"C{i % len(keys)}")
    ax[0].set_xticks([li * (len(keys) + 1) + (len(keys) - 1) / 2 for li in range(len(layers))],
                     [f"hidden layer {l}" for l in layers])
    for ki, k in enumerate(keys):
        ax[0].plot([], [], "s", color=f"C{ki}", label=label(k))
    ax[0].set_ylabel("neuron entropy H(A_i) (nats, binned)")
    ax[0].set_title("Intra-neuron diversity (per-neuron entropy)")
    ax[0].legend(fontsize=7)
    for ki, k in enumerate(keys):
        for li, l in enumerate(layers):
            rs = [r for r in recs if (r["regime"], float(r["level"])) == k and int(r["layer"]) == l]
            ax[1].scatter([np.mean([float(r["mean_entropy"]) for r in rs])],
                          [np.mean([float(r["mean_mi_binned"]) for r in rs])], color=f"C{ki}",
                          marker="o" if li == 0 else "^", s=50)
    ax[1].scatter([], [], marker="o", color="k", label="layer 1")
    ax[1].scatter([], [], marker="^", color="k", label="layer 2")
    ax[1].set_xlabel("mean neuron entropy (nats)")
    ax[1].set_ylabel("mean pairwise MI (binned, nats)")
    ax[1].set_title("Regimes in the (entropy, MI) plane (colours as left)")
    ax[1].legend(fontsize=8)
    sh = [k for k in keys if k[0] == "shuffled"]
    xs = [0.0] + [k[1] for k in sh]
    for li, l in enumerate(layers):
        for f, name, ls in (("mean_entropy", "entropy", "-"), ("mean_mi_binned", "MI binned", "--"),
                            ("mean_mi_knn", "MI kNN", ":")):
            v = np.array([np.mean([float(r[f]) for r in recs
                                   if (r["regime"], float(r["level"])) == k and int(r["layer"]) == l])
                          for k in [("clean", 0.0)] + sh])
            ax[2].plot(xs, v / v[0], ls, marker="o", color=f"C{li}", label=f"layer {l}: {name}")
    ax[2].axhline(1.0, color="gray", lw=0.6)
    ax[2].set_xlabel("fraction β of labels redrawn")
    ax[2].set_ylabel("mean over neurons / pairs, relative to clean")
    ax[2].set_title("Entropy and MI vs label shuffling")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "information.png"), dpi=120)
    plt.close(fig)
