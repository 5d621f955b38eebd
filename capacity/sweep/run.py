"""Running a sweep: batches of cells, vmapped training or construction + verify_many, sharded, resumable.

A :class:`SweepSpec` expands into *cells*.  A cell is one architecture (depth and
hidden widths) on one data configuration (family, N, dx, label type); it holds every
seed (and, when training, every learning rate), and produces one record.

Modes:

* ``constructive``: for each seed, generate the dataset, build the registered
  construction (:func:`capacity.constructions.build`, default ``"yun3"``), and verify
  it in float64 with the rigorous bound of :mod:`capacity.verification`.  Networks of the
  same shape are stacked and checked by one :func:`capacity.verification.verify_many` call.
  A seed counts as memorized when the verification level is not ``failed``; a
  construction that refuses the widths (``CapacityError``) counts as not memorized,
  with the reason recorded.
* ``trained``: every seed x learning rate x cell of a group with the same data
  shape and depth is trained by one :func:`capacity.train.train_runs` call (vmapped,
  widths exactly padded).  A seed counts as memorized when *some* learning rate
  interpolated (the usual learning-rate search), within ``max_steps``.

Seeds: seed s generates the dataset with ``seed = s`` and initialises the network
with ``init_seed = 2**31 + s``; every width, depth and learning rate sees the same
data for a given (N, seed) (common random numbers).

Scale-out: the batch axis is sharded over this process's devices with
``NamedSharding(mesh, P("sweep"))`` (padded to a multiple of the device count and
masked).  Several hosts: call :func:`init_distributed` (``jax.distributed.initialize``,
one process per host) first; process p then takes cells p, p+P, p+2P, ... of the
deterministic cell list, runs them on its local devices, and writes its own store
file; all processes meet at a barrier at the end.

The store (never loses finished work): ``OUT/results-p{process}.jsonl``, one JSON
line per finished cell (key, config, versions, metrics), appended with a single
``write`` per batch and ``fsync``.  Readers skip a torn (unterminated or unparsable)
line, and a writer cuts a torn tail off its own file before appending, so a SIGKILL
loses at most the batch in flight.  A rerun reads every ``results*.jsonl`` and skips
cells whose key is already there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import jax
import numpy as np

from capacity.data import generate
from capacity.errors import CapacityError
from capacity.networks import versions
from capacity.sweep.spec import Cell, SweepSpec, cells, my_share
from capacity.sweep.store import Metrics, Record, ResultStore, RunResult, SeedResult, write_json_atomic
from capacity.train import Run, TrainConfig, local_mesh, train_runs
from theory.bounds import mlp_parameter_count


# ------------------------------------------------------------------- multi-process


def is_main_process() -> bool:
    """True in the process that writes figures and summaries (process 0 of a multi-host run)."""
    return jax.process_index() == 0


def init_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None) -> None:
    """``jax.distributed.initialize`` (one process per host); call before any JAX work.

    With no arguments JAX auto-detects Slurm / Open MPI / TPU environments.
    """
    kwargs = {k: v for k, v in dict(coordinator_address=coordinator_address, num_processes=num_processes,
                                     process_id=process_id).items() if v is not None}
    jax.distributed.initialize(**kwargs)


# ----------------------------------------------------------------------- the work


def _dataset(c: Cell, seed: int):
    classes = c.out_dim if c.labels == "classes" else None
    dy = 1 if classes else c.out_dim
    return generate(c.family, c.n, c.dx, dy, seed=seed, classes=classes)


def _record(c: Cell, per_seed: list, seconds: float) -> Record:
    metrics = Metrics(n_params=mlp_parameter_count(c.widths),
                      fraction_memorized=float(np.mean([p.memorized for p in per_seed])), per_seed=per_seed)
    return Record(key=c.key, cell=c, metrics=metrics, versions=versions(), seconds=round(seconds, 4),
                  process=jax.process_index(), written=time.strftime("%Y-%m-%dT%H:%M:%S"))


def _trained_batches(todo: list[Cell], runs_per_batch: int) -> list[list[Cell]]:
    groups: dict = {}
    for c in todo:
        gk = (c.family, c.labels, c.dx, c.out_dim, c.depth, c.n, json.dumps(c.train, sort_keys=True))
        groups.setdefault(gk, []).append(c)
    batches = []
    for g in groups.values():
        per = len(g[0].seeds) * len(g[0].lrs)
        k = max(1, runs_per_batch // per)
        batches.extend(g[i:i + k] for i in range(0, len(g), k))
    return batches


def run_trained_batch(batch: list[Cell], mesh, pad_width: int = 0) -> list[Record]:
    """Train every seed x lr of every cell in ``batch`` in one :func:`train_runs` call."""
    t0 = time.perf_counter()
    tc = TrainConfig(**batch[0].train)
    runs, index = [], []
    for ci, c in enumerate(batch):
        for s in c.seeds:
            ds = _dataset(c, s)
            for lr in c.lrs:
                runs.append(Run(ds.x, ds.y, tuple(c.hidden), 2**31 + s, lr, c.out_dim))
                index.append((ci, s, lr))
    results = train_runs(runs, tc, mesh=mesh, pad_width=pad_width)
    seconds = (time.perf_counter() - t0) / len(batch)
    records = []
    for ci, c in enumerate(batch):
        per_seed = []
        for s in c.seeds:
            rs = [RunResult(lr=lr, fitted=r["fitted"], steps_to_fit=r["steps_to_fit"], final_loss=r["final_loss"],
                            final_residual=r["final_residual"], steps_run=r["steps_run"])
                  for (cj, sj, lr), r in zip(index, results) if cj == ci and sj == s]
            fitted = [r for r in rs if r.fitted]
            best = min(fitted, key=lambda r: r.steps_to_fit) if fitted else min(rs, key=lambda r: r.final_residual)
            per_seed.append(SeedResult(seed=s, memorized=bool(fitted), best_lr=best.lr, runs=rs))
        records.append(_record(c, per_seed, seconds))
    return records


def _constructive_batches(todo: list[Cell], runs_per_batch: int) -> list[list[Cell]]:
    groups: dict = {}
    for c in todo:
        gk = (c.family, c.labels, c.dx, c.out_dim, tuple(c.hidden))
        groups.setdefault(gk, []).append(c)
    batches = []
    for g in groups.values():
        k = max(1, runs_per_batch // len(g[0].seeds))
        batches.extend(g[i:i + k] for i in range(0, len(g), k))
    return batches


def _pad_hidden(con, hidden):
    """Widen a built network to the requested hidden widths with zero units (exact for ReLU:
    a unit with zero in- and out-weights and zero bias outputs 0).  Refuses a wider network."""
    from capacity.networks import MLPNet

    got = tuple(con.widths[1:-1])
    if con.kind != "mlp" or len(got) != len(hidden) or any(g > h for g, h in zip(got, hidden)):
        raise CapacityError(f"construction {con.name!r} returned a {con.kind} network of widths {con.widths}, "
                            f"which does not fit hidden widths {list(hidden)}")
    if got == tuple(hidden):
        return con
    if con.activation != "relu":
        raise CapacityError(f"cannot pad a {con.activation} network exactly to hidden widths {list(hidden)}")
    dims = [con.widths[0], *hidden, con.widths[-1]]
    ks, bs = [], []
    for l, (k, b) in enumerate(zip(con.kernels, con.biases)):
        K = np.zeros((dims[l], dims[l + 1])); K[: np.shape(k)[0], : np.shape(k)[1]] = k
        B = np.zeros(dims[l + 1]); B[: np.shape(b)[0]] = b
        ks.append(K); bs.append(B)
    return dataclasses.replace(con, net=MLPNet(ks, bs, con.activation))


def run_constructive_batch(batch: list[Cell], mesh) -> list[Record]:
    """Build every (cell, seed) and verify same-shape networks in one sharded ``verify_many`` call."""
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P

    from capacity import constructions
    from capacity.verification import level_of, targets, verify_many

    t0 = time.perf_counter()
    entries = []  # (cell index, seed, construction | None, dataset, message)
    for ci, c in enumerate(batch):
        for s in c.seeds:
            ds = _dataset(c, s)
            try:
                con = _pad_hidden(constructions.build(c.construction, ds, list(c.hidden), seed=s), c.hidden)
                entries.append((ci, s, con, ds, ""))
            except CapacityError as e:
                entries.append((ci, s, None, ds, f"{type(e).__name__}: {e}"))
    built = [e for e in entries if e[2] is not None]
    checks = {}
    if built:
        # networks of one batch share the shape (hidden, N); stack, pad to the device count, shard
        n_dev = mesh.devices.size
        b = -(-len(built) // n_dev) * n_dev
        pad = built + [built[0]] * (b - len(built))
        ks = [np.stack([np.asarray(e[2].kernels[l], np.float64) for e in pad]) for l in range(len(pad[0][2].kernels))]
        bs = [np.stack([np.asarray(e[2].biases[l], np.float64) for e in pad]) for l in range(len(pad[0][2].biases))]
        # datasets of different N share one compiled shape: repeat point 0 up to the largest N
        # (a repeated point has the same residual and margins, so max/min are unchanged)
        n_max = max(e[3].n for e in pad)
        rep = lambda a: np.concatenate([a, np.repeat(a[:1], n_max - a.shape[0], axis=0)])
        xs = np.stack([rep(e[3].x) for e in pad])
        ys = np.stack([rep(targets(e[3], e[2].widths[-1])) for e in pad])
        sh = NamedSharding(mesh, P("sweep"))
        put = lambda a: jax.device_put(jnp.asarray(a), sh)
        res = verify_many([put(k) for k in ks], [put(v) for v in bs], put(xs), put(ys))
        res = {k: np.asarray(v)[: len(built)] for k, v in res.items()}
        for j, e in enumerate(built):
            checks[(e[0], e[1])] = {k: float(v[j]) for k, v in res.items()}
    seconds = (time.perf_counter() - t0) / len(batch)
    records = []
    for ci, c in enumerate(batch):
        per_seed = []
        for (cj, s, con, ds, msg) in entries:
            if cj != ci:
                continue
            if con is None:
                per_seed.append(SeedResult(seed=s, memorized=False, level="refused", reason=msg))
                continue
            r = checks[(ci, s)]
            level = level_of(r["max_residual"], r["certified_residual"], c.verify_tol)
            per_seed.append(SeedResult(seed=s, memorized=level != "failed", level=level, **r))
        records.append(_record(c, per_seed, seconds))
    return records


def run_sweep(spec: SweepSpec, out_dir: str | os.PathLike, *, progress: bool = True, mesh=None,
              max_batches: int | None = None) -> list[Record]:
    """Run (or resume) ``spec`` into ``out_dir``; returns every record of the store.

    Cells already in the store are skipped.  In a multi-process run each process does
    its round-robin share and writes ``results-p{process}.jsonl``; all meet at a barrier
    at the end, so every process returns the complete store.

    Args:
      progress: tqdm bar (cells done, ETA) on stderr.
      mesh: a 1-D mesh named ``"sweep"`` (default: all local devices).
      max_batches: stop after this many batches (for tests and partial runs).

    The store is locked while this process writes to it (a second process on the same ``out_dir``
    gets an error), and a store made by a different spec is refused, never mixed in.
    """
    from capacity._files import StoreLock, check_output_dir

    out_dir = os.fspath(check_output_dir(out_dir, flag="--out"))
    rank, count = jax.process_index(), jax.process_count()
    spec_path = os.path.join(out_dir, "sweep.json")
    if os.path.exists(spec_path):
        try:
            with open(spec_path) as f:
                old = json.load(f).get("spec")
        except (OSError, ValueError, AttributeError):
            old = None
        if old != spec.as_dict():
            raise CapacityError(f"--out {out_dir} holds a store of a different sweep (its sweep.json); a store is "
                                "never mixed: choose another --out, or rerun the spec it was made with")
    lock = StoreLock(out_dir, flag="--out") if count == 1 else None  # hosts write per-process files
    if lock is not None:
        lock.acquire()
    try:
        return _run_locked(spec, out_dir, rank, count, spec_path, progress, mesh, max_batches)
    finally:
        if lock is not None:
            lock.release()


def _run_locked(spec, out_dir, rank, count, spec_path, progress, mesh, max_batches) -> list[Record]:
    from tqdm import tqdm

    if rank == 0 and not os.path.exists(spec_path):
        write_json_atomic(spec_path, dict(spec=spec.as_dict(), versions=versions()))
    store = ResultStore(out_dir, writer=rank)
    mine = my_share(cells(spec), rank, count)
    done = store.done_keys()
    todo = [c for c in mine if c.key not in done]
    mesh = mesh if mesh is not None else local_mesh()
    if spec.mode == "constructive":
        from capacity import constructions

        for name in {spec.construction, *dict(spec.depth_constructions).values()}:
            constructions.get(name)  # an unknown name is an error, never a stored "refused"
    if spec.mode == "trained":
        batches = _trained_batches(todo, spec.runs_per_batch)
        work = lambda b, m: run_trained_batch(b, m, spec.pad_width)
    else:
        batches, work = _constructive_batches(todo, spec.runs_per_batch), run_constructive_batch
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), unit="cell", file=sys.stderr,
               disable=not progress, desc=f"{spec.mode} sweep" + (f" [process {rank}/{count}]" if count > 1 else ""),
               dynamic_ncols=True)
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            store.append(work(batch, mesh))
            bar.update(len(batch))
    finally:
        bar.close()
    if count > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("capacity-sweep-done")
    return store.read()
