"""Randomization test (Zhang et al. 2017) with Arpit et al.'s (2017) clean-before-noisy probe, on digits.

Papers:
  * C. Zhang, S. Bengio, M. Hardt, B. Recht, O. Vinyals, "Understanding deep learning requires
    rethinking generalization", ICLR 2017.
  * D. Arpit et al., "A closer look at memorization in deep networks", ICML 2017.

What is measured (one vmapped training call over every condition x seed):

* label corruption p ∈ {0, 0.2, ..., 1}: a random fraction p of the training labels is redrawn
  uniformly over the 10 classes (Zhang's "partially corrupted labels"; a redrawn label keeps its
  true class w.p. 1/10, so about 0.9 p N labels are wrong), and "random pixels" (Zhang: every
  image gets its own random permutation of its pixels; labels kept);
* steps to fit = the first recorded step at which training accuracy (on the labels the model is
  given) is 100% (resolution ``record_every`` steps; -1 = not within the budget);
* final training accuracy, final test accuracy and the best test accuracy seen during training
  (Arpit: validation accuracy on real data peaks before the noise is fitted);
* per-example fit time (Arpit): the first recorded step from which example i stays correctly
  classified as its given label; summarized separately for clean examples and for examples whose
  label was changed ("noisy"): Arpit et al. report real examples are fitted before noisy ones;
* capacity link: with all labels random (p = 1), the number of random labels fitted after the
  budget, against the parameter count of one-hidden-layer MLPs of growing width, next to the
  constructive guarantee of the same width: Zhang et al.'s theorem (one hidden ReLU layer of width
  d1 interpolates any labels on d1 distinct points; :func:`theory.bounds.zhang_capacity`) and the
  trivial line "all N".

Faithful: the corruption protocols, fixed labels/permutations drawn once, accuracy criteria.
Simplified: digits (1,797 8x8 images) instead of CIFAR-10/ImageNet, a one-hidden-layer MLP instead
of Inception/AlexNet, full-batch Adam instead of SGD with mini-batches, float32; "steps to fit" is
measured at record resolution.  Arpit's loss-sensitivity and critical-sample-ratio probes are not
implemented; neither is Zhang's Gaussian-input or shuffled-pixel (one fixed permutation) variant.

Presets (measured on the shared 2-core CPU, load 3-6): quick = 500 training digits, width 128,
p ∈ {0, 0.2, ..., 1} + random pixels, 2 seeds, 2,000 steps, capacity widths 2..64: 60-85 s.
full = 1,200 digits, width 256, 11 noise levels + random pixels, 5 seeds, 10,000 steps, widths
2..256: about 100x the quick preset's training work (models x N x width x steps), i.e. roughly
1-2 hours on that CPU, a few minutes on one GPU (not measured).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from capacity.experiments.memorization import _common as C

MEASURE = "randomization"
OUTPUTS = ("randomization.csv", "fit_curves.csv", "capacity.csv", "randomization.png", "capacity.png")


@dataclasses.dataclass(frozen=True)
class Preset:
    n_train: int
    width: int
    noise_levels: tuple[float, ...]
    seeds: int
    steps: int
    record_every: int
    lr: float
    capacity_widths: tuple[int, ...]
    capacity_steps: int


PRESETS = {
    "quick": Preset(n_train=500, width=128, noise_levels=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=2, steps=2000,
                    record_every=10, lr=3e-3, capacity_widths=(2, 4, 8, 16, 32, 64), capacity_steps=2000),
    "full": Preset(n_train=1200, width=256, noise_levels=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                   seeds=5, steps=10000, record_every=20, lr=2e-3,
                   capacity_widths=(2, 4, 8, 16, 32, 64, 128, 256), capacity_steps=10000),
}


@dataclasses.dataclass(frozen=True)
class ConditionRecord:
    """One trained model of the randomization test."""

    condition: str  # "labels" or "random_pixels"
    noise: float  # fraction of labels redrawn (0 for random pixels)
    seed: int
    width: int
    n_params: int
    n_train: int
    n_noisy: int  # labels actually changed
    steps_to_fit: int  # -1 if not fitted within the budget
    final_train_acc: float
    final_test_acc: float
    best_test_acc: float
    best_test_step: int
    median_fit_step_clean: float  # NaN when no such example (or some never fitted: see frac)
    median_fit_step_noisy: float
    frac_clean_fitted: float
    frac_noisy_fitted: float


@dataclasses.dataclass(frozen=True)
class FitCurveRow:
    """Fraction of clean / noisy examples stably fitted at a step (mean over seeds)."""

    condition: str
    noise: float
    step: int
    frac_clean_fitted: float
    frac_noisy_fitted: float
    train_acc: float
    test_acc: float


@dataclasses.dataclass(frozen=True)
class CapacityRecord:
    """Random labels (p = 1) fitted by a one-hidden-layer MLP of a given width."""

    width: int
    n_params: int
    seed: int
    n_train: int
    random_labels_fitted: int
    zhang_guarantee: int


def conditions(noise_levels):
    return [("labels", p) for p in noise_levels] + [("random_pixels", 0.0)]


def _median_or_nan(v):
    v = v[v >= 0]
    return float(np.median(v)) if v.size else float("nan")


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    """Train, write the CSVs and figures into ``out``; returns summary lines."""
    from theory.bounds import zhang_capacity

    P = PRESETS[preset] if isinstance(preset, str) else preset
    d = C.load_digits_split(P.n_train, seed=seed)
    rng = np.random.default_rng(seed + 1)
    conds = conditions(P.noise_levels)
    xs, ys, noisy, meta, seeds = [], [], [], [], []
    for ci, (cond, p) in enumerate(conds):
        for s in range(P.seeds):
            if cond == "labels":
                y, m = C.noisy_labels(d.y_train, p, 10, rng)
                x = d.x_train
            else:
                y, m = d.y_train.copy(), np.zeros(P.n_train, bool)
                x = np.stack([row[rng.permutation(row.shape[0])] for row in d.x_train])
            xs.append(x); ys.append(y); noisy.append(m); meta.append((cond, p, s)); seeds.append(1000 * ci + s + seed * 7919)
    xs, ys, noisy = np.stack(xs), np.stack(ys), np.stack(noisy)
    x_eval = np.broadcast_to(d.x_test, (len(seeds),) + d.x_test.shape)
    spec = C.TrainSpec((64, P.width, 10), steps=P.steps, record_every=P.record_every)
    res = C.train_many(spec, xs, ys, seeds=seeds, lr=P.lr, x_eval=x_eval, y_eval=d.y_test,
                       progress="randomization" if progress else False)
    fit_step = C.first_stable_step(res.train_correct, res.steps)  # (K, N)
    tr_acc, te_acc = res.train_acc(), res.eval_acc()  # (R, K)
    records = []
    for k, (cond, p, s) in enumerate(meta):
        full = np.nonzero(tr_acc[:, k] >= 1.0)[0]
        best = int(np.argmax(te_acc[:, k]))
        clean_f, noisy_f = fit_step[k][~noisy[k]], fit_step[k][noisy[k]]
        records.append(ConditionRecord(
            condition=cond, noise=p, seed=s, width=P.width, n_params=spec.n_params, n_train=P.n_train,
            n_noisy=int(noisy[k].sum()), steps_to_fit=int(res.steps[full[0]]) if full.size else -1,
            final_train_acc=float(tr_acc[-1, k]), final_test_acc=float(te_acc[-1, k]),
            best_test_acc=float(te_acc[best, k]), best_test_step=int(res.steps[best]),
            median_fit_step_clean=_median_or_nan(clean_f), median_fit_step_noisy=_median_or_nan(noisy_f),
            frac_clean_fitted=float((clean_f >= 0).mean()) if clean_f.size else float("nan"),
            frac_noisy_fitted=float((noisy_f >= 0).mean()) if noisy_f.size else float("nan")))
    curves = []
    for cond, p in conds:
        ks = [k for k, m in enumerate(meta) if m[0] == cond and m[1] == p]
        for r, st in enumerate(res.steps):
            fc = [np.mean((fit_step[k][~noisy[k]] >= 0) & (fit_step[k][~noisy[k]] <= st)) for k in ks if (~noisy[k]).any()]
            fn = [np.mean((fit_step[k][noisy[k]] >= 0) & (fit_step[k][noisy[k]] <= st)) for k in ks if noisy[k].any()]
            curves.append(FitCurveRow(cond, p, int(st), float(np.mean(fc)) if fc else float("nan"),
                                      float(np.mean(fn)) if fn else float("nan"),
                                      float(tr_acc[r, ks].mean()), float(te_acc[r, ks].mean())))
    # capacity link: all labels random, width sweep (one vmapped call per width, over seeds)
    cap = []
    yr = [C.noisy_labels(d.y_train, 1.0, 10, np.random.default_rng(seed * 31 + s + 5))[0] for s in range(P.seeds)]
    for w in P.capacity_widths:
        cspec = C.TrainSpec((64, w, 10), steps=P.capacity_steps, record_every=P.capacity_steps // 10)
        cres = C.train_many(cspec, d.x_train, np.stack(yr), seeds=[seed * 7919 + 50_000 + w * 100 + s for s in range(P.seeds)],
                            lr=P.lr, progress=f"capacity width {w}" if progress else False)
        for s in range(P.seeds):
            cap.append(CapacityRecord(w, cspec.n_params, s, P.n_train, int(cres.train_correct[-1, s].sum()),
                                      min(zhang_capacity(w), P.n_train)))
    C.write_csv(os.path.join(out, "randomization.csv"), records)
    C.write_csv(os.path.join(out, "fit_curves.csv"), curves)
    C.write_csv(os.path.join(out, "capacity.csv"), cap)
    plot(out)
    return summary(records, cap) + [f"training wall time {C.fmt_seconds(res.seconds)} (conditions)"]


def summary(records, cap) -> list[str]:
    lines = ["condition  noise  steps_to_fit(seeds)  train_acc  test_acc(final/best)  fit-step median clean/noisy"]
    keys = sorted({(r.condition, r.noise) for r in records}, key=lambda t: (t[0] != "labels", t[1]))
    for cond, p in keys:
        rs = [r for r in records if r.condition == cond and r.noise == p]
        lines.append(f"{cond:13s} {p:4.2f}  {','.join(str(r.steps_to_fit) for r in rs):>18s}  "
                     f"{np.mean([r.final_train_acc for r in rs]):.3f}  "
                     f"{np.mean([r.final_test_acc for r in rs]):.3f}/{np.mean([r.best_test_acc for r in rs]):.3f}  "
                     f"{np.nanmean([r.median_fit_step_clean for r in rs]):.0f}/"
                     f"{np.nanmean([r.median_fit_step_noisy for r in rs]) if any(r.n_noisy for r in rs) else float('nan'):.0f}")
    for w in sorted({c.width for c in cap}):
        cs = [c for c in cap if c.width == w]
        lines.append(f"width {w:4d} ({cs[0].n_params} params): random labels fitted "
                     f"{np.mean([c.random_labels_fitted for c in cs]):.0f}/{cs[0].n_train} (Zhang guarantee {cs[0].zhang_guarantee})")
    return lines


def plot(out: str) -> None:
    """Draw randomization.png and capacity.png from the CSVs in ``out``."""
    plt = C.pyplot()
    recs = C.read_csv(os.path.join(out, "randomization.csv"))
    curves = C.read_csv(os.path.join(out, "fit_curves.csv"))
    cap = C.read_csv(os.path.join(out, "capacity.csv"))
    lab = [r for r in recs if r["condition"] == "labels"]
    ps = sorted({float(r["noise"]) for r in lab})
    budget = max(int(c["step"]) for c in curves)

    def agg(field, cond="labels"):
        m, lo, hi = [], [], []
        for p in ps:
            v = np.array([float(r[field]) for r in lab if float(r["noise"]) == p])
            m.append(v.mean()); lo.append(v.min()); hi.append(v.max())
        return np.array(m), np.array(lo), np.array(hi)

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    stf = [[int(r["steps_to_fit"]) for r in lab if float(r["noise"]) == p] for p in ps]
    for p, v in zip(ps, stf):
        ok = [s for s in v if s >= 0]
        ax[0].scatter([p] * len(ok), ok, color="C0", s=18)
        if len(ok) < len(v):
            ax[0].scatter([p] * (len(v) - len(ok)), [budget] * (len(v) - len(ok)), marker="^", color="C3", s=30)
    ax[0].plot(ps, [np.mean([s for s in v if s >= 0]) if any(s >= 0 for s in v) else np.nan for v in stf], color="C0")
    rp = [int(r["steps_to_fit"]) for r in recs if r["condition"] == "random_pixels"]
    ax[0].scatter([1.05] * len(rp), [s if s >= 0 else budget for s in rp], marker="s", color="C2", s=22,
                  label="random pixels (true labels)")
    if any(s < 0 for v in stf for s in v) or any(s < 0 for s in rp):
        ax[0].axhline(budget, color="C3", lw=0.8, ls=":", label=f"budget {budget} steps (▲ = not fitted)")
    ax[0].set_ylim(0, None)
    ax[0].set_xlabel("label corruption p (fraction of labels redrawn)")
    ax[0].set_ylabel("full-batch Adam steps to 100% train accuracy")
    ax[0].set_title(f"Steps to fit vs label noise (budget {budget})")
    ax[0].legend(fontsize=8)
    for field, name, c in (("final_train_acc", "train (final)", "C0"), ("final_test_acc", "test (final)", "C1"),
                           ("best_test_acc", "test (best during training)", "C2")):
        m, lo, hi = agg(field)
        ax[1].plot(ps, m, "o-", color=c, label=name)
        ax[1].fill_between(ps, lo, hi, color=c, alpha=0.2)
    ax[1].axhline(0.1, color="gray", ls=":", label="chance (0.1)")
    ax[1].axhline(np.mean([float(r["final_test_acc"]) for r in recs if r["condition"] == "random_pixels"]),
                  color="C2", ls="--", lw=0.8, label="random pixels: test (final)")
    ax[1].set_xlabel("label corruption p")
    ax[1].set_ylabel("accuracy")
    ax[1].set_title("Fits everything; test accuracy falls with p")
    ax[1].legend(fontsize=8)
    for i, p in enumerate([q for q in ps if 0 < q < 1][:3] or ps[:1]):
        rows = [c for c in curves if c["condition"] == "labels" and float(c["noise"]) == p]
        st = [int(c["step"]) for c in rows]
        ax[2].plot(st, [float(c["frac_clean_fitted"]) for c in rows], color=f"C{i}", label=f"p={p:.1f} clean")
        ax[2].plot(st, [float(c["frac_noisy_fitted"]) for c in rows], color=f"C{i}", ls="--", label=f"p={p:.1f} noisy")
    ax[2].set_xscale("log")
    ax[2].set_xlabel("step")
    ax[2].set_ylabel("fraction of examples fitted (and staying fitted)")
    ax[2].set_title("Arpit et al.: clean examples fitted before noisy ones")
    ax[2].legend(fontsize=8)
    n_train = int(lab[0]["n_train"])
    fig.suptitle(f"Randomization test on digits (N={n_train} train, 1 hidden layer of width {lab[0]['width']}, "
                 f"mean over {len(stf[0])} seeds)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "randomization.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    widths = sorted({int(c["width"]) for c in cap})
    npar = [int(next(c for c in cap if int(c["width"]) == w)["n_params"]) for w in widths]
    fitted = [[int(c["random_labels_fitted"]) for c in cap if int(c["width"]) == w] for w in widths]
    for x, v in zip(npar, fitted):
        ax.scatter([x] * len(v), v, color="C0", s=18)
    ax.plot(npar, [np.mean(v) for v in fitted], "o-", color="C0", label="trained (Adam), random labels fitted")
    ax.plot(npar, [int(next(c for c in cap if int(c["width"]) == w)["zhang_guarantee"]) for w in widths], "s--",
            color="C1", label="construction guarantee, same width (Zhang et al.: d1 points)")
    ncap = int(cap[0]["n_train"])
    ax.axhline(ncap, color="gray", ls=":", label=f"N = {ncap} (all labels)")
    ax.axhline(0.1 * ncap, color="gray", ls="-.", lw=0.8, label="chance level (N/10 right by luck)")
    ax.set_xscale("log")
    ax.set_xticks(npar, [str(v) for v in npar], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("parameters of the 64-d1-10 MLP (d1 = " + ",".join(map(str, widths)) + ")")
    ax.set_ylabel("random labels fitted (of N)")
    ax.set_title("Random labels fitted vs parameters (p = 1)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "capacity.png"), dpi=120)
    plt.close(fig)
