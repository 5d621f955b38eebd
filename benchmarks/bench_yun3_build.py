"""yun3 build time: the fast paths of the build against their baselines, in the same run.

Gaussian data in R^16, smallest widths of the theorem (:func:`theory.bounds.yun3_smallest_widths`).
Each comparison times both sides here, interleaved (so machine load hits both alike), and stores
``ratio`` = baseline / fast in ``extra_info`` (the figure to quote; absolute times depend on load):

* ``lp``: the per-neuron linear programs of the layer-2 values, HiGHS called directly
  (``_highs_lp``: one reused ``highspy._Highs``, cold solves) against ``scipy.optimize.linprog``
  (``method="highs-ds"``, what the build used before) on the same LPs;
* ``lp_threads``: the same LPs on two threads (one HiGHS instance each) against one thread,
  twice the LPs for twice the threads: ratio = 2 x t(one) / t(two), 2.0 if the solves ran in
  parallel, 1.0 if not (highspy 1.16 releases the GIL in ``run``: 1.7 measured on the idle
  machine; 1.0 while other sessions ran, since Linux's autogroup scheduling gives each session
  an equal share of the cores however many threads it runs);
* ``gaps``: the ``k = 64`` smallest of the N projection gaps by ``np.argpartition`` against a full
  argsort, and the re-sort of nearly sorted projections after a refinement step against a full
  sort (results must be identical);
* ``processes``: the whole :func:`yun3.build` with its layer-2 LPs on worker processes (the
  default: one per usable core, for blocks large enough) against all in the building process
  (``CAPACITY_LP_WORKERS=1``): ratio = serial / processes, and the weights must be bitwise equal
  (below ``capacity._resources.LP_PROCESS_MIN_WORK``, e.g. at the default N = 2000, both sides
  are serial); measured on the idle 2-core machine: x1.47 at N = 1e5 (4.7 s against 6.9 s),
  x1.83 at N = 1e6 (38.8 s against 70.9 s in single builds; x1.29 here while another session ran);
* ``build``: the whole :func:`yun3.build` (no baseline: its seconds and N).

Default sizes are small (a smoke test with ``--benchmark-disable``, the project default).
Measure with::

    BENCH_N=100000 .venv/bin/python -m pytest benchmarks/bench_yun3_build.py --benchmark-enable
    BENCH_N=100000 .venv/bin/python benchmarks/bench_yun3_build.py    # prints the ratios
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import pytest

from capacity import _resources, data
from capacity.constructions import _lp_worker as W
from capacity.constructions import _projection as P
from capacity.constructions import yun3
from capacity.constructions._block1d import block_1d, check_block_widths
from theory.bounds import yun3_smallest_widths

SIZES = [int(v) for v in os.environ.get("BENCH_N", "2000").split(",")]
DX = 16
N_LPS = int(os.environ.get("BENCH_LPS", 8))  # LPs captured for the solver comparison
BUILD_REPS = int(os.environ.get("BENCH_BUILD_REPS", 1))  # builds per side of the processes comparison


def _time(f, reps: int) -> float:
    """Best of ``reps`` wall times (the least disturbed by other processes)."""
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


@contextlib.contextmanager
def lp_workers(value: str | None):
    """``$CAPACITY_LP_WORKERS`` set to ``value`` (None: unset, the default) for the block."""
    old = os.environ.pop(_resources.ENV_LP_WORKERS, None)
    if value is not None:
        os.environ[_resources.ENV_LP_WORKERS] = value
    try:
        yield
    finally:
        os.environ.pop(_resources.ENV_LP_WORKERS, None)
        if old is not None:
            os.environ[_resources.ENV_LP_WORKERS] = old


def ratio(fast, baseline, reps: int = 3) -> dict:
    """Times of ``fast`` and ``baseline``, alternated ``reps`` times, and baseline / fast."""
    tf, tb = np.inf, np.inf
    for _ in range(reps):
        tf = min(tf, _time(fast, 1))
        tb = min(tb, _time(baseline, 1))
    return {"fast_s": tf, "baseline_s": tb, "ratio": tb / tf, "load": os.getloadavg()[0]}


class Problem:
    def __init__(self, n: int):
        self.n = n
        self.ds = data.generate("gaussian", n, DX, seed=0)
        self.widths = yun3_smallest_widths(n)
        self.A, self.B = check_block_widths(n, self.widths, 1)
        _, t, order = P.sorted_problem(self.ds, 0, 64)
        self.ts, self.ys = t[order], self.ds.y[order]
        self.lps = self._capture_lps()

    def _capture_lps(self):
        """The first N_LPS per-neuron LPs of block_1d, as passed to the solver (solved in this process)."""
        got = []
        real = W.highs_lp

        class Enough(Exception):
            pass

        def spy(*args, **kw):
            if kw.get("solver") == "simplex":
                if len(got) == N_LPS:
                    raise Enough  # stop the build: the rest of its LPs are not needed
                got.append(args)
            return real(*args, **kw)

        W.highs_lp = spy
        try:
            with lp_workers("1"):
                block_1d(self.ts, self.ys, self.A, self.B)
        except Enough:
            pass
        finally:
            W.highs_lp = real
        return got

    # ---- the two sides of each comparison
    def lp_direct(self):
        import highspy

        h = highspy._Highs()
        return [P._highs_lp(*a, rowwise=True, solver="simplex", highs=h)[0] for a in self.lps]

    def lp_scipy(self):
        from scipy.optimize import linprog
        from scipy.sparse import csr_array

        out = []
        for c, lb, ub, lo, hi, indptr, indices, vals in self.lps:
            A = csr_array((vals, indices, indptr), shape=(lo.size, c.size))
            eq = lo == hi
            res = linprog(c, A_ub=A[np.flatnonzero(~eq)], b_ub=hi[~eq], A_eq=A[np.flatnonzero(eq)], b_eq=hi[eq],
                          bounds=np.c_[lb, ub], method="highs-ds")
            out.append(res.x)
        return out

    def lp_threads(self, k: int):
        import threading

        import highspy

        def work():
            h = highspy._Highs()
            for a in self.lps:
                P._highs_lp(*a, rowwise=True, solver="simplex", highs=h)

        ths = [threading.Thread(target=work) for _ in range(k)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()


    def build(self, workers: str | None):
        with lp_workers(workers):
            return yun3.build(self.ds, self.widths)

    def processes(self) -> dict:
        """Whole builds, serial against worker processes (interleaved), and their weights compared."""
        got = {}
        r = ratio(lambda: got.__setitem__("fast", self.build(None)), lambda: got.__setitem__("base", self.build("1")),
                  reps=BUILD_REPS)
        a, b = got["fast"].network(), got["base"].network()
        same = all(np.asarray(x).tobytes() == np.asarray(y).tobytes()
                   for x, y in zip(a.kernels + a.biases, b.kernels + b.biases))
        neurons, kinks = 2 * self.B, 4 * self.A + 1
        return {"processes_s": r["fast_s"], "serial_s": r["baseline_s"], "ratio": r["ratio"], "load": r["load"],
                "workers": _resources.lp_workers(neurons, kinks), "bitwise_equal": same}


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"N={n}")
def problem(request):
    return Problem(request.param)


def test_lp_direct_vs_scipy(benchmark, problem):
    # scipy's rows are A_ub then A_eq; ours are all inequalities first, then the equalities, so
    # the two solve the same LP.  Both are optimal: their objectives agree to HiGHS's relative
    # optimality tolerance (1e-7) scaled by the objective's size.
    xs = benchmark.pedantic(problem.lp_direct, rounds=1, iterations=1)
    ref = problem.lp_scipy()
    for a, x, y in zip(problem.lps, xs, ref):
        c = a[0]
        assert x is not None and y is not None
        assert abs(c @ x - c @ y) <= 1e-7 * max(abs(c) @ abs(y), 1.0)
    benchmark.extra_info.update(n=problem.n, lps=len(xs), **ratio(problem.lp_direct, problem.lp_scipy))


def test_lp_threads(benchmark, problem):
    benchmark.pedantic(lambda: problem.lp_threads(2), rounds=1, iterations=1)
    r = ratio(lambda: problem.lp_threads(2), lambda: problem.lp_threads(1))
    # the two-thread run does twice the work: parallel speed-up = 2 t(one) / t(two)
    benchmark.extra_info.update(n=problem.n, lps=len(problem.lps), two_threads_s=r["fast_s"], one_thread_s=r["baseline_s"],
                                speedup=2 * r["baseline_s"] / r["fast_s"], load=r["load"])


def test_gap_selection(benchmark, problem):
    x = problem.ds.x
    rng = np.random.default_rng(1)
    u = rng.standard_normal(DX)
    u /= np.linalg.norm(u)
    o, g, _ = P._sorted_gaps(x, u)
    k = min(64, g.size)
    got = benchmark(lambda: P._smallest(g, k))
    full = np.argsort(g, kind="stable")[:k]
    assert set(got.tolist()) == set(full.tolist()) and np.array_equal(g[got], g[full])
    info = ratio(lambda: P._smallest(g, k), lambda: np.argsort(g, kind="stable")[:k], reps=5)
    # a refinement step moves u a little: re-sort from the old order against a fresh sort
    v = u + 1e-6 * rng.standard_normal(DX)
    v /= np.linalg.norm(v)
    o1, g1, s1 = P._resorted_gaps(x, v, o)
    o2, g2, s2 = P._sorted_gaps(x, v)
    assert np.array_equal(g1, g2) and s1 == s2 and (g1.min() == 0 or np.array_equal(o1, o2))
    resort = ratio(lambda: P._resorted_gaps(x, v, o), lambda: P._sorted_gaps(x, v), reps=5)
    benchmark.extra_info.update(n=problem.n, k=k, **info, resort_fast_s=resort["fast_s"],
                                resort_baseline_s=resort["baseline_s"], resort_ratio=resort["ratio"])


def test_processes_vs_serial(benchmark, problem):
    info = benchmark.pedantic(problem.processes, rounds=1, iterations=1)
    assert info["bitwise_equal"]
    benchmark.extra_info.update(n=problem.n, **info)


def test_build(benchmark, problem):
    con = benchmark.pedantic(lambda: yun3.build(problem.ds, problem.widths), rounds=1, iterations=1)
    assert con.record["capacity"] >= problem.n
    benchmark.extra_info.update(n=problem.n, widths=list(problem.widths), build_seconds=con.record["build_seconds"],
                                load=os.getloadavg()[0])


def main():
    for n in SIZES:
        p = Problem(n)
        lp = ratio(p.lp_direct, p.lp_scipy)
        th = ratio(lambda: p.lp_threads(2), lambda: p.lp_threads(1))
        pr = p.processes()
        print(f"N = {n} (widths {p.widths[0]},{p.widths[1]}): build on {pr['workers']} LP process(es) "
              f"{pr['processes_s']:.2f} s vs serial {pr['serial_s']:.2f} s (x{pr['ratio']:.2f}, bitwise equal: "
              f"{pr['bitwise_equal']}, load {pr['load']:.1f}); "
              f"{len(p.lps)} LPs direct {lp['fast_s']:.3f} s vs scipy {lp['baseline_s']:.3f} s (x{lp['ratio']:.2f}); "
              f"twice the LPs on two threads {th['fast_s']:.3f} s vs once on one {th['baseline_s']:.3f} s "
              f"(parallel speed-up x{2 * th['ratio']:.2f})", flush=True)


if __name__ == "__main__":
    main()
