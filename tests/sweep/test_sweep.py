"""Sweeps: resumable store, SIGKILL safety, sharding, multi-process, constructive mode, figures."""

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from capacity import constructions
from capacity.constructions.base import Construction, register
from capacity.networks import MLPNet
from capacity.errors import CapacityError, WidthError
from capacity.sweep import (ResultStore, spec_for, SweepSpec, cells, my_share, run_constructive_batch, run_sweep,
                            run_trained_batch)
from capacity.train import TrainConfig, local_mesh
from capacity.plots import phase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY = SweepSpec(mode="trained", depths=(2,), widths=(2, 8), ns=(4, 8), seeds=2, lrs=(1e-2,),
                 train=TrainConfig(max_steps=400, chunk=200, tol=1e-2), runs_per_batch=2, pad_width=8)


def _raw_keys(out_dir):
    """Keys of every complete line of every store file (duplicates kept)."""
    keys = []
    for name in sorted(os.listdir(out_dir)):
        if name.startswith("results") and name.endswith(".jsonl"):
            with open(os.path.join(out_dir, name), "rb") as f:
                for line in f.read().split(b"\n")[:-1]:
                    keys.append(json.loads(line)["key"])
    return keys


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    first = run_sweep(TINY, out, progress=False, max_batches=2)
    return out, first


# ------------------------------------------------------------------ cells and store


def test_cells_are_deterministic_and_keys_unique():
    a, b = cells(TINY), cells(TINY)
    assert a == b and len(a) == 4
    assert len({c.key for c in a}) == len(a)
    other = cells(SweepSpec(**{**TINY.__dict__, "seeds": 3}))
    assert not {c.key for c in a} & {c.key for c in other}  # a changed grid never reuses records
    shares = [my_share(a, p, 3) for p in range(3)]
    assert sorted(c.key for s in shares for c in s) == sorted(c.key for c in a)


def test_store_skips_torn_lines_and_repairs_its_tail(tmp_path):
    store = ResultStore(tmp_path)
    store.append([{"key": "a", "v": 1}, {"key": "b", "v": 2}])  # raw lines: the store's torn-write layer
    with open(store.path, "ab") as f:
        f.write(b'{"key": "c", "v"')  # a write killed half-way
    assert [r["key"] for r in store.read_raw()] == ["a", "b"]
    store.append([{"key": "d", "v": 4}])  # cuts the torn tail first
    assert [r["key"] for r in store.read_raw()] == ["a", "b", "d"]
    ResultStore(tmp_path, writer=1).append([{"key": "a", "v": 99}])  # another process, same key
    assert [r["v"] for r in store.read_raw() if r["key"] == "a"] == [1]
    assert store.read() == []  # not records of the schema: never mistaken for finished cells
    with open(store.path, "rb") as f:
        assert f.read().endswith(b"\n")


def test_resume_skips_finished_cells(tiny_store):
    out, first = tiny_store
    assert len(first) == 2  # max_batches=2, one cell per batch
    before = {r.key: r for r in first}
    full = run_sweep(TINY, out, progress=False)
    assert sorted(r.key for r in full) == sorted(c.key for c in cells(TINY))
    for r in full:  # finished records were not recomputed
        if r.key in before:
            assert r == before[r.key]
    size = os.path.getsize(os.path.join(out, "results-p0.jsonl"))
    again = run_sweep(TINY, out, progress=False)
    assert os.path.getsize(os.path.join(out, "results-p0.jsonl")) == size and len(again) == 4
    assert collections.Counter(_raw_keys(out)).most_common(1)[0][1] == 1
    rec = full[0]
    assert {"key", "config", "metrics", "versions"} <= set(rec.to_json())
    assert rec.versions["jax"] == jax.__version__
    assert len(rec.metrics.per_seed) == 2 and isinstance(rec.metrics.per_seed[0].runs[0].steps_to_fit, int)


def test_sigkill_midway_then_rerun_completes_every_cell_exactly_once(tmp_path):
    out = tmp_path / "store"
    total = len(cells(spec_for("trained", "smoke")))
    cmd = [sys.executable, "-m", "capacity.cli.phase", "--mode", "trained", "--preset", "smoke",
           "--out", str(out), "--no-figures", "--no-progress"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = out / "results-p0.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and store.read_bytes().count(b"\n") >= total // 2:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    at_kill = len(_raw_keys(out)) if out.exists() else 0
    assert 0 < at_kill < total, f"kill landed at {at_kill}/{total} cells; cannot test a mid-sweep kill"
    with open(store, "ab") as f:  # and a record torn by the kill, for good measure
        f.write(b'{"config": {"mode": "tra')
    rerun = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    keys = _raw_keys(out)  # raises if any complete line does not parse
    assert collections.Counter(keys).most_common(1)[0][1] == 1
    assert sorted(keys) == sorted(c.key for c in cells(spec_for("trained", "smoke")))


# ---------------------------------------------------------------------- sharding


def test_sharded_trained_batch_equals_unsharded():
    assert len(jax.local_devices()) == 8
    batch = [c for c in cells(TINY) if c.n == 8]
    sharded = run_trained_batch(batch, local_mesh())
    single = run_trained_batch(batch, local_mesh(jax.local_devices()[:1]))
    for a, b in zip(sharded, single):
        for pa, pb in zip(a.metrics.per_seed, b.metrics.per_seed):
            for ra, rb in zip(pa.runs, pb.runs):
                assert ra.steps_to_fit == rb.steps_to_fit
                assert ra.final_loss == pytest.approx(rb.final_loss, rel=np.sqrt(np.finfo(float).eps))
        assert a.metrics.fraction_memorized == b.metrics.fraction_memorized


# ---------------------------------------------------------------- constructive mode


def _interp_build(ds, widths, *, activation="relu", seed=0, **_):
    """Test-only construction: one-direction piecewise-linear interpolation in layer 1
    (N kinks, needs d1 >= N), split into relu(g) - relu(-g) by layer 2 (needs d2 >= 2)."""
    d1, d2 = widths
    if ds.n > d1 or d2 < 2:
        raise WidthError(f"test construction needs d1 >= N = {ds.n} and d2 >= 2; got {list(widths)}")
    u = np.random.default_rng(seed).standard_normal(ds.dx)
    t = ds.x @ u
    order = np.argsort(t)
    ts, ys = t[order], ds.y[order, 0]
    kinks = np.concatenate([[ts[0] - 1.0], (ts[1:] + ts[:-1]) / 2])
    coef = np.linalg.solve(np.maximum(ts[:, None] - kinks[None, :], 0.0), ys)
    k0 = np.zeros((ds.dx, d1)); k0[:, : ds.n] = u[:, None]
    b0 = np.zeros(d1); b0[: ds.n] = -kinks
    k1 = np.zeros((d1, d2)); k1[: ds.n, 0] = coef; k1[: ds.n, 1] = -coef
    k2 = np.zeros((d2, 1)); k2[0, 0], k2[1, 0] = 1.0, -1.0
    return Construction("test-interp", MLPNet([k0, k1, k2], [b0, np.zeros(d2), np.zeros(1)]))


@pytest.fixture
def test_construction():
    """Register the test-only construction for one test, and remove it after (the registry is global)."""
    from capacity.constructions import base

    register("test-interp", _interp_build, "test only: piecewise-linear interpolation along one direction",
             theorem="none")
    yield "test-interp"
    base._REGISTRY.pop(("test-interp", "relu"), None)


def _cspec(name, widths, ns):
    return SweepSpec(mode="constructive", depths=(3,), widths=widths, ns=ns, seeds=2, construction=name,
                     runs_per_batch=64)


def test_constructive_at_and_one_past_the_construction_boundary_sharded_equals_unsharded(test_construction):
    spec = _cspec(test_construction, (8,), (8, 9))  # capacity of the test construction at d1 = 8 is N = 8
    at, past = cells(spec)
    rec_at = run_constructive_batch([at], local_mesh())[0]
    rec_1 = run_constructive_batch([at], local_mesh(jax.local_devices()[:1]))[0]
    assert rec_at.metrics.fraction_memorized == 1.0
    for a, b in zip(rec_at.metrics.per_seed, rec_1.metrics.per_seed):
        assert a.level in ("certified-bound", "measured")
        assert a.max_residual == b.max_residual and a.kink_margin == b.kink_margin
    rec_past = run_constructive_batch([past], local_mesh())[0]
    assert rec_past.metrics.fraction_memorized == 0.0
    assert all(p.level == "refused" and "WidthError" in p.reason for p in rec_past.metrics.per_seed)


def test_constructive_unknown_construction_is_an_error_not_a_record(tmp_path):
    with pytest.raises(CapacityError, match="unknown construction"):
        run_sweep(_cspec("no-such-construction", (8,), (8,)), tmp_path, progress=False)
    assert not any(n.startswith("results") for n in os.listdir(tmp_path))


def test_yun3_constructive_at_its_capacity_and_one_past():
    if "yun3" not in constructions.names():
        pytest.skip("the yun3 construction is not registered yet (capacity/constructions/yun3.py)")
    from theory.bounds import yun3_capacity

    cap = yun3_capacity(8, 8)  # 16
    at, past = cells(_cspec("yun3", (8,), (cap, cap + 1)))
    rec_at, rec_past = (run_constructive_batch([c], local_mesh())[0] for c in (at, past))
    assert rec_at.metrics.fraction_memorized == 1.0, rec_at.metrics
    assert rec_past.metrics.fraction_memorized == 0.0
    assert all(p.level == "refused" for p in rec_past.metrics.per_seed)


# ------------------------------------------------------------------ multi-process

_WORKER = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_num_cpu_devices", 2)
    import capacity
    from capacity.sweep import SweepSpec, init_distributed, run_sweep
    from capacity.train import TrainConfig
    port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    init_distributed(f"127.0.0.1:{port}", 2, pid)
    spec = SweepSpec(mode="trained", depths=(2,), widths=(2, 8), ns=(4, 8), seeds=2, lrs=(1e-2,),
                     train=TrainConfig(max_steps=400, chunk=200, tol=1e-2), runs_per_batch=2, pad_width=8)
    recs = run_sweep(spec, out, progress=False)
    print("RESULT " + json.dumps(dict(process=jax.process_index(), count=jax.process_count(),
                          local=len(jax.local_devices()), total=len(jax.devices()), records=len(recs))), flush=True)
    # run_sweep ends with a barrier, so both processes are done; jax.distributed.shutdown() can hang
    # in gloo's teardown (seen once in CI-like runs), and what is tested is finished: leave at once.
    import os
    sys.stderr.flush()
    os._exit(0)
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_with_jax_distributed_split_the_cells(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    out = tmp_path / "store"
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, str(script), str(port), str(p), str(out)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in range(2)]
    try:
        outs = [p.communicate(timeout=150) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (so, se) in zip(procs, outs):
        assert p.returncode == 0, se[-3000:]
    # gloo's C++ logging may share the line: decode the JSON object and ignore what follows
    info = sorted((json.JSONDecoder().raw_decode(line[len("RESULT "):])[0] for so, _ in outs
                   for line in so.splitlines() if line.startswith("RESULT ")), key=lambda d: d["process"])
    assert [d["process"] for d in info] == [0, 1]
    assert all(d["count"] == 2 and d["local"] == 2 and d["total"] == 4 and d["records"] == 4 for d in info)
    all_cells = cells(TINY)
    for p in range(2):  # each process wrote exactly its round-robin share
        with open(out / f"results-p{p}.jsonl") as f:
            got = sorted(json.loads(line)["key"] for line in f)
        assert got == sorted(c.key for c in my_share(all_cells, p, 2))


# ------------------------------------------------------------------------ figures


def test_theory_lines_match_the_closed_forms():
    from theory import bounds

    assert bounds.yun3_capacity(40, 40) == 400 and bounds.yun3_capacity(11, 13) == 24
    assert bounds.necessity_threshold_3layer(40, 40) == 2 * 1600 + 40 + 2
    assert bounds.cover_capacity(4) == 8 and bounds.zhang_capacity(17) == 17
    w = bounds.mlp_parameter_count([4, 16, 16, 1])
    assert w == 4 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert bounds.vc_line(w, 3) == pytest.approx(w * 3 * np.log2(w))
    lines = bounds.theory_lines(16, 3, 4, 1)
    assert lines["params"] == w and lines["yun_sufficiency"] == 64 and lines["yun_necessity"] == 2 * 256 + 16 + 2


def test_figures_and_csvs_are_written(tiny_store, tmp_path):
    out, _ = tiny_store
    records = run_sweep(TINY, out, progress=False)
    paths = phase.draw_all(records, str(tmp_path))
    names = sorted(os.path.basename(p) for p in paths)
    assert names == sorted(f"{stem}_trained_gaussian_real.{ext}" for stem in ("phase", "bits_per_param")
                           for ext in ("csv", "png", "pdf"))
    for p in paths:
        assert os.path.getsize(p) > 0
    rows = phase.table(records)
    assert len(rows) == 4 and all(0 <= r["fraction_memorized"] <= 1 for r in rows)
    cap = phase.capacity_table(rows)
    assert [r["width"] for r in cap] == [2, 8]
    assert all(r["bits_per_param"] == pytest.approx(r["empirical_capacity"] * np.log2(1 / 1e-2) / r["n_params"])
               for r in cap)
