"""Benchmarks: the exact engine (capacity.exact.certify_mlp) against the float64 verify pass.

Run for real:

    BENCH_EXACT_N=2000,10000,100000 .venv/bin/python -m pytest benchmarks/bench_exact.py \
        --benchmark-enable --benchmark-json=bench_exact.json

Without ``--benchmark-enable`` (the default) each benchmark runs once on small sizes as a smoke
test.  The baseline is ``capacity.verification.verify`` on the same network and data, timed in
the same run after a first call (JIT compile time excluded); ``extra_info["ratio_to_float_verify"]``
is the figure to quote (exact wall time / float verify wall time, the verify best of 3), next to
the tier counts and the process's peak RSS.  ``BENCH_EXACT_RATIONAL_N`` sizes yun3's rational
rebuild (long denominators: the canonical-rational path), ``BENCH_EXACT_VARDI_N`` Vardi's deep
exact-integer network (baseline: a NumPy forward pass of its weights rounded to float64),
``BENCH_EXACT_REPEATS`` the best-of count of the exact general-network runs.  (For the scaling table with per-process peak memory see
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
RATIONAL_N = int(float(os.environ.get("BENCH_EXACT_RATIONAL_N", "300")))
VARDI_N = int(float(os.environ.get("BENCH_EXACT_VARDI_N", "100")))
REPEATS = int(os.environ.get("BENCH_EXACT_REPEATS", "1"))  # best of this many (float baselines: best of 3)
GENERAL_N = int(float(os.environ.get("BENCH_EXACT_GENERAL_N", "300")))
GENERAL_W = int(os.environ.get("BENCH_EXACT_GENERAL_W", "16"))


def _float_verify_seconds(net: MLPNet, ds) -> float:
    verify(net, ds)  # compile
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        verify(net, ds)
        best = min(best, time.perf_counter() - t0)
    return best


def _best_of(fn, t: dict):
    """Run fn REPEATS times, keep the fastest wall time in t["s"]; return the last result."""
    best, r = float("inf"), None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        r = fn()
        best = min(best, time.perf_counter() - t0)
    t["s"] = best
    return r


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
        return _best_of(lambda: certify_mlp(ks, bs, x, y, tol=tol), t)

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    assert r.method.startswith("integer")
    assert r.level == ("certified-bound" if tol > 0 else r.level)
    _record(benchmark, r, t["s"], t_float, n=GENERAL_N, widths=widths, tol=tol)


def test_certify_rational_rebuild(benchmark):
    """yun3's construction carried out in exact rationals (long, unrelated denominators): the
    canonical-rational path.  Baseline: the float verify of the same construction's float network."""
    from capacity.verification import certify

    n = RATIONAL_N
    ds = data.generate("gaussian", n, 16, seed=0)
    widths = yun3_smallest_widths(n)
    entry = constructions.get("yun3", "relu")
    con = entry.build(ds, widths, activation="relu", seed=0)
    exact_net = entry.exact_network(ds, widths, con, seed=0)
    t_float = _float_verify_seconds(con.network(), ds)
    t = {}

    def run():
        return _best_of(lambda: certify(exact_net, ds, tol=1e-6), t)

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    assert r.level == "certified-exact" and "canonical rationals" in r.method
    _record(benchmark, r, t["s"], t_float, n=n, widths=list(widths))


def test_certify_vardi(benchmark):
    """Vardi's deep exact-integer network (kind mlp-exact, no float pass of its own).  Baseline: a
    NumPy float64 forward pass of the same weights rounded to float64 (not a certificate)."""
    from capacity.experiments.frontier import SPECS, dataset_for
    from capacity.verification import certify

    ds = dataset_for(SPECS["vardi"][0], VARDI_N, 0)
    net = constructions.get("vardi", "relu").build(ds, None, activation="relu", seed=0).network()
    kf = [np.asarray(k, dtype=np.float64) for k in net.kernels]
    bf = [np.asarray(b, dtype=np.float64) for b in net.biases]

    def forward():
        h = np.asarray(ds.x, dtype=np.float64)
        for i, (k, b) in enumerate(zip(kf, bf)):
            h = h @ k + b
            if i < len(kf) - 1:
                h = np.maximum(h, 0.0)
        return h

    t_float = {}
    _best_of(forward, t_float)
    t = {}

    def run():
        return _best_of(lambda: certify(net, ds, tol=1e-6), t)

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    assert r.level == "certified-exact"
    _record(benchmark, r, t["s"], t_float["s"], n=ds.n, depth=len(net.kernels))
