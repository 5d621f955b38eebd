"""SGD near θ*: all trajectories in one vmapped/sharded ``lax.scan`` against per-trajectory loops.

Problem: the quick default of ``capacity sgd`` (trained 5-24-24-1 net, P = 769, N = 32),
mini-batch B = 4, ``TRAJ`` trajectories of ``STEPS`` steps.

* ``vmapped``: :func:`capacity.experiments.sgd.simulate` (vmap over trajectories of the nested scan, sharded
  over the local devices).  Per step it also evaluates the full-data risk, the activation
  pattern on all data, ‖θ − θ*‖ and the pathwise linearized recursion;
* ``loop`` (the obvious code, baseline): one ``jax.jit`` SGD step (:func:`capacity.experiments.sgd.make_step`,
  which also returns the full-data risk), Python loops over trajectories and steps.  It does
  *less* work per step than ``vmapped`` (no pattern, no linear model), so the ratio is conservative;
* ``loop_scan`` (stronger baseline): the same scanned trajectory as ``vmapped``, jitted
  un-vmapped, Python loop over trajectories.

Compile time is excluded (AOT ``lower().compile()``), timings end in ``block_until_ready``::

    .venv/bin/pytest benchmarks/bench_sgd.py --benchmark-only
    .venv/bin/python benchmarks/bench_sgd.py          # prints steps/second and ratios
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
import pytest  # noqa: E402

from capacity.data import generate  # noqa: E402
from capacity.experiments.minima import local_geometry, trained_minimum  # noqa: E402
from capacity.experiments.sgd import (SGDConfig, auto_learning_rate, compile_simulation, initial_points, make_step,  # noqa: E402
                        make_trajectory, simulate)

TRAJ, STEPS, BATCH = 32, 400, 4


def setup():
    ds = generate("gaussian", 32, 5, seed=0)
    m = trained_minimum(ds, [24, 24], seed=2)
    g = local_geometry(m)
    lr, _ = auto_learning_rate(g, m.n, m.dy, BATCH)
    cfg = SGDConfig(steps=STEPS, batch=BATCH, lr=lr, record_every=STEPS // 40)
    theta0, keys, _ = initial_points(m, np.geomspace(1e-5, 1e-1, TRAJ // 4), directions=4, seeds=1)
    return m, g, cfg, theta0, keys


def runners():
    m, g, cfg, theta0, keys = setup()
    compiled = compile_simulation(m, g, cfg, theta0.shape[0])

    def vmapped():
        return simulate(m, g, theta0, keys, cfg, compiled=compiled)

    step = make_step(m, cfg)
    th0, k0 = jnp.asarray(theta0[0]), jnp.asarray(keys[0])
    step_c = step.lower(th0, 0, k0).compile()
    thetas = [jnp.asarray(t) for t in theta0]
    kk = [jnp.asarray(k) for k in keys]

    def loop():
        out = []
        for th, key in zip(thetas, kk):
            for t in range(cfg.steps):
                th, risk = step_c(th, t, key)
            out.append(risk)
        return jax.block_until_ready(out)

    one = jax.jit(make_trajectory(m, g, cfg)).lower(th0, k0).compile()

    def loop_scan():
        return jax.block_until_ready([one(th, key) for th, key in zip(thetas, kk)])

    return {"vmapped": vmapped, "loop": loop, "loop_scan": loop_scan}, TRAJ * STEPS


@pytest.fixture(scope="module")
def fns():
    return runners()[0]


@pytest.mark.parametrize("name", ["vmapped", "loop_scan", "loop"])
def test_sgd_throughput(benchmark, fns, name):
    benchmark.pedantic(fns[name], rounds=2, iterations=1, warmup_rounds=1)


def main():
    fns_, work = runners()
    rates = {}
    for name, f in fns_.items():
        f()  # warm
        t0 = time.perf_counter()
        f()
        rates[name] = work / (time.perf_counter() - t0)
    print(f"{TRAJ} trajectories x {STEPS} steps, P = 769, N = 32, B = {BATCH}, devices = {len(jax.local_devices())}")
    for name, r in rates.items():
        print(f"{name:>10}: {r:12.0f} trajectory-steps/s   ratio vmapped/{name} = {rates['vmapped'] / r:.1f}")


if __name__ == "__main__":
    main()
