"""Benchmarks: yun3 construction time and float64 verification throughput against N.

Run for real (the sizes of the foundation issue, 1e3..1e5 on CPU):

    BENCH_N=1000,10000,100000 .venv/bin/python -m pytest benchmarks/bench_yun3.py --benchmark-enable \
        --benchmark-json=bench_yun3.json

Without ``--benchmark-enable`` (the default, see pyproject.toml) each benchmark runs once
on small sizes as a smoke test.  Verification is timed on an AOT-compiled executable
(compile time kept out) with ``block_until_ready``; achieved FLOP/s come from XLA's own
cost analysis (scaled by the number of chunks) and an analytic count, and NumPy's float64 matmul rate, measured in the same run, is the baseline:
``extra_info["ratio_to_numpy_matmul"]`` is the figure to quote.  (On machines where
OPENBLAS_CORETYPE is forced, NumPy's own rate is lowered; the ratio is against what NumPy does
on this machine, in this run.)
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from capacity import data
from capacity.constructions import yun3
from capacity.networks import mlp_forward_bounded
from theory.bounds import yun3_smallest_widths

SIZES = [int(v) for v in os.environ.get("BENCH_N", "300,1000").split(",")]
DX = 16


def _numpy_matmul_flops_per_s(n=2048, k=512, m=512, reps=5) -> float:
    a = np.random.default_rng(0).standard_normal((n, k))
    b = np.random.default_rng(1).standard_normal((k, m))
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2.0 * n * k * m * reps / (time.perf_counter() - t0)


@pytest.fixture(scope="module")
def numpy_rate():
    return _numpy_matmul_flops_per_s()


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"N={n}")
def problem(request):
    n = request.param
    ds = data.generate("gaussian", n, DX, seed=0)
    return ds, yun3_smallest_widths(n)


def test_construction_time(benchmark, problem):
    ds, widths = problem
    benchmark.extra_info.update(n=ds.n, widths=list(widths))
    con = benchmark.pedantic(lambda: yun3.build(ds, widths), rounds=1, iterations=1)
    assert con.record["capacity"] >= ds.n


def test_verification_throughput(benchmark, problem, numpy_rate):
    ds, widths = problem
    con = yun3.build(ds, widths)
    ks = [jnp.asarray(k) for k in con.kernels]
    bs = [jnp.asarray(b) for b in con.biases]
    x = jnp.asarray(ds.x)
    compiled = jax.jit(mlp_forward_bounded, static_argnames=("activation", "chunk")).lower(
        ks, bs, x, activation="relu", chunk=4096).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    # XLA's count covers one trip of the lax.map loop (one chunk); scale it by the number of chunks.
    n_chunks = -(-ds.n // min(4096, ds.n))
    xla_flops = float(cost.get("flops", 0.0)) * n_chunks if cost else 0.0
    # analytic: per layer three matmuls (value, |h||W| scale, error propagation), 2 flops per MAC
    flops = 3.0 * 2.0 * ds.n * sum(k.shape[0] * k.shape[1] for k in con.kernels)
    compiled(ks, bs, x)[0].block_until_ready()
    out = benchmark.pedantic(lambda: compiled(ks, bs, x)[0].block_until_ready(), rounds=3, iterations=1,
                             warmup_rounds=1)
    assert out.shape == (ds.n, 1)
    mean = benchmark.stats.stats.mean if benchmark.stats else None
    if mean:
        rate = flops / mean
        benchmark.extra_info.update(n=ds.n, widths=list(widths), analytic_flops=flops, xla_flops=xla_flops,
                                    points_per_s=ds.n / mean,
                                    flops_per_s=rate, numpy_matmul_flops_per_s=numpy_rate,
                                    ratio_to_numpy_matmul=rate / numpy_rate)
