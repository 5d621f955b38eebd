"""The bounded float pass against the plain forward passes, in the same run (issue 11, item 4).

Three passes over the same network and points, each timed best-of-``BENCH_REPS`` (alternated, so
machine load hits them alike), compile time kept out (AOT ``lower().compile()``, then
``block_until_ready``):

* ``bounded``: :func:`capacity.networks.mlp_forward_bounded` (outputs, rigorous rounding bound,
  kink margins; chunked, ``chunk = 4096`` as :func:`capacity.verify` uses);
* ``jit``: :func:`capacity.networks.mlp_apply` under ``jax.jit`` on all N rows at once (the plain
  jitted forward pass);
* ``numpy``: the same forward pass in plain NumPy (``h @ W + b``, ReLU), float64.

``extra_info`` holds ``ratio_to_jit`` = t(bounded) / t(jit) (the figure of the issue, target <= 2)
and ``ratio_to_numpy`` = t(bounded) / t(numpy), with the seconds, N, widths and the load average.

Networks: yun3 (:func:`capacity.build`, Gaussian data in R^16, smallest widths from
:func:`theory.bounds.yun3_smallest_widths`) and a random He-initialised 16-200-200-1 ReLU net on
the same points.  Default sizes are a smoke test; measure with::

    BENCH_N=2000,20000,100000 .venv/bin/python -m pytest benchmarks/bench_bound_pass.py --benchmark-enable
    BENCH_N=2000,20000,100000 .venv/bin/python benchmarks/bench_bound_pass.py      # prints a table
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import capacity
from capacity.networks import mlp_apply, mlp_forward_bounded
from theory.bounds import yun3_smallest_widths

SIZES = [int(v) for v in os.environ.get("BENCH_N", "500").split(",")]
REPS = int(os.environ.get("BENCH_REPS", 5))
CHUNK = 4096
DX = 16
NETS = ("yun3", "random-16-200-200-1")


def numpy_forward(kernels, biases, x):
    """The plain NumPy float64 forward pass of a ReLU MLP."""
    h = x
    for i, (w, b) in enumerate(zip(kernels, biases)):
        h = h @ w + b
        if i < len(kernels) - 1:
            np.maximum(h, 0.0, out=h)
    return h


def make_problem(net: str, n: int):
    """(kernels, biases, x, widths) as float64 NumPy arrays."""
    ds = capacity.generate("gaussian", n, DX, seed=0)
    if net == "yun3":
        widths = yun3_smallest_widths(n)
        con = capacity.build("yun3", ds, widths)
        ks, bs = [np.asarray(k) for k in con.kernels], [np.asarray(b) for b in con.biases]
    else:
        sizes = (DX, 200, 200, 1)
        rng = np.random.default_rng(1)
        ks = [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [rng.standard_normal(b) * 0.1 for b in sizes[1:]]
        widths = sizes[1:-1]
    return ks, bs, np.asarray(ds.x, np.float64), tuple(int(w) for w in widths)


def compiled_passes(ks, bs, x):
    """{name: zero-argument callable that runs one pass to completion}, all compiled already."""
    jk, jb, jx = [jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs], jnp.asarray(x)
    bounded = jax.jit(mlp_forward_bounded, static_argnames=("activation", "chunk")).lower(
        jk, jb, jx, activation="relu", chunk=CHUNK).compile()
    plain = jax.jit(mlp_apply, static_argnames=("activation",)).lower(jk, jb, jx, activation="relu").compile()
    return {
        "bounded": lambda: jax.block_until_ready(bounded(jk, jb, jx)),
        "jit": lambda: plain(jk, jb, jx).block_until_ready(),
        "numpy": lambda: numpy_forward(ks, bs, x),
    }


def best_times(passes: dict, reps: int = REPS) -> dict:
    """Best wall time of each pass over ``reps`` alternated rounds (one warm-up round first)."""
    best = {name: np.inf for name in passes}
    for r in range(reps + 1):
        for name, f in passes.items():
            t0 = time.perf_counter()
            f()
            if r:  # round 0 warms caches and thread pools
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


def measure(net: str, n: int, reps: int = REPS) -> dict:
    ks, bs, x, widths = make_problem(net, n)
    t = best_times(compiled_passes(ks, bs, x), reps)
    return {"net": net, "n": n, "widths": list(widths), "bounded_s": t["bounded"], "jit_s": t["jit"],
            "numpy_s": t["numpy"], "ratio_to_jit": t["bounded"] / t["jit"],
            "ratio_to_numpy": t["bounded"] / t["numpy"], "jit_to_numpy": t["jit"] / t["numpy"],
            "load": os.getloadavg()[0]}


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"N={n}")
@pytest.mark.parametrize("net", NETS)
def test_bounded_pass_vs_plain_forward(benchmark, net, n):
    ks, bs, x, widths = make_problem(net, n)
    passes = compiled_passes(ks, bs, x)
    out, bound, _, _ = passes["bounded"]()
    assert out.shape == (n, 1) and bool(jnp.all(bound >= 0))
    benchmark.pedantic(passes["bounded"], rounds=1, iterations=1)
    t = best_times(passes, REPS if benchmark.enabled else 1)
    benchmark.extra_info.update(net=net, n=n, widths=list(widths), bounded_s=t["bounded"], jit_s=t["jit"],
                                numpy_s=t["numpy"], ratio_to_jit=t["bounded"] / t["jit"],
                                ratio_to_numpy=t["bounded"] / t["numpy"], load=os.getloadavg()[0])


def main() -> None:
    print(f"bounded pass vs plain forward passes (best of {REPS}, compile excluded); load {os.getloadavg()[0]:.2f}")
    print(f"{'net':<22}{'N':>8}{'widths':>12}{'bounded s':>11}{'jit s':>9}{'numpy s':>9}"
          f"{'b/jit':>7}{'b/numpy':>8}{'jit/np':>7}{'load':>6}")
    for net in NETS:
        for n in SIZES:
            r = measure(net, n)
            w = ",".join(map(str, r["widths"]))
            print(f"{net:<22}{n:>8}{w:>12}{r['bounded_s']:>11.4f}{r['jit_s']:>9.4f}{r['numpy_s']:>9.4f}"
                  f"{r['ratio_to_jit']:>7.2f}{r['ratio_to_numpy']:>8.2f}{r['jit_to_numpy']:>7.2f}{r['load']:>6.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
