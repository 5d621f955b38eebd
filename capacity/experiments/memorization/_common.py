"""Shared machinery of the memorization measures: data, many small MLPs trained at once, output dirs.

Data: scikit-learn's ``load_digits`` (1,797 8x8 grey images, 10 classes; the file ships inside
the scikit-learn wheel, nothing is downloaded).  Pixels are scaled from 0..16 to [0, 1].

Training (:func:`train_many`): K independent ReLU MLPs (the one forward pass,
:func:`capacity.networks.mlp_apply`), each with its own initial weights, labels, per-example
weights (a 0/1 weight removes an example from the training set: the Feldman-Zhang subsets, the
grokking train split), learning rate and weight decay.  One ``jax.jit`` of ``jax.vmap`` over the
K models of a ``lax.scan`` over ``record_every`` full-batch optimizer steps; a host loop calls it
``steps // record_every`` times (tqdm progress on stderr) and records, after each call, which
training and evaluation examples every model classifies correctly.

Precision: training runs in **float32** (``DTYPE``) for speed, not the project's float64; this
is a measurement of what a trained network does, not a certificate, and float32 is what the
papers used.  Matmuls use ``precision="highest"`` (inside ``mlp_apply``) so a GPU does not
silently drop to TF32.

Objective of model k (full batch):

    L_k(θ) = Σ_i w_ki ℓ(f_θ(x_ki), y_ki) / Σ_i w_ki            (+ the ELR term, see below)

with ℓ the softmax cross-entropy.  Optimizer: Adam (β1, β2 of :class:`TrainSpec`) followed by
decoupled weight decay (AdamW: ``θ ← θ - lr (adam(g) + wd θ)``; wd = 0 gives Adam), or plain
gradient descent (``"sgd"``: ``θ ← θ - lr (g + wd θ)``).

ELR (Liu et al. 2020), ``loss="elr"``, following the authors' code: p_i = clip(softmax(f(x_i)),
1e-4, 1 - 1e-4); first the running target t_i ← β t_i + (1 - β) sg(p_i / Σ_c p_ic) (t starts at
0; with full batch every example is visited once per step), then the loss adds
λ · mean_i log(1 - ⟨t_i, p_i⟩) (mean over the examples with w_ki > 0).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import os
import sys
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from capacity.errors import CapacityError
from capacity.networks import mlp_apply
from capacity.train import he_init
from theory.bounds import mlp_parameter_count as n_params

DTYPE = np.float32
LOSSES = ("xent", "elr")
OPTIMIZERS = ("adam", "sgd")
ELR_CLAMP = 1e-4


# ------------------------------------------------------------------------------------ data


@dataclasses.dataclass(frozen=True)
class Digits:
    """A train/test split of scikit-learn's digits; x in [0, 1] (float32), y in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray  # rows of load_digits() used for training
    test_index: np.ndarray

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])


def load_digits_split(n_train: int, n_test: int | None = None, seed: int = 0) -> Digits:
    """A random split of the 1,797 digits: ``n_train`` training points, ``n_test`` test points
    (default: all the others).  Deterministic given ``seed``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(DTYPE)
    y = d.target.astype(np.int32)
    total = x.shape[0]
    n_test = total - n_train if n_test is None else n_test
    if n_train < 1 or n_test < 0 or n_train + n_test > total:
        raise CapacityError(f"digits has {total} images; asked for {n_train} train + {n_test} test. "
                            f"Use n_train + n_test <= {total}.")
    perm = np.random.default_rng(seed).permutation(total)
    tr, te = np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_test])
    return Digits(x[tr], y[tr], x[te], y[te], tr, te)


def noisy_labels(y: np.ndarray, fraction: float, n_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Zhang et al.'s corruption: a random ``fraction`` of the examples (round(fraction N) of them)
    get a label drawn uniformly from all ``n_classes`` classes, so a redrawn label keeps its true
    class with probability 1/n_classes and about fraction (1 - 1/n_classes) N labels end up wrong.
    (Drawing only from the *other* classes would make a fully corrupted set anti-informative: test
    accuracy falls below chance, which is not the randomization test.)

    Returns (new labels, boolean mask of the examples whose label actually changed).
    """
    n = y.shape[0]
    k = int(round(fraction * n))
    idx = rng.choice(n, size=k, replace=False)
    y2 = y.copy()
    y2[idx] = rng.integers(0, n_classes, size=k)
    return y2, y2 != y


# -------------------------------------------------------------------------------- training


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Hyper-parameters shared by the K models of one :func:`train_many` call.

    Attributes:
      widths: layer sizes (dx, d1, ..., n_classes).
      steps: full-batch optimizer steps.
      record_every: steps between records (``steps`` must be a multiple).
      optimizer: ``"adam"`` (AdamW when weight decay > 0) or ``"sgd"`` (gradient descent).
      b1, b2: Adam's moment decays.
      loss: ``"xent"`` or ``"elr"``.
      elr_lambda, elr_beta: ELR's λ and β.
    """

    widths: tuple[int, ...]
    steps: int
    record_every: int
    optimizer: str = "adam"
    b1: float = 0.9
    b2: float = 0.999
    loss: str = "xent"
    elr_lambda: float = 3.0
    elr_beta: float = 0.7

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise CapacityError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise CapacityError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise CapacityError(f"widths must be (dx, d1, ..., classes), all >= 1; got {self.widths}")
        if self.record_every < 1 or self.steps < self.record_every or self.steps % self.record_every:
            raise CapacityError(f"steps ({self.steps}) must be a positive multiple of record_every ({self.record_every})")

    @property
    def n_params(self) -> int:
        return n_params(self.widths)


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_many` measured.

    Attributes:
      steps: (R,) the step count after each record (record_every, 2 record_every, ...).
      train_correct: (R, K, N) bool, model k classifies training example i as its (model's) label.
      eval_correct: (R, K, M) bool, the same on the evaluation set (None without one).
      train_pred: (K, N) int, final predicted class of every training example.
      loss: (R, K) training objective at each record.
      kernels, biases: final weights, stacked over models (NumPy float32).
      seconds: wall time of the training loop (compilation included).
    """

    steps: np.ndarray
    train_correct: np.ndarray
    eval_correct: np.ndarray | None
    train_pred: np.ndarray
    loss: np.ndarray
    kernels: list
    biases: list
    seconds: float

    def train_acc(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(R, K) accuracy on the training examples (those with weight > 0 when given)."""
        if weights is None:
            return self.train_correct.mean(axis=2)
        w = (np.asarray(weights) > 0)[None]
        return (self.train_correct & w).sum(axis=2) / np.maximum(w.sum(axis=2), 1)

    def eval_acc(self) -> np.ndarray:
        return self.eval_correct.mean(axis=2)


def init_params(widths: Sequence[int], seeds: Sequence[int]):
    """He-normal initial weights (variance 2/fan_in, zero biases) of one model per seed,
    stacked on a leading model axis, float32 (drawn by :func:`capacity.train.he_init`)."""
    inits = [he_init(widths, int(s)) for s in seeds]
    kernels = [np.stack([it[0][l] for it in inits]).astype(DTYPE) for l in range(len(widths) - 1)]
    biases = [np.stack([it[1][l] for it in inits]).astype(DTYPE) for l in range(len(widths) - 1)]
    return kernels, biases


def elr_terms(logits, targets, beta):
    """ELR's clamped probabilities and updated targets for one model.

    p = clip(softmax(logits), 1e-4, 1 - 1e-4);  t' = β t + (1 - β) sg(p / Σ_c p_c).
    Returns (p, t').
    """
    p = jnp.clip(jax.nn.softmax(logits, axis=-1), ELR_CLAMP, 1.0 - ELR_CLAMP)
    ps = jax.lax.stop_gradient(p)
    t_new = beta * targets + (1.0 - beta) * ps / jnp.sum(ps, axis=-1, keepdims=True)
    return p, t_new


def elr_regularizer(p, t, weights):
    """mean_i log(1 - ⟨t_i, p_i⟩) over the examples with weight > 0."""
    inner = jnp.sum(t * p, axis=-1)
    on = (weights > 0).astype(p.dtype)
    return jnp.sum(on * jnp.log(1.0 - inner)) / jnp.maximum(jnp.sum(on), 1.0)


def _objective(spec: TrainSpec, params, x, y, w, targets):
    logits = mlp_apply(params[0], params[1], x)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    loss = jnp.sum(w * ce) / jnp.maximum(jnp.sum(w), 1e-12)
    if spec.loss == "elr":
        p, t_new = elr_terms(logits, targets, spec.elr_beta)
        loss = loss + spec.elr_lambda * elr_regularizer(p, t_new, w)
        return loss, t_new
    return loss, targets


def _model_chunk(spec: TrainSpec, n_steps: int, state, x, y, w, lr, wd):
    """``n_steps`` full-batch updates of one model (vmapped over models by the caller)."""
    adam = optax.scale_by_adam(b1=spec.b1, b2=spec.b2)

    def step(st, _):
        params, opt, targets = st
        (loss, t_new), g = jax.value_and_grad(lambda p: _objective(spec, p, x, y, w, targets), has_aux=True)(params)
        if spec.optimizer == "adam":
            upd, opt = adam.update(g, opt, params)
        else:
            upd = g
        params = jax.tree.map(lambda p_, u: p_ - lr * (u + wd * p_), params, upd)
        return (params, opt, t_new), loss

    (params, opt, targets), losses = jax.lax.scan(step, state, None, length=n_steps)
    return (params, opt, targets), losses[-1]


@functools.partial(jax.jit, static_argnames=("spec", "n_steps", "x_axis"))
def _chunk(state, x, y, w, lr, wd, x_eval, y_eval, *, spec: TrainSpec, n_steps: int, x_axis):
    state, loss = jax.vmap(functools.partial(_model_chunk, spec, n_steps),
                           in_axes=(0, x_axis, 0, 0, 0, 0))(state, x, y, w, lr, wd)

    def measure(params, xm, ym, xe, ye):
        pred = jnp.argmax(mlp_apply(params[0], params[1], xm), axis=-1)
        ev = jnp.argmax(mlp_apply(params[0], params[1], xe), axis=-1) == ye if xe is not None else None
        return pred == ym, pred, ev

    correct, pred, ev = jax.vmap(measure, in_axes=(0, x_axis, 0, None if x_eval is None else x_axis,
                                                   None if y_eval is None else 0))(state[0], x, y, x_eval, y_eval)
    return state, loss, correct, pred, ev


def _per_model(v, k: int, name: str, dtype=DTYPE) -> np.ndarray:
    a = np.asarray(v, dtype=dtype)
    if a.ndim == 0:
        return np.full(k, a, dtype=dtype)
    if a.shape != (k,):
        raise CapacityError(f"{name} must be a scalar or one value per model ({k}); got shape {a.shape}")
    return a


def train_many(spec: TrainSpec, x, y, *, seeds: Sequence[int], weights=None, lr=1e-3, weight_decay=0.0,
               x_eval=None, y_eval=None, progress: bool | str = False) -> TrainResult:
    """Train K = len(seeds) MLPs at once (see the module docstring).

    Args:
      spec: shared hyper-parameters.
      x: (N, dx) inputs shared by all models, or (K, N, dx) per-model inputs.
      y: (N,) or (K, N) integer labels.
      seeds: one initialisation seed per model.
      weights: (K, N) or (N,) per-example loss weights (0 removes an example); default all 1.
      lr, weight_decay: scalars or one value per model.
      x_eval, y_eval: optional evaluation set, (M, dx) (or (K, M, dx) when x is per-model) and
        (M,) or (K, M) labels.
      progress: show a tqdm bar on stderr (a string is used as its description).
    """
    import time

    from tqdm.auto import tqdm

    k = len(seeds)
    x = np.asarray(x, DTYPE)
    per_model_x = x.ndim == 3
    if x.shape[-1] != spec.widths[0] or (per_model_x and x.shape[0] != k):
        raise CapacityError(f"x has shape {x.shape}; need (N, {spec.widths[0]}) or ({k}, N, {spec.widths[0]})")
    n = x.shape[-2]
    y = np.broadcast_to(np.asarray(y, np.int32), (k, n)).copy()
    w = np.ones((k, n), DTYPE) if weights is None else np.broadcast_to(np.asarray(weights, DTYPE), (k, n)).copy()
    if y.min() < 0 or y.max() >= spec.widths[-1]:
        raise CapacityError(f"labels must lie in 0..{spec.widths[-1] - 1}; got {y.min()}..{y.max()}")
    lr_a, wd_a = _per_model(lr, k, "lr"), _per_model(weight_decay, k, "weight_decay")
    if x_eval is not None:
        x_eval = np.asarray(x_eval, DTYPE)
        y_eval = np.broadcast_to(np.asarray(y_eval, np.int32), (k, x_eval.shape[-2])).copy()
    kernels, biases = init_params(spec.widths, seeds)
    params = (kernels, biases)
    opt = jax.vmap(optax.scale_by_adam(b1=spec.b1, b2=spec.b2).init)(jax.tree.map(jnp.asarray, params))
    targets = np.zeros((k, n, spec.widths[-1]), DTYPE)
    state = (params, opt, targets)
    x_axis = 0 if per_model_x else None
    n_rec = spec.steps // spec.record_every
    steps, losses, correct, ev_correct = [], [], [], []
    pred = None
    t0 = time.perf_counter()
    bar = tqdm(total=spec.steps, desc=progress if isinstance(progress, str) else "training",
               disable=not progress, file=sys.stderr, unit="step", leave=False)
    for r in range(n_rec):
        state, loss, c, pred, ev = _chunk(state, x, y, w, lr_a, wd_a, x_eval, y_eval,
                                          spec=spec, n_steps=spec.record_every, x_axis=x_axis)
        steps.append((r + 1) * spec.record_every)
        losses.append(np.asarray(loss))
        correct.append(np.asarray(c))
        if ev is not None:
            ev_correct.append(np.asarray(ev))
        bar.update(spec.record_every)
    bar.close()
    seconds = time.perf_counter() - t0
    fk = [np.asarray(a) for a in state[0][0]]
    fb = [np.asarray(a) for a in state[0][1]]
    return TrainResult(np.asarray(steps), np.stack(correct), np.stack(ev_correct) if ev_correct else None,
                       np.asarray(pred), np.stack(losses), fk, fb, seconds)


def first_stable_step(correct: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per example, the first recorded step from which it stays correctly classified to the end.

    correct: (R, ...) bool over records.  Returns an array of shape ``correct.shape[1:]`` with the
    step, or -1 where the example is wrong at the last record.
    """
    r = correct.shape[0]
    # index of the last wrong record; the example is stably right from the next one
    wrong = ~correct
    any_wrong = wrong.any(axis=0)
    last_wrong = r - 1 - np.argmax(wrong[::-1], axis=0)
    first = np.where(any_wrong, last_wrong + 1, 0)
    out = np.where(first < r, np.asarray(steps)[np.minimum(first, r - 1)], -1)
    return out


# ------------------------------------------------------------------------------ outputs


def default_out_dir(measure: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", "memorization", f"{measure}-{stamp}")


def prepare_out_dir(path: str | os.PathLike, names: Sequence[str]) -> str:
    """Create ``path`` and refuse (CapacityError) if any output file ``names`` already exists there."""
    path = os.fspath(path)
    clash = [n for n in names if os.path.exists(os.path.join(path, n))]
    if clash:
        raise CapacityError(f"{path} already holds {', '.join(clash)}; choose a new --out directory "
                            f"(outputs are never overwritten)")
    os.makedirs(path, exist_ok=True)
    return path


def write_csv(path: str, rows: Sequence) -> None:
    """Rows of dataclass records (or dicts) to CSV, atomically; header from the first row."""
    import csv

    dicts = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]
    if not dicts:
        raise CapacityError(f"nothing to write to {path}")
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(dicts[0]))
        wr.writeheader()
        for d in dicts:
            wr.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in d.items()})
    os.replace(tmp, path)


def read_csv(path: str) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pyplot():
    """matplotlib.pyplot with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, n_boot: int = 200, q: float = 0.95):
    """Percentile bootstrap interval of the mean of ``values`` along axis 0."""
    n = values.shape[0]
    idx = rng.integers(0, n, size=(n_boot, n))
    means = values[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - q) / 2, (1 + q) / 2], axis=0)
    return lo, hi


def fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


__all__ = ["DTYPE", "Digits", "load_digits_split", "noisy_labels", "TrainSpec", "TrainResult", "train_many",
           "init_params", "elr_terms", "elr_regularizer", "first_stable_step", "default_out_dir",
           "prepare_out_dir", "write_csv", "read_csv", "pyplot", "bootstrap_ci", "math"]
