"""The sweep store: typed records, one schema that writes and reads them, append-only and resumable.

The store (never loses finished work): ``OUT/results-p{process}.jsonl``, one JSON line per
finished cell (:class:`Record`: key, cell config, metrics, versions), appended with a single
``write`` per batch and ``fsync``.  Readers skip a torn (unterminated or unparsable) line, and a
writer cuts a torn tail off its own file before appending, so a SIGKILL loses at most the batch
in flight.  A rerun reads every ``results*.jsonl`` and skips cells whose key is already there.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from typing import Iterable

from capacity.networks import json_default
from capacity.sweep.spec import Cell

STORE_GLOB = "results*.jsonl"


@dataclasses.dataclass
class RunResult:
    """One training run (one seed x learning rate) of a trained cell."""

    lr: float
    fitted: bool
    steps_to_fit: int
    final_loss: float
    final_residual: float
    steps_run: int


@dataclasses.dataclass
class SeedResult:
    """One seed of a cell: memorized or not, and how (trained: its runs; constructive: the check)."""

    seed: int
    memorized: bool
    level: str | None = None  # constructive: verification level, or "refused"
    reason: str | None = None  # constructive: why the construction refused
    best_lr: float | None = None  # trained
    runs: list = dataclasses.field(default_factory=list)  # trained: RunResult per learning rate
    max_residual: float | None = None  # constructive checks
    certified_residual: float | None = None
    max_bound: float | None = None
    kink_margin: float | None = None
    rel_kink_margin: float | None = None

    def to_json(self) -> dict:
        d = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "runs"}
        if self.runs:
            d["runs"] = [dataclasses.asdict(r) for r in self.runs]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "SeedResult":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known and k != "runs"}
        return cls(**kw, runs=[RunResult(**r) for r in d.get("runs", [])])


@dataclasses.dataclass
class Metrics:
    n_params: int
    fraction_memorized: float
    per_seed: list  # SeedResult

    def to_json(self) -> dict:
        return dict(n_params=self.n_params, fraction_memorized=self.fraction_memorized,
                    per_seed=[p.to_json() for p in self.per_seed])

    @classmethod
    def from_json(cls, d: dict) -> "Metrics":
        return cls(int(d["n_params"]), float(d["fraction_memorized"]), [SeedResult.from_json(p) for p in d["per_seed"]])


@dataclasses.dataclass
class Record:
    """What a finished cell leaves in the store."""

    key: str
    cell: Cell
    metrics: Metrics
    versions: dict
    seconds: float
    process: int = 0
    written: str = ""

    def to_json(self) -> dict:
        return dict(key=self.key, config=self.cell.config(), metrics=self.metrics.to_json(), versions=self.versions,
                    seconds=self.seconds, process=self.process, written=self.written)

    @classmethod
    def from_json(cls, d: dict) -> "Record":
        return cls(key=d["key"], cell=Cell.from_config(d["config"]), metrics=Metrics.from_json(d["metrics"]),
                   versions=d.get("versions", {}), seconds=float(d.get("seconds", 0.0)),
                   process=int(d.get("process", 0)), written=d.get("written", ""))


class ResultStore:
    """Append-only JSONL records under ``out_dir`` (one file per writing process)."""

    def __init__(self, out_dir: str | os.PathLike, writer: int = 0):
        self.out_dir = os.fspath(out_dir)
        self.path = os.path.join(self.out_dir, f"results-p{writer}.jsonl")

    @staticmethod
    def _parse(path: str) -> tuple[list[dict], int]:
        records, torn = [], 0
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            if i == len(lines) - 1:  # no terminating newline: a torn write
                torn += 1
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                torn += 1
                continue
            if isinstance(rec, dict) and "key" in rec:
                records.append(rec)
            else:
                torn += 1
        return records, torn

    def read_raw(self) -> list[dict]:
        """Every complete JSON line in the directory (first occurrence of each key), untyped."""
        seen, out = set(), []
        for path in sorted(glob.glob(os.path.join(self.out_dir, STORE_GLOB))):
            for rec in self._parse(path)[0]:
                if rec["key"] not in seen:
                    seen.add(rec["key"])
                    out.append(rec)
        return out

    def read(self) -> list[Record]:
        """Every complete record in the directory, first occurrence of each key, typed.

        A line that is valid JSON but not a record of this schema counts as torn and is skipped."""
        out = []
        for d in self.read_raw():
            try:
                out.append(Record.from_json(d))
            except (KeyError, TypeError, ValueError):
                continue
        return out

    def done_keys(self) -> set[str]:
        return {r.key for r in self.read()}

    def _repair(self) -> None:
        """Cut an unterminated last line (a write killed half-way) off our own file."""
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())

    def append(self, records: Iterable[Record | dict]) -> None:
        """Append records durably: one write of whole lines, then fsync."""
        payload = b"".join(json.dumps(r.to_json() if isinstance(r, Record) else r, sort_keys=True,
                                      default=json_default).encode() + b"\n" for r in records)
        if not payload:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        self._repair()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(payload)
            while view:
                k = os.write(fd, view)
                view = view[k:]
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: str, obj) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=json_default)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
