"""Where memorization sits in a self-supervised encoder: LayerMem and UnitMem (Wang et al. 2024), small.

Paper: W. Wang, A. Dziedzic, M. Backes, F. Boenisch, "Localizing Memorization in SSL Vision
Encoders", NeurIPS 2024 (LayerMem, UnitMem), building on SSLMem (Wang et al. 2024, "Memorization
in self-supervised learning improves downstream generalization").

Setting (simplified): an MLP encoder 64-w-w-z on digits (one forward pass,
:func:`capacity.networks.mlp_apply`; layer representations are the post-ReLU hidden activations
from :func:`capacity.networks.mlp_preactivations` and the output), trained with the SimCLR
NT-Xent loss (temperature 0.5, full batch, Adam, float32) on two augmentations per image per
step.  Augmentation: a random translation of the 8x8 image by -1, 0 or +1 pixel in each direction
(zero fill) plus Gaussian pixel noise (std 0.1) [our choice].

Models (the paper's protocol): encoder f is trained on S_shared ∪ S_candidate, encoder g on
S_shared ∪ S_extra (an equally large disjoint set), so the candidates are "seen" by f only; each
seed gives one (f, g) pair, all pairs trained in one vmapped call.

Formulas:
  * alignment d_l(h, x) = E over A augmentation pairs (x', x'') of ‖ĥ_l(x') - ĥ_l(x'')‖₂, with ĥ_l
    the L2-normalised layer-l representation (the official code normalises flattened features);
  * SSLMem_l(x) = d_l(g, x) - d_l(f, x)  (positive: f aligns x's views better because it saw x);
  * LayerMem(l) = mean over candidates of SSLMem_l(x); ΔLayerMem(l) = LayerMem(l) - LayerMem(l-1).
    The paper normalises SSLMem to [0, 1]; the official code divides differences by their max-min
    range.  We report the raw mean (in units of normalised-feature distance) and, separately, the
    same divided by the mean d_l(g, x) (a relative score) [reconstructed: normalisation].
  * UnitMem(u) = (μ_max,u - μ_-max,u) / (μ_max,u + μ_-max,u), μ_{x,u} = activation of unit u on x
    averaged over augmentations, μ_max,u = max over candidates, μ_-max,u = MEAN over the other
    candidates (the paper's text; the official code uses the median; flagged, not resolved).
  * Atypicality of a candidate: its distance to its class centroid in pixel space, divided by the
    class's mean such distance [our proxy; the paper uses its own atypicality measures].  We report
    the Spearman correlation between atypicality and SSLMem per layer.

Faithful: the f/g protocol, the alignment distance, the LayerMem mean and ΔLayerMem, the UnitMem
formula (mean version).  Simplified: an MLP on 8x8 digits instead of ResNet/ViT on CIFAR/ImageNet,
weak augmentations, no projection head separate from the encoder output, few seeds.

Presets: quick = 400 shared + 100 candidates (+ 100 extra), width 128, output 32, 1,000 steps, 2
seeds, 8 augmentation pairs: about 1.5 min on the shared 2-core CPU.  full = 1,000 shared + 250 +
250, width 256, 10,000 steps, 5 seeds, 32 pairs: roughly 100x the work, a few hours on that CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from capacity.experiments.memorization import _common as C
from capacity.networks import mlp_apply, mlp_preactivations

MEASURE = "layermem"
OUTPUTS = ("layermem.csv", "unitmem.csv", "sslmem.csv", "layermem.png")
TEMPERATURE = 0.5
NOISE = 0.1


@dataclasses.dataclass(frozen=True)
class Preset:
    n_shared: int
    n_candidates: int
    width: int
    out_dim: int
    steps: int
    seeds: int
    pairs: int
    lr: float


PRESETS = {
    "quick": Preset(n_shared=400, n_candidates=100, width=128, out_dim=32, steps=1000, seeds=2, pairs=8, lr=1e-3),
    "full": Preset(n_shared=1000, n_candidates=250, width=256, out_dim=64, steps=10000, seeds=5, pairs=32, lr=1e-3),
}


def augment(key, x):
    """Random ±1-pixel translation (zero fill) and Gaussian noise of each 8x8 image in x (N, 64)."""
    n = x.shape[0]
    k1, k2, k3 = jax.random.split(key, 3)
    sh = jax.random.randint(k1, (n, 2), -1, 2)
    img = x.reshape(n, 8, 8)
    pad = jnp.pad(img, ((0, 0), (1, 1), (1, 1)))

    def crop(im, s):
        return jax.lax.dynamic_slice(im, (1 - s[0], 1 - s[1]), (8, 8))

    out = jax.vmap(crop)(pad, sh).reshape(n, 64)
    return out + NOISE * jax.random.normal(k3, out.shape, out.dtype)


_augment = jax.jit(augment)


def nt_xent(z1, z2, temperature: float = TEMPERATURE):
    """SimCLR's NT-Xent loss of two views (N, d) each: mean over the 2N anchors of
    -log( exp(s(i, i⁺)/τ) / Σ_{k ≠ i} exp(s(i, k)/τ) ), s = cosine similarity."""
    z = jnp.concatenate([z1, z2], axis=0)
    z = z / jnp.linalg.norm(z, axis=1, keepdims=True)
    n = z1.shape[0]
    sim = jnp.matmul(z, z.T, precision=jax.lax.Precision.HIGHEST) / temperature
    sim = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, sim)
    pos = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    return jnp.mean(jax.scipy.special.logsumexp(sim, axis=1) - sim[jnp.arange(2 * n), pos])


def _train_one(params, x, key, lr, steps: int):
    adam = optax.scale_by_adam()
    opt = adam.init(params)

    def step(carry, k):
        p, o = carry
        ka, kb = jax.random.split(k)
        loss, g = jax.value_and_grad(lambda q: nt_xent(mlp_apply(q[0], q[1], augment(ka, x)),
                                                       mlp_apply(q[0], q[1], augment(kb, x))))(p)
        u, o = adam.update(g, o, p)
        p = jax.tree.map(lambda a, b: a - lr * b, p, u)
        return (p, o), loss

    (params, _), losses = jax.lax.scan(step, (params, opt), jax.random.split(key, steps))
    return params, losses


@functools.partial(jax.jit, static_argnames=("steps",))
def train_encoders(params, x, keys, lr, *, steps: int):
    """Train one encoder per leading index of params / x (N_k, 64) / keys, vmapped."""
    return jax.vmap(functools.partial(_train_one, steps=steps), in_axes=(0, 0, 0, None))(params, x, keys, lr)


@jax.jit
def representations(kernels, biases, x):
    """[post-ReLU hidden layer 1, ..., output] of the encoder on x."""
    pre = mlp_preactivations(kernels, biases, x)
    return [jax.nn.relu(p) for p in pre] + [mlp_apply(kernels, biases, x)]


@functools.partial(jax.jit, static_argnames=("pairs",))
def alignment(kernels, biases, x, key, pairs: int):
    """(layers, N): mean over augmentation pairs of the L2 distance of the normalised representations."""
    def one(k):
        ka, kb = jax.random.split(k)
        ra = representations(kernels, biases, augment(ka, x))
        rb = representations(kernels, biases, augment(kb, x))
        unit = lambda r: r / jnp.maximum(jnp.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        return jnp.stack([jnp.linalg.norm(unit(a) - unit(b), axis=1) for a, b in zip(ra, rb)])

    return jnp.mean(jax.lax.map(one, jax.random.split(key, pairs)), axis=0)


def unit_mem(mu: np.ndarray, use_median: bool = False) -> np.ndarray:
    """UnitMem per unit from mu (points, units) of augmentation-averaged non-negative activations.

    (μ_max - μ_-max) / (μ_max + μ_-max), μ_-max the mean (paper) or median (official code) of the
    other points; units that never activate get 0.
    """
    mu = np.asarray(mu, np.float64)
    top = mu.argmax(0)
    mx = mu.max(0)
    rest = np.where(np.arange(mu.shape[0])[:, None] == top[None, :], np.nan, mu)
    other = np.nanmedian(rest, axis=0) if use_median else np.nanmean(rest, axis=0)
    den = mx + other
    return np.where(den > 0, (mx - other) / np.where(den > 0, den, 1.0), 0.0)


@dataclasses.dataclass(frozen=True)
class LayerRecord:
    seed: int
    layer: str
    layermem: float  # mean SSLMem over candidates (raw)
    layermem_relative: float  # divided by the mean d(g, x)
    delta_layermem: float
    spearman_atypicality: float
    mean_unitmem_f: float
    mean_unitmem_g: float
    frac_units_over_06_f: float  # units with UnitMem > 0.6 (almost single-point units)
    frac_units_over_06_g: float


@dataclasses.dataclass(frozen=True)
class UnitRecord:
    seed: int
    layer: str
    unit: int
    unitmem_f: float
    unitmem_g: float
    unitmem_f_median: float


@dataclasses.dataclass(frozen=True)
class SslRecord:
    seed: int
    candidate: int
    label: int
    atypicality: float
    layer: str
    sslmem: float
    d_f: float
    d_g: float


def _spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def run(preset: str | Preset, out: str, seed: int = 0, progress: bool = True) -> list[str]:
    import time

    P = PRESETS[preset] if isinstance(preset, str) else preset
    n_all = P.n_shared + 2 * P.n_candidates
    d = C.load_digits_split(n_all, 0, seed=seed)
    x, y = d.x_train, d.y_train
    shared = np.arange(P.n_shared)
    cand = np.arange(P.n_shared, P.n_shared + P.n_candidates)
    extra = np.arange(P.n_shared + P.n_candidates, n_all)
    xf = x[np.concatenate([shared, cand])]
    xg = x[np.concatenate([shared, extra])]
    widths = (64, P.width, P.width, P.out_dim)
    models = [(s, "f") for s in range(P.seeds)] + [(s, "g") for s in range(P.seeds)]
    ks, bs = C.init_params(widths, [seed * 7919 + s for s, _ in models])  # f and g of a seed: same init
    ks = [np.concatenate([k[: P.seeds], k[: P.seeds]]) for k in ks]
    bs = [np.concatenate([b[: P.seeds], b[: P.seeds]]) for b in bs]
    xs = np.stack([xf if w == "f" else xg for _, w in models])
    keys = jax.random.split(jax.random.key(seed), len(models))
    t0 = time.perf_counter()
    if progress:
        print(f"layermem: training {len(models)} encoders ({P.steps} steps, one compiled call)...", file=__import__("sys").stderr)
    (fk, fb), losses = jax.block_until_ready(train_encoders((ks, bs), jnp.asarray(xs), keys, P.lr, steps=P.steps))
    t_train = time.perf_counter() - t0
    fk = [np.asarray(a) for a in fk]; fb = [np.asarray(a) for a in fb]
    xc = jnp.asarray(x[cand])
    # atypicality: distance to the class centroid of all n_all images, relative to the class mean
    cent = np.stack([x[y == c].mean(0) for c in range(10)])
    dist = np.linalg.norm(x - cent[y], axis=1)
    rel = dist / np.array([dist[y == c].mean() for c in range(10)])[y]
    atyp = rel[cand]
    names = [f"hidden {i + 1}" for i in range(len(widths) - 2)] + ["output"]
    layer_recs, unit_recs, ssl_recs = [], [], []
    for s in range(P.seeds):
        ia, ib = s, P.seeds + s
        ka = jax.random.key(seed * 31 + s)
        d_f = np.asarray(alignment([k[ia] for k in fk], [b[ia] for b in fb], xc, ka, P.pairs))
        d_g = np.asarray(alignment([k[ib] for k in fk], [b[ib] for b in fb], xc, ka, P.pairs))
        mem = d_g - d_f  # (layers, candidates)
        # UnitMem on the candidates, activations averaged over augmentations
        def mu_of(i):
            reps = [representations([k[i] for k in fk], [b[i] for b in fb], _augment(kk, xc))
                    for kk in jax.random.split(jax.random.key(seed * 37 + s), P.pairs)]
            return [np.mean([np.asarray(r[l]) for r in reps], axis=0) for l in range(len(names) - 1)]
        mu_f, mu_g = mu_of(ia), mu_of(ib)
        prev = 0.0
        for l, name in enumerate(names):
            lm = float(mem[l].mean())
            if l < len(names) - 1:
                uf, ug = unit_mem(mu_f[l]), unit_mem(mu_g[l])
                ufm = unit_mem(mu_f[l], use_median=True)
                unit_recs += [UnitRecord(s, name, u, float(uf[u]), float(ug[u]), float(ufm[u])) for u in range(len(uf))]
                um = (float(uf.mean()), float(ug.mean()), float((uf > 0.6).mean()), float((ug > 0.6).mean()))
            else:
                um = (float("nan"),) * 4  # the output is linear (not non-negative): UnitMem undefined
            layer_recs.append(LayerRecord(s, name, lm, lm / float(d_g[l].mean()), lm - prev,
                                          _spearman(atyp, mem[l]), *um))
            prev = lm
            ssl_recs += [SslRecord(s, int(i), int(y[cand[i]]), float(atyp[i]), name, float(mem[l, i]),
                                   float(d_f[l, i]), float(d_g[l, i])) for i in range(len(cand))]
    C.write_csv(os.path.join(out, "layermem.csv"), layer_recs)
    C.write_csv(os.path.join(out, "unitmem.csv"), unit_recs)
    C.write_csv(os.path.join(out, "sslmem.csv"), ssl_recs)
    plot(out)
    lines = [f"{len(models)} encoders {'-'.join(map(str, widths))} trained in {C.fmt_seconds(t_train)}; final NT-Xent "
             f"f {np.asarray(losses)[:P.seeds, -1].mean():.3f}, g {np.asarray(losses)[P.seeds:, -1].mean():.3f} "
             f"(start {np.asarray(losses)[:, 0].mean():.3f})",
             "layer      LayerMem  relative  ΔLayerMem  Spearman(atyp, SSLMem)  mean UnitMem f/g  units>0.6 f/g"]
    for name in names:
        rs = [r for r in layer_recs if r.layer == name]
        m = lambda f: np.mean([getattr(r, f) for r in rs])
        lines.append(f"{name:9s} {m('layermem'):9.4f} {m('layermem_relative'):9.3f} {m('delta_layermem'):10.4f} "
                     f"{m('spearman_atypicality'):22.3f}  {m('mean_unitmem_f'):.3f}/{m('mean_unitmem_g'):.3f}"
                     f"  {m('frac_units_over_06_f'):.3f}/{m('frac_units_over_06_g'):.3f}")
    return lines


def plot(out: str) -> None:
    plt = C.pyplot()
    lay = C.read_csv(os.path.join(out, "layermem.csv"))
    units = C.read_csv(os.path.join(out, "unitmem.csv"))
    ssl = C.read_csv(os.path.join(out, "sslmem.csv"))
    names = list(dict.fromkeys(r["layer"] for r in lay))
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    seeds = sorted({r["seed"] for r in lay})
    for s in seeds:
        ax[0].plot(names, [float(r["layermem"]) for r in lay if r["seed"] == s], "o-", color="C0", alpha=0.6)
        ax[0].plot(names, [float(r["delta_layermem"]) for r in lay if r["seed"] == s], "s--", color="C1", alpha=0.6)
    ax[0].plot([], [], "o-", color="C0", label="LayerMem (mean SSLMem of candidates)")
    ax[0].plot([], [], "s--", color="C1", label="ΔLayerMem")
    ax[0].axhline(0, color="gray", lw=0.6)
    ax[0].set_ylabel("d(g, x) - d(f, x)  (normalised-feature distance)")
    ax[0].set_title(f"LayerMem per layer ({len(seeds)} seeds)")
    ax[0].legend(fontsize=8)
    hid = [n for n in names if n != "output"]
    bins = np.linspace(0, 1, 26)
    for i, n in enumerate(hid):
        ax[1].hist([float(u["unitmem_f"]) for u in units if u["layer"] == n], bins=bins, histtype="step",
                   color=f"C{i}", label=f"{n}, f (saw candidates)")
        ax[1].hist([float(u["unitmem_g"]) for u in units if u["layer"] == n], bins=bins, histtype="step",
                   color=f"C{i}", ls="--", label=f"{n}, g (did not)")
    ax[1].set_xlabel("UnitMem (1 = unit fires for one candidate only)")
    ax[1].set_ylabel("units")
    ax[1].set_title("UnitMem of hidden units on the candidates")
    ax[1].legend(fontsize=7)
    for i, n in enumerate(names):
        rs = [r for r in ssl if r["layer"] == n and r["seed"] == seeds[0]]
        ax[2].scatter([float(r["atypicality"]) for r in rs], [float(r["sslmem"]) for r in rs], s=8, color=f"C{i}",
                      alpha=0.6, label=n)
    ax[2].axhline(0, color="gray", lw=0.6)
    ax[2].set_xlabel("atypicality (distance to class centroid / class mean)")
    ax[2].set_ylabel("SSLMem of the candidate")
    ax[2].set_title("Atypical candidates vs memorization (seed 0)")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "layermem.png"), dpi=120)
    plt.close(fig)
