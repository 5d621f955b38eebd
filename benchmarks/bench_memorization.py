"""Memorization measures: K models trained in one vmapped run against the per-model jitted loop.

Problem: the Feldman-Zhang subset training of :mod:`capacity.experiments.memorization.feldman_zhang`
(digits, a 64-W-10 MLP, full-batch Adam, each model on its own random 70% subset through per-example
loss weights).

* ``vmapped``: one :func:`capacity.experiments.memorization._common.train_many` call for all K models
  (vmap over models of one ``lax.scan``);
* ``loop`` (baseline, the code a user would write): the same jitted scan for one model, called K times.

Compile time is excluded: both are warmed up first (same shapes hit the jit cache), and
``train_many`` returns host arrays (blocked on the device).  Ratios, not absolute times, are the
result::

    .venv/bin/python -m pytest benchmarks/bench_memorization.py --benchmark-enable
    BENCH_K=128 BENCH_STEPS=200 .venv/bin/python benchmarks/bench_memorization.py
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import capacity  # noqa: F401  (x64 on; the measures train in float32 by design)
from capacity.experiments import memorization as C
from capacity.experiments.memorization.feldman_zhang import random_subsets

K = int(os.environ.get("BENCH_K", 8))
STEPS = int(os.environ.get("BENCH_STEPS", 40))
N_TRAIN = int(os.environ.get("BENCH_N", 300))


def runners(k=K, steps=STEPS, n_train=N_TRAIN, width=64):
    d = C.load_digits_split(n_train, 0, seed=0)
    masks = random_subsets(k, n_train, 0.7, np.random.default_rng(0))
    spec = C.TrainSpec((64, width, 10), steps=steps, record_every=steps)

    def vmapped():
        return C.train_many(spec, d.x_train, d.y_train, weights=masks, seeds=range(k), lr=3e-3)

    def loop():
        return [C.train_many(spec, d.x_train, d.y_train, weights=masks[i:i + 1], seeds=[i], lr=3e-3)
                for i in range(k)]

    vmapped(), loop()  # compile both shapes once
    return {"vmapped": vmapped, "loop": loop}


@pytest.fixture(scope="module")
def fns():
    return runners()


@pytest.mark.parametrize("name", ["vmapped", "loop"])
def test_memorization_training_throughput(benchmark, fns, name):
    benchmark.pedantic(fns[name], rounds=2, iterations=1, warmup_rounds=0)


def main():
    import time

    fns_ = runners()
    t = {}
    for name, f in fns_.items():
        t0 = time.perf_counter()
        f()
        t[name] = time.perf_counter() - t0
    print(f"K = {K} models x {STEPS} Adam steps, N = {N_TRAIN} digits: vmapped {t['vmapped']:.3f} s, "
          f"per-model loop {t['loop']:.3f} s, ratio loop / vmapped = {t['loop'] / t['vmapped']:.2f}")


if __name__ == "__main__":
    main()
