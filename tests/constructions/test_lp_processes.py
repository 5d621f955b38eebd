"""The layer-2 linear programs of the Yun block on worker processes (capacity.constructions._lp_worker).

Every test forces the process path on a small block (``workers=2, min_work=0``): the builds the
suite makes are far below the size that takes processes by default.
"""

import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

from capacity import _resources, data
from capacity.constructions import _block1d as B1
from capacity.constructions import _lp_worker, yun3
from capacity.errors import CapacityError

LINUX = os.path.exists("/proc/self/stat")


def _block(A=6, B=5, seed=0, convention="plain"):
    """A padded block as block_1d hands it to _optimise_values: (T, Y, kinks, A, B, sigma)."""
    rng = np.random.default_rng(seed)
    M = 4 * A * B
    T = np.cumsum(rng.exponential(1.0, M))
    Y = rng.uniform(-1, 1, (M, 1))
    k, _ = B1._kink_positions(T, A, B, T[0] - 1.0, T[-1] + 1.0, convention, B1.QUARTER)
    sigma = np.where(np.arange(2 * B) % 2 == 0, 1.0, -1.0)
    return T, Y, k, A, B, sigma


def _bits(values):
    return [(V.tobytes(), np.float64(s).tobytes()) for row in values for V, s in row]


def _children() -> set[int]:
    """Pids of this process's live children (zombies included until reaped)."""
    me, out = str(os.getpid()), set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if stat.rpartition(")")[2].split()[1] == me:
                out.add(int(d))
    return out


@pytest.mark.parametrize("convention, workers", [("plain", 2), ("deep", 3)])
def test_processes_give_bitwise_the_serial_values(convention, workers):
    T, Y, k, A, B, sigma = _block(seed=1, convention=convention)
    serial = B1._optimise_values(T, Y, k, A, B, sigma, convention, 1.0, workers=1, min_work=0)
    # the solves are spread over several HiGHS instances, in another order: still the same bits
    procs = B1._optimise_values(T, Y, k, A, B, sigma, convention, 1.0, workers=workers, min_work=0)
    assert _bits(procs) == _bits(serial)


def test_a_build_on_processes_has_bitwise_the_serial_weights(monkeypatch):
    ds = data.generate("gaussian", 300, 4, seed=3)
    widths = (36, 36)
    monkeypatch.setenv(_resources.ENV_LP_WORKERS, "1")
    serial = yun3.build(ds, widths)
    monkeypatch.setenv(_resources.ENV_LP_WORKERS, "2")
    monkeypatch.setattr(_resources, "LP_PROCESS_MIN_WORK", 0)
    started = []
    real = B1._solve_on_processes
    monkeypatch.setattr(B1, "_solve_on_processes", lambda *a: started.append(a[2]) or real(*a))
    procs = yun3.build(ds, widths)
    assert started == [2]  # the process path ran, with two workers
    for a, b in zip(serial.network().kernels + serial.network().biases, procs.network().kernels + procs.network().biases):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_a_failed_lp_raises_the_same_error_on_both_paths():
    T, Y, k, A, B, sigma = _block(seed=2)
    Y = Y.copy()
    G = 4 * B
    for n in (3, 7):  # NaN labels at the points neurons 3 and 7 own: HiGHS refuses those two models
        Y[np.arange(A) * G + n, 0] = np.nan
    errors = []
    for workers in (1, 2):
        with pytest.raises(CapacityError) as e:
            B1._optimise_values(T, Y, k, A, B, sigma, "plain", 1.0, workers=workers, min_work=0)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert "layer-2 neuron 3 failed" in errors[0] and "please report it" in errors[0]


def _shared_and_tasks(seed=4):
    T, Y, k, A, B, sigma = _block(A=8, B=6, seed=seed)
    captured = {}
    real = B1._solve_lps

    def spy(shared, tasks, workers, progress):
        captured.update(shared=shared, tasks=tasks)
        return real(shared, tasks, 1, progress)

    B1._solve_lps = spy
    try:
        serial = B1._optimise_values(T, Y, k, A, B, sigma, "plain", 1.0, workers=1, min_work=0)
    finally:
        B1._solve_lps = real
    return captured["shared"], captured["tasks"], serial


@pytest.mark.skipif(not LINUX, reason="lists child processes through /proc")
def test_an_interrupt_leaves_no_worker_behind():
    shared, tasks, _ = _shared_and_tasks()
    before = _children()
    seen = []

    def progress():
        seen.append(_children() - before)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        B1._solve_lps(shared, tasks, 2, progress)
    assert len(seen[-1]) == 2  # two workers were running when the interrupt came
    assert _children() - before == set()  # ended and reaped


@pytest.mark.skipif(not LINUX, reason="lists child processes through /proc")
def test_a_dead_worker_is_replaced_by_solving_here():
    shared, tasks, serial = _shared_and_tasks(seed=5)
    before = _children()
    ticks = []

    def progress():
        ticks.append(1)
        if len(ticks) == 2:
            for pid in _children() - before:
                os.kill(pid, signal.SIGKILL)
                break

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        results = B1._solve_lps(shared, tasks, 2, progress)
    assert any("worker process died" in str(w.message) for w in got), [str(w.message) for w in got]
    assert len(ticks) == len(tasks)  # the progress bar advanced once per neuron, no more, no less
    assert _bits([[(V, s) for V, s, _ in results]]) == _bits(serial)
    assert _children() - before == set()


def test_a_worker_imports_numpy_and_highspy_only():
    """A real worker (the boot code, one task, then stop) never imports capacity, JAX or SciPy."""
    from multiprocessing import Pipe

    shared, tasks, serial = _shared_and_tasks(seed=6)
    code = _lp_worker.BOOT + ("print(sorted({m.split('.')[0] for m in sys.modules}"
                              " & {'capacity', 'jax', 'scipy', 'numpy', 'highspy'}))")
    ours, theirs = Pipe()
    p = subprocess.Popen([sys.executable, "-c", code, _lp_worker.__file__, str(theirs.fileno())],
                         pass_fds=(theirs.fileno(),), stdout=subprocess.PIPE, text=True)
    theirs.close()
    ours.send(shared)
    ours.send((5, *tasks[5]))
    i, (V, s, msg) = ours.recv()
    ours.send(None)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0 and i == 5 and msg == "optimal"
    assert _bits([[(V, s)]]) == _bits(serial)[5:6]
    assert out.split() == ["['highspy',", "'numpy']"]
