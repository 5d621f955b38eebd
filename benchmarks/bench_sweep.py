"""Trained sweep: one vmapped/sharded compiled call against the per-configuration Python loop.

Same work on both sides: the runs of a small phase-diagram slice (depth 3, hidden widths
2/4/8/16, N = 32 Gaussian points, 4 seeds x 3 Adam learning rates = 48 runs), each
trained for exactly ``STEPS`` full-batch Adam updates (tolerance 1e-300, so no run stops
early and both sides do identical arithmetic).

* ``vmapped``: :func:`capacity.train.train_chunk` (vmap over runs of a ``lax.scan`` over
  steps, widths exactly padded), runs sharded over every local device;
* ``loop`` (baseline, the obvious code): per configuration ``jax.jit`` one optax Adam
  step, then Python loops over seeds, learning rates and steps;
* ``loop_scan`` (a stronger baseline): per configuration ``jax.jit`` the whole
  ``lax.scan`` trajectory of one run, Python loops over seeds and learning rates.

Compile time is excluded everywhere (AOT ``lower().compile()`` before timing), and every
timing ends in ``block_until_ready``.  Run::

    .venv/bin/pytest benchmarks/bench_sweep.py --benchmark-only      # pytest-benchmark
    .venv/bin/python benchmarks/bench_sweep.py                       # prints the ratios

The CPU device count is set to the number of cores (``jax_num_cpu_devices``) before
JAX starts, so "sharded" means one shard per core.
"""

from __future__ import annotations

import os
import time

import jax

# One shard per core when measuring (run alone: pytest benchmarks/... or python benchmarks/...).
# Inside the combined test run tests/conftest.py has already chosen 8 virtual devices: keep them.
if not os.environ.get("CAPACITY_TEST_DEVICES"):
    jax.config.update("jax_num_cpu_devices", int(os.environ.get("BENCH_DEVICES", max(1, min(8, os.cpu_count() or 1)))))

import capacity  # noqa: E402,F401  (x64)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

from capacity.data import generate  # noqa: E402
from capacity.networks import mlp_apply as forward  # noqa: E402
from capacity.train import (TrainConfig, padded_init, optimizer, local_mesh,  # noqa: E402
                            train_chunk, Run)

WIDTHS = (2, 4, 8, 16)
N, DX = 32, 4
SEEDS = (0, 1, 2, 3)
LRS = (3e-3, 1e-2, 3e-2)
STEPS = 400
CFG = TrainConfig(max_steps=STEPS, chunk=STEPS + 1, tol=1e-300)


def _runs():
    out = []
    for w in WIDTHS:
        for s in SEEDS:
            ds = generate("gaussian", N, DX, seed=s)
            for lr in LRS:
                out.append(Run(ds.x, ds.y, (w, w), 2**31 + s, lr, 1))
    return out


def vmapped_setup(runs=None):
    """AOT-compiled sharded chunk and its inputs; returns a zero-argument timed callable."""
    runs = _runs() if runs is None else runs
    mesh = local_mesh()
    n_dev = mesh.devices.size
    b = -(-len(runs) // n_dev) * n_dev
    padded = runs + [runs[0]] * (b - len(runs))
    dims = [DX, max(r.hidden[0] for r in runs), max(r.hidden[1] for r in runs), 1]
    inits = [padded_init(r, dims) for r in padded]
    st = lambda j, l: np.stack([it[j][l] for it in inits])
    params = ([st(0, l) for l in range(3)], [st(1, l) for l in range(3)])
    masks = ([st(2, l) for l in range(3)], [st(3, l) for l in range(3)])
    sh = NamedSharding(mesh, P("sweep"))
    put = lambda t: jax.tree.map(lambda a: jax.device_put(jnp.asarray(a), sh), t)
    state = dict(params=params, opt=jax.vmap(optimizer(CFG).init)(jax.tree.map(jnp.asarray, params)),
                 done=np.arange(b) >= len(runs), steps_to_fit=np.full(b, -1), loss=np.full(b, np.nan),
                 residual=np.full(b, np.nan),
                 key=jax.random.wrap_key_data(jnp.stack([jax.random.key_data(jax.random.key(i)) for i in range(b)])),
                 t=np.zeros(b, np.int64))
    x = np.stack([r.x for r in padded])
    y = np.stack([r.y for r in padded])
    lr = np.array([r.lr for r in padded])
    args = put(state), put(x), put(y), put(lr), put(masks)
    compiled = train_chunk.lower(*args, cfg=CFG, n_steps=CFG.chunk).compile()
    state0 = args[0]

    def call():
        # the compiled call donates its state: hand it a fresh copy each time (copy not timed much: KBs)
        s = jax.tree.map(lambda a: a.copy() if hasattr(a, "copy") else a, state0)
        out = compiled(s, *args[1:])
        jax.block_until_ready(out)
        return out

    return call, n_dev


def bucketed_setup():
    """One compiled vmapped call per width (no padding): seeds x lrs batched per shape."""
    calls = [vmapped_setup([r for r in _runs() if r.hidden == (w, w)])[0] for w in WIDTHS]

    def call():
        return [c() for c in calls]

    return call


def _adam_step_fn():
    tx = optax.adam(1.0)  # learning rate applied by hand so one compiled step serves every lr

    def loss(params, x, y):
        return 0.5 * jnp.mean(jnp.sum((forward(params[0], params[1], x) - y) ** 2, axis=-1))

    def step(params, opt, x, y, lr):
        g = jax.grad(loss)(params, x, y)
        upd, opt = tx.update(g, opt, params)
        return jax.tree.map(lambda p, u: p + lr * u, params, upd), opt

    return tx, step


def loop_setup(scan: bool):
    """Per-configuration compiled step (or scan); returns a zero-argument timed callable."""
    tx, step = _adam_step_fn()
    compiled = {}
    items = []
    for r in _runs():
        from capacity.train import he_init

        ks, bs = he_init((DX, *r.hidden, 1), r.init_seed)
        params = ([jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs])
        opt = tx.init(params)
        args = (params, opt, jnp.asarray(r.x), jnp.asarray(r.y), jnp.asarray(r.lr))
        if r.hidden not in compiled:  # jit per configuration, compiled before timing
            if scan:
                def traj(p, o, x, y, lr):
                    return jax.lax.scan(lambda c, _: (step(*c, x, y, lr), None), (p, o), None, length=STEPS)[0]
                compiled[r.hidden] = jax.jit(traj).lower(*args).compile()
            else:
                compiled[r.hidden] = jax.jit(step).lower(*args).compile()
        items.append((compiled[r.hidden], args))

    def call():
        outs = []
        for fn, (p, o, x, y, lr) in items:
            if scan:
                p, o = fn(p, o, x, y, lr)
            else:
                for _ in range(STEPS):
                    p, o = fn(p, o, x, y, lr)
            outs.append(p)
        jax.block_until_ready(outs)
        return outs

    return call


def _best_of(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(repeats: int = 3) -> dict:
    vm, n_dev = vmapped_setup()
    t_vm = _best_of(vm, repeats)
    t_bucket = _best_of(bucketed_setup(), repeats)
    t_loop = _best_of(loop_setup(scan=False), max(1, repeats - 1))
    t_scan = _best_of(loop_setup(scan=True), repeats)
    return dict(devices=n_dev, runs=len(_runs()), steps=STEPS, vmapped_s=t_vm, bucketed_s=t_bucket, loop_s=t_loop,
                loop_scan_s=t_scan, ratio_vs_loop=t_loop / t_vm, ratio_vs_loop_scan=t_scan / t_vm,
                bucketed_ratio_vs_loop=t_loop / t_bucket, bucketed_ratio_vs_loop_scan=t_scan / t_bucket)


def test_vmapped_sweep_vs_per_config_loop(benchmark):
    vm, n_dev = vmapped_setup()
    benchmark.pedantic(vm, rounds=3, iterations=1, warmup_rounds=1)
    t_vm = benchmark.stats.stats.min if benchmark.stats else _best_of(vm, 1)
    t_loop = _best_of(loop_setup(scan=False), 1)
    t_scan = _best_of(loop_setup(scan=True), 2)
    t_bucket = _best_of(bucketed_setup(), 2)
    benchmark.extra_info.update(devices=n_dev, vmapped_s=t_vm, bucketed_s=t_bucket, loop_s=t_loop,
                                loop_scan_s=t_scan, ratio_vs_loop=t_loop / t_vm, ratio_vs_loop_scan=t_scan / t_vm,
                                bucketed_ratio_vs_loop_scan=t_scan / t_bucket)
    print(f"\nvmapped {t_vm:.3f} s | per-config step loop {t_loop:.3f} s ({t_loop / t_vm:.1f}x) | "
          f"per-config scan loop {t_scan:.3f} s ({t_scan / t_vm:.1f}x; bucketed vmap {t_scan / t_bucket:.1f}x) | "
          f"{n_dev} devices")


if __name__ == "__main__":
    r = measure()
    print(f"{r['runs']} runs x {r['steps']} Adam steps, {r['devices']} CPU devices")
    print(f"vmapped+sharded, widths padded (one compiled call): {r['vmapped_s']:.3f} s")
    print(f"vmapped+sharded, one call per width (no padding):  {r['bucketed_s']:.3f} s")
    print(f"per-config loop, jit(step) + Python loops: {r['loop_s']:.3f} s  -> ratio padded {r['ratio_vs_loop']:.1f}x, "
          f"bucketed {r['bucketed_ratio_vs_loop']:.1f}x")
    print(f"per-config loop, jit(scan) per run:        {r['loop_scan_s']:.3f} s  -> ratio padded "
          f"{r['ratio_vs_loop_scan']:.2f}x, bucketed {r['bucketed_ratio_vs_loop_scan']:.2f}x")
