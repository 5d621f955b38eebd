r"""How close real networks come to the piece bound, and the necessity line seen by training.

* :func:`random_piece_stats`: linear pieces along a random line of many random 2-hidden-layer nets
  (batched float enumeration, :func:`capacity.pieces.pieces_batched`) against the bound 2 d1 d2 + d2 + 1
  (the paper's count) and the sharper d1 d2 + d1 + d2 + 1 (first-layer kinks counted once: d1 kinks, plus at
  most one new zero crossing per piece of each of the d2 second-layer pre-activations, d2 (d1 + 1)).
* :func:`train_alternating`: Adam (optax) on the alternating dataset x_i = i, y_i = (-1)^i, i = 1..N, as a
  ``lax.scan`` over steps, ``vmap``-ped over seeds, float64.  Inputs are rescaled affinely to [-1, 1]
  (the first layer absorbs any affine reparametrization, so fittability and piece counts are unchanged).
* :func:`necessity_illustration`: train just below the necessity line (2 d1 d2 + d2 + 2 < N, where every
  network has max residual >= 1 by the certificate), just above it, and at the sufficient yun3 widths.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from capacity.networks import mlp_apply
from capacity.pieces import impossibility_certificate, pieces_batched
from theory import bounds


def random_piece_stats(d1: int, d2: int, *, nets: int = 200, dx: int = 2, seed: int = 0, bias_scale: float = 1.0):
    """Pieces of ``nets`` random (He-normal weights, N(0, bias_scale^2) biases) nets on a random line through 0."""
    rng = np.random.default_rng(seed)
    sizes = [dx, d1, d2, 1]
    ks = [rng.standard_normal((nets, a, b)) * np.sqrt(2.0 / a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal((nets, b)) * bias_scale for b in sizes[1:]]
    direction = rng.standard_normal((nets, dx))
    res = pieces_batched(ks, bs, np.zeros(dx), direction)
    p = np.array([r.pieces for r in res])
    raw = np.array([r.raw_pieces for r in res])
    return {"d1": d1, "d2": d2, "nets": nets, "max_pieces": int(p.max()), "mean_pieces": float(p.mean()),
            "max_raw": int(raw.max()), "bound": bounds.yun3_max_pieces(d1, d2),
            "sharper_bound": bounds.sharper_piece_bound(d1, d2), "pieces": p}


def alternating_dataset(n: int):
    """x_i = i, y_i = (-1)^i, i = 1..n (the certificate's dataset), and x rescaled to [-1, 1]."""
    i = np.arange(1, n + 1, dtype=np.float64)
    y = (-1.0) ** i
    xs = (i - (n + 1) / 2) / max((n - 1) / 2, 1.0)
    return i, y, xs


def _init(key, widths):
    sizes = [1, *widths, 1]
    ks, bs = [], []
    keys = jax.random.split(key, 2 * len(sizes))
    for li, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = jax.random.normal(keys[2 * li], (a, b)) * jnp.sqrt(2.0 / a)
        if li == 0:  # spread first-layer kinks over the data range [-1, 1]
            bias = -w[0] * jax.random.uniform(keys[2 * li + 1], (b,), minval=-1.0, maxval=1.0)
        else:
            bias = 0.1 * jax.random.normal(keys[2 * li + 1], (b,))
        ks.append(w), bs.append(bias)
    return ks, bs


def _apply(params, x):
    """Scalar net on scalar inputs x (n,), through the one forward pass."""
    return mlp_apply(params[0], params[1], x[:, None])[:, 0]


@dataclasses.dataclass
class TrainResult:
    widths: tuple
    n: int
    residuals: np.ndarray  # best max |f(x_i) - y_i| reached by each seed
    kernels: list  # per layer (seeds, in, out) at each seed's best step
    biases: list

    @property
    def best(self) -> float:
        return float(self.residuals.min())


def train_alternating(widths, n: int, *, seeds: int = 8, steps: int = 6000, lr: float = 1e-2, seed: int = 0):
    """Train ``seeds`` networks of hidden ``widths`` on the n-point alternating data; keep each seed's best."""
    _, y, xs = alternating_dataset(n)
    x, y = jnp.asarray(xs), jnp.asarray(y)
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=1e-2))
    params0 = jax.vmap(lambda k: _init(k, widths))(jax.random.split(jax.random.PRNGKey(seed), seeds))

    def loss(p):
        return jnp.mean((_apply(p, x) - y) ** 2)

    def one_step(carry, _):
        p, s, best_p, best_r = carry
        g = jax.grad(loss)(p)
        upd, s = opt.update(g, s, p)
        p = optax.apply_updates(p, upd)
        r = jnp.max(jnp.abs(_apply(p, x) - y))
        better = r < best_r
        best_p = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best_p)
        return (p, s, best_p, jnp.minimum(r, best_r)), None

    @jax.jit
    def run(p0):
        r0 = jnp.max(jnp.abs(_apply(p0, x) - y))
        (_, _, bp, br), _ = jax.lax.scan(one_step, (p0, opt.init(p0), p0, r0), None, length=steps)
        return bp, br

    bp, br = jax.vmap(run)(params0)
    ks, bs = bp
    return TrainResult(tuple(widths), n, np.asarray(br), [np.asarray(k) for k in ks], [np.asarray(b) for b in bs])


def trained_pieces(result: TrainResult):
    """Linear pieces of each trained net: on the whole line and on the data interval [-1, 1]."""
    whole = pieces_batched(result.kernels, result.biases, np.zeros(1), np.ones(1))
    data = pieces_batched(result.kernels, result.biases, np.zeros(1), np.ones(1), interval=(-1.0, 1.0))
    return np.array([r.pieces for r in whole]), np.array([r.pieces for r in data])


def necessity_illustration(n: int = 40, below=(4, 4), *, seeds: int = 8, steps: int = 6000, seed: int = 0,
                           lr: float = 1e-2):
    """Train at widths below the necessity line, just above it, and at yun3-sufficient widths.

    Returns rows with the widths, the threshold T = 2 d1 d2 + d2 + 2, whether the certificate applies,
    the best and median max-residual over seeds, and the pieces of the best net vs the bound.
    """
    first = "below necessity" if impossibility_certificate(below[0], below[1], n).applies else "requested widths"
    cases = [(first, tuple(below)), ("just above necessity", bounds.necessity_escape_widths(n)),
             ("yun3-sufficient", bounds.yun3_smallest_widths(n))]
    rows = []
    for label, w in cases:
        r = train_alternating(w, n, seeds=seeds, steps=steps, seed=seed, lr=lr)
        whole, data = trained_pieces(r)
        b = int(np.argmin(r.residuals))
        rows.append({"case": label, "widths": w, "threshold": bounds.necessity_threshold_3layer(*w),
                     "certified_impossible": impossibility_certificate(w[0], w[1], n).applies,
                     "best_residual": r.best, "median_residual": float(np.median(r.residuals)),
                     "best_net_pieces": int(whole[b]), "best_net_pieces_on_data": int(data[b]),
                     "max_pieces_over_seeds": int(whole.max()), "bound": bounds.yun3_max_pieces(*w),
                     "needed": n - 1})
    return rows


def illustration_lines(rows) -> list[str]:
    out = [f"{'case':22s} {'widths':>8s} {'T':>4s} {'certified':>9s} {'best res':>9s} {'median':>8s} "
           f"{'pieces(best)':>12s} {'max pieces':>10s} {'bound':>5s} {'needed':>6s}"]
    for r in rows:
        out.append(f"{r['case']:22s} {'-'.join(map(str, r['widths'])):>8s} {r['threshold']:4d} "
                   f"{'yes' if r['certified_impossible'] else 'no':>9s} {r['best_residual']:9.3g} "
                   f"{r['median_residual']:8.3g} {r['best_net_pieces']:12d} {r['max_pieces_over_seeds']:10d} "
                   f"{r['bound']:5d} {r['needed']:6d}")
    out.append("best res = min over seeds of max_i |f(x_i) - y_i|; below the line it is >= 1 for every network.")
    return out
