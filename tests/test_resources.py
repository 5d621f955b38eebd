"""Up-front resource estimates (capacity._resources): fast, allocation-free, refusing what cannot fit."""

import math
import os
import re
import subprocess
import sys
import time

import pytest

from capacity import _resources as R
from capacity.constructions import names
from capacity.errors import CapacityError, ResourceError

GIB = 2**30


def test_huge_width_request_is_refused_fast_without_allocating():
    t0 = time.perf_counter()
    with pytest.raises(ResourceError) as e:
        R.require_fits(R.build_estimate("yun3", 10**9, 8, 1, (100000, 100000)))
    seconds = time.perf_counter() - t0
    msg = str(e.value)
    assert seconds < 0.1  # far under the 2 s the issue allows
    # the message gives the estimate, its dominant term, the cap and how to raise it, on one line
    assert "building yun3 at widths 100000,100000" in msg and re.search(r"[GT]iB of memory", msg)
    assert "kernel (100000 x 100000) = 74.5 GiB" in msg
    assert "cap of 8 GiB" in msg and "CAPACITY_MAX_BYTES" in msg and "\n" not in msg


def test_issue_cases_all_answer_in_microseconds():
    t0 = time.perf_counter()
    for name in names():
        R.build_estimate(name, 10**10, 16, 1, (100000, 100000, 100000))
    R.verify_estimate((16, 10**6, 10**6, 1), 10**10)
    R.exact_estimate((16, 10**6, 10**6, 1), 10**10, rank_one=True)
    assert time.perf_counter() - t0 < 0.5


def test_yun3_memory_follows_the_padded_block_and_the_kernel():
    small = R.build_estimate("yun3", 2000, 8, 1, (92, 92))
    assert small.bytes < 1 * GIB and small.seconds < 10
    R.require_fits(small)  # the README-sized builds pass
    R.require_fits(R.build_estimate("yun3", 100000, 16, 1, (632, 636)))
    # padding dominates when the widths are far above N: 4 * 2500 * 2500 = 25e6 padded positions
    pad = R.build_estimate("yun3", 1000, 8, 1, (10000, 10000), workers=1)  # LP worker memory: below
    assert 25e6 * 200 < pad.bytes - R.BASE_BYTES < 25e6 * 400
    assert "25,000,000 padded block positions" in pad.detail
    # doubling both widths multiplies the widths-dominated memory by about 4
    big = R.build_estimate("yun3", 1000, 8, 1, (20000, 20000), workers=1)
    assert 3.5 < (big.bytes - R.BASE_BYTES) / (pad.bytes - R.BASE_BYTES) < 4.5
    ht = R.build_estimate("yun3", 1000, 8, 1, (10000, 10000), activation="hardtanh", workers=1)
    assert ht.bytes > pad.bytes  # 4 floor(d1/2) floor(d2/2) positions instead of 4 floor(d1/4) floor(d2/4)


def test_every_construction_has_a_finite_positive_estimate():
    for name in names():
        e = R.build_estimate(name, 5000, 8, 2, (200, 200, 200))
        assert e.bytes >= R.BASE_BYTES and 0 < e.seconds < math.inf and e.retained > 0, name


def test_verify_memory_is_bounded_by_chunk_not_by_n():
    a = R.verify_estimate((8, 600, 600, 1), 10**6, chunk=4096)
    b = R.verify_estimate((8, 600, 600, 1), 10**6, chunk=64)
    assert a.bytes - b.bytes == pytest.approx(10 * (4096 - 64) * 600 * 8)
    c = R.verify_estimate((8, 600, 600, 1), 2 * 10**6, chunk=4096)
    # N enters only through the data and the per-point outputs (~200 bytes a point), never N x width
    assert c.bytes - a.bytes < 300 * 10**6 < 10**6 * 600 * 8
    assert c.seconds > 1.9 * (a.seconds - R._T_JIT)


def test_exact_estimates_and_rank_one_shortcut():
    general = R.exact_estimate((8, 1000, 1000, 1), 20000)
    fast = R.exact_estimate((8, 1000, 1000, 1), 20000, rank_one=True)
    assert fast.seconds < general.seconds / 10
    with pytest.raises(ResourceError, match="evaluating N = 100,000,000 points exactly needs an estimated"):
        R.require_fits(R.exact_estimate((8, 5000, 5000, 1), 10**8))


def test_exact_estimate_admits_what_the_chunked_engine_does():
    """The engine is chunked: certifying yun3 at N = 1e5 (measured peak 0.5 GB) and 1e6 (1.5 GB)
    must not be refused under the default 8 GiB cap (an earlier model, N x width rationals,
    refused N = 1e5), and the estimate must not fall below the measured peaks."""
    for n, (d1, d2), measured in ((100000, (632, 636), 0.50), (1000000, (2000, 2000), 1.47)):
        est = R.exact_estimate((16, d1, d2, 1), n, rank_one=True)
        R.require_fits(est)
        assert measured * GIB / 1.5 < est.bytes < 8 * GIB


def test_then_keeps_the_first_result_in_memory():
    b = R.build_estimate("yun3", 2000, 8, 1, (92, 92))
    v = R.verify_estimate((8, 92, 92, 1), 2000)
    both = R.then(b, v)
    assert both.bytes == max(b.bytes, b.retained + v.bytes)
    assert both.seconds == pytest.approx(b.seconds + v.seconds)


def test_cap_overrides(monkeypatch):
    e = R.build_estimate("yun3", 1000, 8, 1, (5000, 5000), workers=1)  # about 2.2 GiB
    monkeypatch.delenv("CAPACITY_MAX_BYTES", raising=False)
    monkeypatch.delenv("CAPACITY_MAX_SECONDS", raising=False)
    R.require_fits(e)
    with pytest.raises(ResourceError, match="cap of 1 GiB"):
        R.require_fits(e, cap=GIB)
    monkeypatch.setenv("CAPACITY_MAX_BYTES", "2G")
    with pytest.raises(ResourceError, match="cap of 2 GiB"):
        R.require_fits(e)
    assert R.require_fits(e, cap=64 * GIB) is e  # the keyword beats the environment
    monkeypatch.setenv("CAPACITY_MAX_BYTES", "unlimited")
    R.require_fits(R.build_estimate("yun3", 10**9, 8, 1, (100000, 100000)))
    monkeypatch.setenv("CAPACITY_MAX_SECONDS", "60")
    with pytest.raises(ResourceError, match=r"estimated .* more than the time cap of 60 s.*CAPACITY_MAX_SECONDS"):
        R.require_fits(e)
    monkeypatch.setenv("CAPACITY_MAX_SECONDS", "soon")
    with pytest.raises(CapacityError, match="CAPACITY_MAX_SECONDS='soon' must be a positive number"):
        R.require_fits(e)


_CLI_PEAK = """
import sys, time
from capacity.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - t0
with open("/proc/self/status") as fh:
    hwm = int(next(l for l in fh if l.startswith("VmHWM:")).split()[1])
print("RESULT", code, seconds, hwm)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc for the peak RSS of a process")
def test_the_cli_refuses_a_huge_width_request_in_a_fresh_process(tmp_path):
    """The issue's case end to end: exit 2 with the estimate, well under 2 s and 1 GiB (peak RSS of the
    child's own address space, VmHWM)."""
    env = dict(os.environ)
    env.pop("CAPACITY_MAX_BYTES", None)
    r = subprocess.run([sys.executable, "-c", _CLI_PEAK, "build", "--construction", "yun3", "--random", "1000000000",
                        "--dx", "8", "--widths", "100000,100000", "--out", str(tmp_path / "N.npz")],
                       capture_output=True, text=True, env=env, timeout=120)
    code, seconds, hwm = r.stdout.split("RESULT")[-1].split()
    assert int(code) == 2 and re.search(r"[GT]iB of memory", r.stderr) and r.stderr.count("\n") == 1
    assert float(seconds) < 2.0 and int(hwm) < 1024 * 1024
    assert not os.listdir(tmp_path)  # nothing was written


def test_lp_workers_default_env_and_threshold(monkeypatch):
    monkeypatch.delenv(R.ENV_LP_WORKERS, raising=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    big = (1000, 2001)  # yun3 at N = 1e6: 1000 layer-2 LPs, about 2000 kinks
    assert R.lp_workers(*big) == min(cores, 1000)
    assert R.lp_workers(*big, workers=3) == 3 and R.lp_workers(2, 10**6, workers=8) == 2  # at most one per LP
    # the threshold: neurons x kinks
    m = R.LP_PROCESS_MIN_WORK
    assert R.lp_workers(m // 100, 100, workers=2) == 2 and R.lp_workers(m // 100 - 1, 100, workers=2) == 1
    assert R.lp_workers(10, 10, workers=2, min_work=0) == 2
    # every build the test suite makes (yun3 at its smallest widths, N <= 3000) stays in its process
    from theory.bounds import yun3_smallest_widths
    d1, d2 = yun3_smallest_widths(3000)
    assert R.lp_workers(2 * (d2 // 4), 4 * (d1 // 4) + 1, workers=2) == 1
    for env, want in (("1", 1), ("5", 5), ("auto", min(cores, 1000)), (" ", min(cores, 1000))):
        monkeypatch.setenv(R.ENV_LP_WORKERS, env)
        assert R.lp_workers(*big) == want, env
    assert R.lp_workers(*big, workers=2) == 2  # the keyword beats the environment
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv(R.ENV_LP_WORKERS, bad)
        with pytest.raises(ResourceError, match=f"CAPACITY_LP_WORKERS={bad!r} must be a positive number of processes"):
            R.lp_workers(*big)


# yun3 builds measured on the 2-core machine while no other session ran (load 0.8-1.6 with the
# build's own processes; Gaussian data in R^16, smallest widths, the same seed; wall seconds from
# benchmarks/bench_yun3_build.py and single builds): (N, widths, LP workers, measured seconds).
# The old model, which charged every LP O(M), gave 156 s for the serial build at N = 1e6.
MEASURED_BUILDS = [
    (10**5, (632, 636), 1, (5.82, 6.91)),
    (10**5, (632, 636), 2, (3.70, 4.71)),
    (10**6, (2000, 2000), 1, (70.0, 70.9)),
    (10**6, (2000, 2000), 2, (38.0, 38.8)),
]


@pytest.mark.parametrize("n, widths, workers, seconds", MEASURED_BUILDS)
def test_yun3_time_estimate_is_within_a_factor_1_3_of_measured_builds(n, widths, workers, seconds):
    est = R.build_estimate("yun3", n, 16, 1, widths, workers=workers)
    assert min(seconds) / 1.3 < est.seconds < max(seconds) * 1.3, (est.seconds, seconds)


def test_yun3_lp_time_is_per_kink_not_per_point_and_shared_by_the_workers():
    """The old model charged every LP O(M) (its masks over all points): 156 s at N = 1e6 against 71 s."""
    one = R.build_estimate("yun3", 10**6, 16, 1, (2000, 2000), workers=1)
    two = R.build_estimate("yun3", 10**6, 16, 1, (2000, 2000), workers=2)
    lp = 1000 * R._lp_seconds(2001)  # 1000 LPs of 2001 kinks
    assert 0.055 < R._lp_seconds(2001) < 0.075 and 0.012 < R._lp_seconds(633) < 0.018  # measured: 63.5, 15 ms
    assert one.seconds - two.seconds == pytest.approx(lp / 2 - R._T_LP_WORKER - 2 * R._T_LP_SHIP * 10**6)
    assert "1,000 layer-2 linear programs on 2 worker processes" in two.detail and "worker" not in one.detail
    assert two.bytes > one.bytes  # the workers' copies of the block's arrays
    small = R.build_estimate("yun3", 2000, 8, 1, (92, 92), workers=2)
    assert small == R.build_estimate("yun3", 2000, 8, 1, (92, 92), workers=1)  # small blocks stay serial
