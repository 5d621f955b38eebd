"""Benchmarks: the exact engine (capacity.exact.certify_mlp) against the float64 verify pass.

Run for real:

    BENCH_EXACT_N=2000,10000,100000 .venv/bin/python -m pytest benchmarks/bench_exact.py \
        --benchmark-enable --benchmark-json=bench_exact.json

Without ``--benchmark-enable`` (the default) each benchmark runs once on small sizes as a smoke
test.  The baseline is ``capacity.verification.verify`` on the same network and data, timed in
the same run after a first call (JIT compile time excluded); ``extra_info["ratio_to_float_verify"]``
is the figure to quote (exact wall time / float verify wall time), next to the tier counts and
the process's peak RSS.  (For the scaling table with per-process peak memory see
``benchmarks/exact_scaling.py``.)
"""

from __future__ import annotations

import os
import time

import jax.numpy as jnp
import numpy as np
import pytest

from capacity import constructions, data
from capacity.exact import certify_mlp
from capacity.networks import MLPNet, mlp_apply
from capacity.verification import verify
from theory.bounds import yun3_smallest_widths

SIZES = [int(float(v)) for v in os.environ.get("BENCH_EXACT_N", "300").split(",")]
GENERAL_N = int(float(os.environ.get("BENCH_EXACT_GENERAL_N", "300")))
GENERAL_W = int(os.environ.get("BENCH_EXACT_GENERAL_W", "16"))


def _float_verify_seconds(net: MLPNet, ds) -> float:
    verify(net, ds)  # compile
    t0 = time.perf_counter()
    verify(net, ds)
    return time.perf_counter() - t0


def _record(benchmark, result, seconds, t_float, **info):
    benchmark.extra_info.update(info, exact_seconds=seconds, float_verify_seconds=t_float,
                                ratio_to_float_verify=seconds / t_float, tiers=result.tiers, method=result.method,
                                level=result.level, exact_residual=result.exact_residual,
                                peak_rss_bytes=result.peak_rss_bytes)


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"N={n}")
def yun3_problem(request):
    n = request.param
    ds = data.generate("gaussian", n, 16, seed=0)
    con = constructions.build("yun3", ds, yun3_smallest_widths(n))
    net = con.network()
    return ds, net, _float_verify_seconds(net, ds)


def test_certify_yun3(benchmark, yun3_problem):
    ds, net, t_float = yun3_problem
    y = ds.y_original  # regression labels (N, dy)
    t = {}

    def run():
        t0 = time.perf_counter()
        r = certify_mlp(net.kernels, net.biases, ds.x, y)
        t["s"] = time.perf_counter() - t0
        return r

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    assert r.method == "rank-one sweep" and r.tiers["exact"] == ds.n and r.residual_is_exact
    _record(benchmark, r, t["s"], t_float, n=ds.n, widths=list(net.widths))


@pytest.mark.parametrize("tol", [0.0, 1e-10])
def test_certify_general(benchmark, tol):
    rng = np.random.default_rng(0)
    widths = [16, GENERAL_W, GENERAL_W, 1]
    ks = [rng.normal(size=(a, b)) * np.sqrt(2.0 / a) for a, b in zip(widths[:-1], widths[1:])]
    bs = [rng.normal(size=b) * 0.1 for b in widths[1:]]
    x = rng.normal(size=(GENERAL_N, 16))
    y = np.asarray(mlp_apply([jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs], jnp.asarray(x)))
    ds = data.make_dataset(x, y, classification=False, allow_out_of_box=True)
    t_float = _float_verify_seconds(MLPNet(ks, bs, "relu"), ds)
    t = {}

    def run():
        t0 = time.perf_counter()
        r = certify_mlp(ks, bs, x, y, tol=tol)
        t["s"] = time.perf_counter() - t0
        return r

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    assert r.method.startswith("integer")
    assert r.level == ("certified-bound" if tol > 0 else r.level)
    _record(benchmark, r, t["s"], t_float, n=GENERAL_N, widths=widths, tol=tol)
