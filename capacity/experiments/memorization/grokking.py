"""Grokking: delayed generalization on modular addition (Power et al. 2022), with an MLP.

Paper: A. Power, Y. Burda, H. Edwards, I. Babuschkin, V. Misra, "Grokking: Generalization beyond
overfitting on small algorithmic datasets", 2022.

Task: the full table of a + b mod p (p² equations); a random fraction f of the equations is the
training set, the rest the validation set.  Input: one-hot(a) ⊕ one-hot(b) ∈ {0,1}^{2p} (the first
layer is then a sum of two learned embeddings, E_a + E_b, followed by a ReLU); output: p logits,
softmax cross-entropy.  Model: one ReLU MLP (:func:`capacity.networks.mlp_apply`) 2p-w-p.
Optimizer: AdamW, lr 3e-3, β = (0.9, 0.98), decoupled weight decay wd (swept), full batch.

Measured per (f, wd, seed), all trained in one vmapped call (the split is a per-model 0/1 loss
weight on the full table): steps until training accuracy ≥ 99% and until validation accuracy ≥ 99%
(the paper's "time to generalize"; record resolution), final accuracies, and the delay between the
two.  Phase diagram: steps to 99% validation over (f, wd).

Faithful: the task, the split protocol, AdamW with β2 = 0.98 and the weight-decay sweep, the 99%
criterion.  Simplified: an MLP on one-hot pairs instead of the 2-layer width-128 transformer on
token sequences (known to grok much faster, so budgets are 10³-10⁴ steps, not 10⁵-10⁶), p = 23
(quick) / 97 (full) instead of 97, no learning-rate warm-up, full batch instead of
min(512, n/2), lr 3e-3 instead of 1e-3 (to keep the CPU preset in minutes), float32.

Presets: quick = p 23, width 128, f ∈ {0.5, 0.6, 0.7, 0.8} x wd ∈ {0.1, 0.3, 1}, one seed, 10,000
steps (≈ 2 min on a busy 2-core CPU).  full = p 97 (9,409 equations), width 512, f ∈ {0.2, 0.3,
..., 0.8} x wd ∈ {0, 0.1, 0.3, 1, 3}, 3 seeds, 20,000 steps: 105 models x 20k full-batch steps over
9,409 rows ≈ 2·10¹⁴ FLOP, minutes on one GPU, many hours on the 2-core CPU.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from capacity.experiments.memorization import _common as C

MEASURE = "grokking"
OUTPUTS = ("grokking.csv", "grokking_curves.csv", "grokking.png", "grokking_phase.png")


@dataclasses.dataclass(frozen=True)
class Preset:
    p: int
    width: int
    fractions: tuple[float, ...]
    weight_decays: tuple[float, ...]
    seeds: int
    steps: int
    record_every: int
    lr: float


PRESETS = {
    "quick": Preset(p=23, width=128, fractions=(0.5, 0.6, 0.7, 0.8), weight_decays=(0.1, 0.3, 1.0), seeds=1,
                    steps=10000, record_every=50, lr=3e-3),
    "full": Preset(p=97, width=512, fractions=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                   weight_decays=(0.0, 0.1, 0.3, 1.0, 3.0), seeds=3, steps=20000, record_every=100, lr=3e-3),
}


def modular_addition(p: int) -> tuple[np.ndarray, np.ndarray]:
    """The full table: x (p², 2p) one-hot(a) ⊕ one-hot(b) (float32), y (p²,) = (a + b) mod p."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    x = np.zeros((p * p, 2 * p), C.DTYPE)
    x[np.arange(p * p), a] = 1.0
    x[np.arange(p * p), p + b] = 1.0
    return x, ((a + b) % p).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class GrokRecord:
    p: int
    fraction: float
    weight_decay: float
    seed: int
    n_train: int
    steps_train_99: int  # -1: not within the budget
    steps_val_99: int
    delay: int  # steps_val_99 - steps_train_99 (-1 if either is missing)
    final_train_acc: float
    final_val_acc: float


@dataclasses.dataclass(frozen=True)
class CurveRow:
    fraction: float
    weight_decay: float
    seed: int
    step: int
    train_acc: float
    val_acc: float


def first_step(acc: np.ndarray, steps: np.ndarray, level: float = 0.99) -> int:
    hit = np.nonzero(acc >= level)[0]
    return int(steps[hit[0]]) if hit.size else -1


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    P = PRESETS[preset] if isinstance(preset, str) else preset
    x, y = modular_addition(P.p)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    meta, masks = [], []
    for f in P.fractions:
        for s in range(P.seeds):
            m = np.zeros(n, bool)
            m[rng.choice(n, size=int(round(f * n)), replace=False)] = True
            for wd in P.weight_decays:  # same split for every weight decay (common random numbers)
                meta.append((f, wd, s)); masks.append(m)
    masks = np.stack(masks)
    spec = C.TrainSpec((2 * P.p, P.width, P.p), steps=P.steps, record_every=P.record_every, b2=0.98)
    res = C.train_many(spec, x, y, weights=masks, seeds=[seed * 10_007 + i for i in range(len(meta))], lr=P.lr,
                       weight_decay=np.array([m[1] for m in meta]), progress="grokking" if progress else False)
    recs, curves = [], []
    for k, (f, wd, s) in enumerate(meta):
        c = res.train_correct[:, k]
        tr, va = c[:, masks[k]].mean(1), c[:, ~masks[k]].mean(1)
        st, sv = first_step(tr, res.steps), first_step(va, res.steps)
        recs.append(GrokRecord(P.p, f, wd, s, int(masks[k].sum()), st, sv, sv - st if st >= 0 and sv >= 0 else -1,
                               float(tr[-1]), float(va[-1])))
        curves += [CurveRow(f, wd, s, int(t), float(a), float(b)) for t, a, b in zip(res.steps, tr, va)]
    C.write_csv(os.path.join(out, "grokking.csv"), recs)
    C.write_csv(os.path.join(out, "grokking_curves.csv"), curves)
    plot(out)
    lines = [f"modular addition mod {P.p}, MLP {2 * P.p}-{P.width}-{P.p}, AdamW lr {P.lr}, {P.steps} steps, "
             f"{len(meta)} models in {C.fmt_seconds(res.seconds)}",
             "fraction  wd    train99  val99  delay  final train/val"]
    for r in recs:
        lines.append(f"{r.fraction:8.2f} {r.weight_decay:5.2f} {r.steps_train_99:7d} {r.steps_val_99:6d} "
                     f"{r.delay:6d}  {r.final_train_acc:.3f}/{r.final_val_acc:.3f}")
    return lines


def plot(out: str) -> None:
    plt = C.pyplot()
    recs = C.read_csv(os.path.join(out, "grokking.csv"))
    curves = C.read_csv(os.path.join(out, "grokking_curves.csv"))
    fr = sorted({float(r["fraction"]) for r in recs})
    wds = sorted({float(r["weight_decay"]) for r in recs})
    budget = max(int(c["step"]) for c in curves)
    p = recs[0]["p"]
    fig, axes = plt.subplots(1, len(wds), figsize=(4.6 * len(wds), 4), sharey=True, squeeze=False)
    for a, wd in zip(axes[0], wds):
        for i, f in enumerate(fr):
            rs = [c for c in curves if float(c["fraction"]) == f and float(c["weight_decay"]) == wd and c["seed"] == "0"]
            st = [int(c["step"]) for c in rs]
            a.plot(st, [float(c["train_acc"]) for c in rs], color=f"C{i}", ls="--", lw=1)
            a.plot(st, [float(c["val_acc"]) for c in rs], color=f"C{i}", label=f"f={f:.1f}")
        a.set_xscale("log")
        a.set_xlabel("step (AdamW, full batch)")
        a.set_title(f"weight decay {wd:g}")
        a.axhline(0.99, color="gray", lw=0.6, ls=":")
    axes[0, 0].set_ylabel("accuracy (dashed: train, solid: validation)")
    axes[0, 0].legend(fontsize=8, title="training fraction")
    fig.suptitle(f"Grokking on a + b mod {p}: training accuracy reaches 1 long before validation accuracy (seed 0)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "grokking.png"), dpi=120)
    plt.close(fig)

    grid = np.full((len(fr), len(wds)), np.nan)
    for i, f in enumerate(fr):
        for j, wd in enumerate(wds):
            v = [int(r["steps_val_99"]) for r in recs if float(r["fraction"]) == f and float(r["weight_decay"]) == wd]
            ok = [s for s in v if s >= 0]
            grid[i, j] = np.median(ok) if len(ok) * 2 > len(v) else np.nan  # median over seeds, if most grokked
    fig, ax = plt.subplots(figsize=(1.6 * len(wds) + 2.5, 0.7 * len(fr) + 2))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("0.85")  # grey: did not reach 99% within the budget
    im = ax.imshow(np.ma.masked_invalid(np.log10(grid)), origin="lower", cmap=cmap, aspect="auto")
    for i in range(len(fr)):
        for j in range(len(wds)):
            dark = np.isfinite(grid[i, j]) and im.norm(np.log10(grid[i, j])) < 0.6
            ax.text(j, i, f"{grid[i, j]:.0f}" if np.isfinite(grid[i, j]) else f">{budget}", ha="center",
                    va="center", fontsize=8, color="w" if dark else "k")
    ax.set_xticks(range(len(wds)), [f"{w:g}" for w in wds])
    ax.set_yticks(range(len(fr)), [f"{f:.1f}" for f in fr])
    ax.set_xlabel("weight decay")
    ax.set_ylabel("training fraction f")
    ax.set_title(f"Steps to 99% validation accuracy (a + b mod {p})")
    fig.colorbar(im, ax=ax, label="log10 steps")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "grokking_phase.png"), dpi=120)
    plt.close(fig)
