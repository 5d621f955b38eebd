"""Training many small MLPs at once: pure ``lax.scan`` steps, vmapped and sharded.

One call of :func:`train_runs` trains a batch of *runs* (one network each) that
share the data shape (N, dx, dy) and the depth L, typically every seed x learning
rate x width of one cell group of a sweep.  The hot loop is one jit-compiled
function, ``vmap`` over runs of a ``lax.scan`` over ``chunk`` optimizer steps, on
plain arrays (split state, no ``nnx.jit``); a host loop calls it chunk after chunk
and stops as soon as every run has finished.

Model and objective (per run):

* f(x) = the ReLU MLP of :func:`capacity.networks.mlp_apply` (the one forward pass), hidden widths
  ``(d_1, ..., d_{L-1})``, He initialisation ``W_l ~ N(0, 2/fan_in)``, zero biases,
  drawn on the host by NumPy from the run's ``init_seed`` and its *real* widths
  (so a run's initial weights do not depend on what it is batched with);
* loss ``mse``:  (1/2N) Σ_i ||f(x_i) - y_i||²  (real labels), or ``xent``: mean
  softmax cross-entropy of integer classes;
* optimizer: optax ``scale_by_adam`` (Adam) or ``trace(momentum)`` (SGD, plain when
  momentum = 0), followed by ``-lr``; the learning rate is a per-run array, so
  learning rates vmap like seeds;
* full batch, or mini-batches of ``batch_size`` points drawn without replacement
  at each step (``jax.random.permutation``) from the run's key.

Interpolation test, made *before* each update on the current weights:

* real labels: residual = max_i ||f(x_i) - y_i||_∞; fits when residual < ``tol``;
* classes: residual = max_i (max_{c≠y_i} f_c(x_i) - f_{y_i}(x_i)) (the worst
  classification margin, negative when every point is right); fits when
  residual < 0, i.e. 100% training accuracy.

A run that fits is frozen (its parameters and optimizer state stop changing:
masking, since a vmapped scan cannot exit per lane) and records
``steps_to_fit`` = the number of updates it took (0 if it fit at init); runs that
never fit record -1.  ``final_loss`` / ``final_residual`` are those of the last
checked weights (at the fit, or after ``max_steps`` updates).

Heterogeneous widths in one batch use **exact padding**: hidden layers are padded to
the batch's largest width with zero incoming and outgoing weights, and the
gradient updates of padded entries are masked to zero, so a padded unit is always
exactly 0 and the padded network computes the same function as the unpadded one
(the zero terms added to each dot product are exact in floating point; only the
summation order of XLA's matmul may differ, at the level of rounding).

Sharding: the run axis is padded to a multiple of the device count (padding runs
are marked finished from the start and dropped) and placed with
``NamedSharding(mesh, P("sweep"))``; the vmapped computation needs no collective.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from capacity.errors import CapacityError, ShapeError
from capacity.networks import mlp_apply
from theory.bounds import mlp_parameter_count

OPTIMIZERS = ("adam", "sgd")
LOSSES = ("mse", "xent")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters shared by every run of a batch (learning rates are per run).

    Attributes:
      optimizer: ``"adam"`` or ``"sgd"``.
      momentum: SGD momentum (0 = plain SGD); ignored by Adam.
      loss: ``"mse"`` (real labels) or ``"xent"`` (classes).
      max_steps: optimizer updates before a run gives up.
      chunk: updates per compiled ``lax.scan`` call (the early-exit granularity).
      batch_size: points per mini-batch, or ``None`` for full batch.
      tol: residual tolerance for real labels (classes always need margin < 0).
    """

    optimizer: str = "adam"
    momentum: float = 0.0
    loss: str = "mse"
    max_steps: int = 2000
    chunk: int = 250
    batch_size: int | None = None
    tol: float = 1e-3

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise CapacityError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise CapacityError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.max_steps < 0 or self.chunk < 1:
            raise CapacityError(f"need max_steps >= 0 and chunk >= 1; got {self.max_steps}, {self.chunk}")
        if self.batch_size is not None and self.batch_size < 1:
            raise CapacityError(f"batch_size must be >= 1 or None (full batch); got {self.batch_size}")
        if not self.tol > 0:
            raise CapacityError(f"tol must be > 0; got {self.tol}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Run:
    """One network to train: its data, hidden widths, init seed and learning rate."""

    x: np.ndarray  # (N, dx) float64
    y: np.ndarray  # (N, dy) float64, or (N,) int64 classes
    hidden: tuple[int, ...]
    init_seed: int
    lr: float
    out_dim: int  # dy, or number of classes


def he_init(widths: Sequence[int], seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """He-normal kernels (in, out) with variance 2/fan_in and zero biases, float64, from NumPy."""
    rng = np.random.default_rng(seed)
    kernels = [rng.standard_normal((a, b)) * math.sqrt(2.0 / a) for a, b in zip(widths[:-1], widths[1:])]
    biases = [np.zeros(b) for b in widths[1:]]
    return kernels, biases


def optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """The update direction of ``cfg`` before the per-run learning rate: Adam, or SGD with momentum."""
    if cfg.optimizer == "adam":
        return optax.scale_by_adam()
    return optax.trace(decay=cfg.momentum) if cfg.momentum else optax.identity()


def _loss(cfg: TrainConfig, out, y):
    if cfg.loss == "mse":
        return 0.5 * jnp.mean(jnp.sum((out - y) ** 2, axis=-1))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out, y))


def _residual(cfg: TrainConfig, out, y):
    if cfg.loss == "mse":
        return jnp.max(jnp.abs(out - y))
    own = jnp.take_along_axis(out, y[:, None], axis=1)[:, 0]
    others = jnp.where(jax.nn.one_hot(y, out.shape[1], dtype=bool), -jnp.inf, out)
    return jnp.max(jnp.max(others, axis=1) - own)


def _fit_threshold(cfg: TrainConfig) -> float:
    return cfg.tol if cfg.loss == "mse" else 0.0


def _run_chunk(cfg: TrainConfig, n_steps: int, state, x, y, lr, masks):
    """``n_steps`` masked updates of one run (vmapped by the caller).

    state: dict(params=(kernels, biases), opt, done, steps_to_fit, loss, residual, key)
    masks: (kernel_masks, bias_masks), 1 on real entries and 0 on padding.
    """
    tx = optimizer(cfg)
    thr = _fit_threshold(cfg)
    n = x.shape[0]

    def loss_of(params, xb, yb):
        out = mlp_apply(params[0], params[1], xb)
        return _loss(cfg, out, yb), out

    def step(st, _):
        t = st["t"]
        params = st["params"]
        if cfg.batch_size is None or cfg.batch_size >= n:
            (loss, out), g = jax.value_and_grad(loss_of, has_aux=True)(params, x, y)
            key = st["key"]
        else:
            out = mlp_apply(params[0], params[1], x)
            loss = _loss(cfg, out, y)
            key, sub = jax.random.split(st["key"])
            idx = jax.random.permutation(sub, n)[: cfg.batch_size]
            g = jax.grad(lambda p: loss_of(p, x[idx], y[idx])[0])(params)
        res = _residual(cfg, out, y)
        check = (t <= cfg.max_steps) & ~st["done"]
        newly = check & (res < thr)
        done = st["done"] | newly
        g = jax.tree.map(lambda a, m: a * m, g, masks)
        upd, opt2 = tx.update(g, st["opt"], params)
        params2 = jax.tree.map(lambda p, u, m: p - lr * u * m, params, upd, masks)
        apply = ~done & (t < cfg.max_steps)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, old)
        new = dict(
            params=keep(params2, params),
            opt=keep(opt2, st["opt"]),
            done=done,
            steps_to_fit=jnp.where(newly, t, st["steps_to_fit"]),
            loss=jnp.where(check, loss, st["loss"]),
            residual=jnp.where(check, res, st["residual"]),
            key=key,
            t=t + 1,
        )
        return new, None

    state, _ = jax.lax.scan(step, state, None, length=n_steps)
    return state


@functools.partial(jax.jit, static_argnames=("cfg", "n_steps"), donate_argnums=(0,))
def train_chunk(state, x, y, lr, masks, *, cfg: TrainConfig, n_steps: int):
    """One compiled call: ``n_steps`` updates of every run (leading axis of all arrays)."""
    return jax.vmap(functools.partial(_run_chunk, cfg, n_steps))(state, x, y, lr, masks)


def padded_init(run: Run, dims: Sequence[int]):
    """He-initialised parameters of ``run`` exactly padded to layer sizes ``dims``, with the masks that
    keep the padded entries at zero (see the module docstring)."""
    widths = (run.x.shape[1],) + tuple(run.hidden) + (run.out_dim,)
    ks, bs = he_init(widths, run.init_seed)
    pk, pb, mk, mb = [], [], [], []
    for l, (k, b) in enumerate(zip(ks, bs)):
        a, c = dims[l], dims[l + 1]
        K = np.zeros((a, c)); K[: k.shape[0], : k.shape[1]] = k
        M = np.zeros((a, c)); M[: k.shape[0], : k.shape[1]] = 1.0
        B = np.zeros(c); B[: b.shape[0]] = b
        Mb = np.zeros(c); Mb[: b.shape[0]] = 1.0
        pk.append(K); pb.append(B); mk.append(M); mb.append(Mb)
    return pk, pb, mk, mb


def local_mesh(devices=None) -> Mesh:
    """A 1-D mesh ``("sweep",)`` over this process's devices (all local devices by default)."""
    devices = list(devices if devices is not None else jax.local_devices())
    return Mesh(np.array(devices), ("sweep",))


def train_runs(runs: Sequence[Run], cfg: TrainConfig, *, mesh: Mesh | None = None,
               pad_width: int = 0, return_params: bool = False) -> list[dict]:
    """Train every run of ``runs`` in one vmapped, sharded, chunked computation.

    All runs must share N, dx, the output dimension and the depth; hidden widths may
    differ (exact padding, see the module docstring).  ``pad_width`` pads every hidden
    layer to at least that width, so batches of different widths share one compiled
    shape (fewer compilations, more work per step).

    Returns:
      one dict per run: steps_to_fit (-1 if never), fitted (bool), final_loss,
      final_residual, n_params, steps_run (updates applied); with ``return_params``
      also ``kernels`` and ``biases`` (NumPy, padding removed): the weights at the fit,
      or after ``max_steps`` updates.
    """
    if not runs:
        return []
    r0 = runs[0]
    n, dx = r0.x.shape
    depth = len(r0.hidden) + 1
    for i, r in enumerate(runs):
        if r.x.shape != (n, dx) or len(r.hidden) + 1 != depth or r.out_dim != r0.out_dim or r.y.shape != r0.y.shape:
            raise ShapeError(f"run {i} has x {r.x.shape}, depth {len(r.hidden) + 1}, labels {r.y.shape}; "
                             f"a batch needs the shapes of run 0 (x {(n, dx)}, depth {depth}, labels {r0.y.shape})")
    classes = cfg.loss == "xent"
    if classes != np.issubdtype(r0.y.dtype, np.integer):
        raise ShapeError(f"loss {cfg.loss!r} needs {'integer class' if classes else 'real'} labels; got {r0.y.dtype}")
    mesh = mesh if mesh is not None else local_mesh()
    n_dev = mesh.devices.size
    dims = [dx] + [max([pad_width] + [r.hidden[l] for r in runs]) for l in range(depth - 1)] + [r0.out_dim]
    b_real = len(runs)
    b = -(-b_real // n_dev) * n_dev
    padded = list(runs) + [runs[0]] * (b - b_real)  # padding runs: done from the start, dropped

    inits = [padded_init(r, dims) for r in padded]
    stack = lambda j, l: np.stack([it[j][l] for it in inits])
    kernels = [stack(0, l) for l in range(depth)]
    biases = [stack(1, l) for l in range(depth)]
    masks = ([stack(2, l) for l in range(depth)], [stack(3, l) for l in range(depth)])
    x = np.stack([r.x for r in padded]).astype(np.float64)
    y = np.stack([r.y for r in padded])
    y = y.astype(np.int64) if classes else y.astype(np.float64)
    lr = np.array([r.lr for r in padded], np.float64)
    keys = np.stack([np.asarray(jax.random.key_data(jax.random.key(r.init_seed))) for r in padded])
    params = (kernels, biases)
    opt = jax.vmap(optimizer(cfg).init)(jax.tree.map(jnp.asarray, params))
    state = dict(
        params=params, opt=opt,
        done=np.arange(b) >= b_real,
        steps_to_fit=np.full(b, -1, np.int64),
        loss=np.full(b, np.nan), residual=np.full(b, np.nan),
        key=jax.random.wrap_key_data(jnp.asarray(keys)),
        t=np.zeros(b, np.int64),
    )
    sh = NamedSharding(mesh, P("sweep"))
    put = lambda tree: jax.tree.map(lambda a: jax.device_put(a, sh), tree)
    state, x, y, lr, masks = put(state), put(x), put(y), put(lr), put(masks)
    steps_done = 0
    # one extra check after max_steps updates: iterations t = 0..max_steps
    # always whole chunks (one compiled shape); iterations past max_steps are masked no-ops
    while steps_done <= cfg.max_steps:
        state = train_chunk(state, x, y, lr, masks, cfg=cfg, n_steps=cfg.chunk)
        steps_done += cfg.chunk
        if bool(jnp.all(state["done"])):
            break
    stf = np.asarray(state["steps_to_fit"])[:b_real]
    loss = np.asarray(state["loss"])[:b_real]
    res = np.asarray(state["residual"])[:b_real]
    out = []
    for i, r in enumerate(runs):
        widths = (dx,) + tuple(r.hidden) + (r.out_dim,)
        fitted = bool(stf[i] >= 0)
        out.append(dict(steps_to_fit=int(stf[i]), fitted=fitted, final_loss=float(loss[i]),
                        final_residual=float(res[i]), n_params=mlp_parameter_count(widths),
                        steps_run=int(stf[i]) if fitted else int(cfg.max_steps)))
    if return_params:
        ks = [np.asarray(k) for k in state["params"][0]]
        bs = [np.asarray(v) for v in state["params"][1]]
        for i, r in enumerate(runs):
            widths = (dx,) + tuple(r.hidden) + (r.out_dim,)
            out[i]["kernels"] = [ks[l][i, : widths[l], : widths[l + 1]] for l in range(depth)]
            out[i]["biases"] = [bs[l][i, : widths[l + 1]] for l in range(depth)]
    return out
