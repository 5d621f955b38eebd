"""Sweep specifications: the grid (:class:`SweepSpec`), its cells (:class:`Cell`) and the presets.

A :class:`SweepSpec` expands into *cells*.  A cell is one architecture (depth and hidden
widths) on one data configuration (family, N, dx, label type); it holds every seed (and, when
training, every learning rate), and produces one :class:`capacity.sweep.store.Record`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Sequence

import numpy as np

from capacity.data import FAMILIES
from capacity.errors import CapacityError
from capacity.train import TrainConfig

MODES = ("constructive", "trained")
LABELS = ("real", "classes")
STORE_GLOB = "results*.jsonl"


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A grid of cells.

    Attributes:
      mode: ``"constructive"`` or ``"trained"``.
      depths: numbers of layers L (L - 1 hidden layers).
      widths: hidden widths; an int w means (w,)*(L-1) at every depth, a tuple is one
        explicit architecture used at the depth it fits.
      ns: numbers of points N.
      seeds: number of seeds (0..seeds-1).
      families: data families of :func:`capacity.data.generate`.
      labels: ``"real"`` (uniform in [-1, 1]^dy, MSE) and/or ``"classes"`` (uniform
        classes, cross-entropy, memorized = 100% training accuracy).
      dx, dy, classes: input dimension, real output dimension, number of classes.
      lrs: learning rates (trained mode), all run in the same compiled call.
      train: shared training hyper-parameters (its ``loss`` is set per label type).
      construction: registry name (constructive mode).
      depth_constructions: ``((depth, name), ...)`` overriding ``construction`` per depth
        (e.g. ``((2, "zhang"), (3, "yun3"))``).  A built network narrower than the cell's
        widths is padded with zero units (exact for ReLU).
      verify_tol: residual tolerance of the verification (constructive mode).
      runs_per_batch: most runs (trained) or networks (constructive) per compiled call.
      pad_width: trained mode, pad hidden layers to at least this width (exact padding)
        so that batches share compiled shapes; 0 = pad to each batch's widest layer.
    """

    mode: str = "trained"
    depths: tuple = (3,)
    widths: tuple = (4, 8)
    ns: tuple = (8, 16)
    seeds: int = 2
    families: tuple = ("gaussian",)
    labels: tuple = ("real",)
    dx: int = 4
    dy: int = 1
    classes: int = 2
    lrs: tuple = (1e-2,)
    train: TrainConfig = TrainConfig()
    construction: str = "yun3"
    depth_constructions: tuple = ()
    verify_tol: float = 1e-6
    runs_per_batch: int = 1024
    pad_width: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise CapacityError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise CapacityError(f"unknown data families {bad}; choose from {', '.join(FAMILIES)}")
        bad = [lab for lab in self.labels if lab not in LABELS]
        if bad:
            raise CapacityError(f"unknown label types {bad}; choose from {', '.join(LABELS)}")
        if min(self.depths) < 2:
            raise CapacityError(f"depth counts layers and must be >= 2 (one hidden layer); got {self.depths}")
        if self.seeds < 1 or min(self.ns) < 1 or self.dx < 1 or self.dy < 1 or self.classes < 2:
            raise CapacityError("need seeds >= 1, N >= 1, dx >= 1, dy >= 1 and classes >= 2")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return json.loads(json.dumps(d))


def _hidden_for(width, depth: int):
    if isinstance(width, (int, np.integer)):
        return (int(width),) * (depth - 1)
    width = tuple(int(w) for w in width)
    return width if len(width) == depth - 1 else None


def cell_key(config: dict) -> str:
    """Stable identifier of a cell: hash of its canonical JSON config."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclasses.dataclass(frozen=True)
class Cell:
    """One architecture on one data configuration, with all its seeds (and learning rates).

    ``config()`` is its canonical JSON form (what the store writes, and what the key hashes);
    :meth:`from_config` reads it back.  Trained cells carry ``lrs`` and ``train`` (the
    :class:`capacity.train.TrainConfig` as a dict); constructive cells ``construction`` and
    ``verify_tol``.
    """

    mode: str
    family: str
    labels: str
    dx: int
    out_dim: int
    depth: int
    hidden: tuple
    n: int
    seeds: tuple
    lrs: tuple | None = None
    train: dict | None = None
    construction: str | None = None
    verify_tol: float | None = None

    def config(self) -> dict:
        d = dict(mode=self.mode, family=self.family, labels=self.labels, dx=self.dx, out_dim=self.out_dim,
                 depth=self.depth, hidden=list(self.hidden), n=self.n, seeds=list(self.seeds))
        if self.mode == "trained":
            d.update(lrs=list(self.lrs), train=dict(self.train))
        else:
            d.update(construction=self.construction, verify_tol=self.verify_tol)
        return d

    @property
    def key(self) -> str:
        return cell_key(self.config())

    @classmethod
    def from_config(cls, d: dict) -> "Cell":
        return cls(mode=d["mode"], family=d["family"], labels=d["labels"], dx=int(d["dx"]), out_dim=int(d["out_dim"]),
                   depth=int(d["depth"]), hidden=tuple(int(h) for h in d["hidden"]), n=int(d["n"]),
                   seeds=tuple(int(s) for s in d["seeds"]),
                   lrs=tuple(float(v) for v in d["lrs"]) if d.get("lrs") is not None else None,
                   train=dict(d["train"]) if d.get("train") is not None else None,
                   construction=d.get("construction"), verify_tol=d.get("verify_tol"))

    @property
    def widths(self) -> list[int]:
        """Layer sizes (dx, hidden..., out_dim)."""
        return [self.dx, *self.hidden, self.out_dim]


def cells(spec: SweepSpec) -> list[Cell]:
    """The deterministic list of cells of a spec."""
    out = []
    for family in spec.families:
        for labels in spec.labels:
            out_dim = spec.classes if labels == "classes" else spec.dy
            for depth in spec.depths:
                for width in spec.widths:
                    hidden = _hidden_for(width, depth)
                    if hidden is None:
                        continue
                    for n in spec.ns:
                        common = dict(mode=spec.mode, family=family, labels=labels, dx=spec.dx, out_dim=out_dim,
                                      depth=depth, hidden=tuple(hidden), n=int(n), seeds=tuple(range(spec.seeds)))
                        if spec.mode == "trained":
                            tc = dataclasses.replace(spec.train, loss="xent" if labels == "classes" else "mse")
                            out.append(Cell(**common, lrs=tuple(float(v) for v in spec.lrs), train=tc.as_dict()))
                        else:
                            name = dict(spec.depth_constructions).get(depth, spec.construction)
                            out.append(Cell(**common, construction=name, verify_tol=spec.verify_tol))
    return out


def my_share(all_cells: Sequence[Cell], process: int, count: int) -> list[Cell]:
    """Cells process ``process`` of ``count`` is responsible for (round robin)."""
    return [c for i, c in enumerate(all_cells) if i % count == process]


# One residual tolerance for trained and constructive runs: the trained presets fit to max residual 1e-2
# (``train.tol``) and the constructive presets verify at the same ``verify_tol``, so that their capacities
# and bits per parameter (log2(1/tol) bits per real label) are comparable.
PRESETS = {
    "trained": {
        "smoke": dict(depths=(3,), widths=(2, 4, 8), ns=(4, 8), seeds=2, lrs=(1e-2, 3e-2),
                      families=("gaussian", "ball"), train=dict(max_steps=1000, chunk=250, tol=1e-2),
                      runs_per_batch=4, pad_width=8),
        "quick": dict(depths=(2, 3), widths=(2, 3, 4, 6, 8, 12, 16, 24), ns=(4, 8, 16, 32, 64, 128), seeds=4,
                      lrs=(3e-3, 1e-2, 3e-2), train=dict(max_steps=3000, chunk=500, tol=1e-2)),
        "paper": dict(depths=(2, 3, 4), widths=(2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64),
                      ns=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048), seeds=8,
                      families=("gaussian", "ball", "clustered", "line"), labels=("real", "classes"),
                      lrs=(1e-3, 3e-3, 1e-2, 3e-2), train=dict(max_steps=20000, chunk=1000, tol=1e-2),
                      runs_per_batch=4096),
    },
    "constructive": {
        "smoke": dict(depths=(3,), widths=(4, 8), ns=(4, 8, 16), seeds=2, runs_per_batch=4, verify_tol=1e-2),
        "quick": dict(depths=(2, 3), widths=(4, 8, 12, 16, 24, 32, 64, 128), ns=(8, 16, 32, 64, 128, 256, 512),
                      seeds=4, depth_constructions=((2, "zhang"), (3, "yun3")), verify_tol=1e-2),
        "paper": dict(depths=(2, 3), widths=(4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024),
                      ns=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192), seeds=8,
                      depth_constructions=((2, "zhang"), (3, "yun3")),
                      families=("gaussian", "ball", "clustered", "line"), verify_tol=1e-2),
    },
}


def spec_for(mode: str, preset: str, *, construction: str | None = None) -> SweepSpec:
    """The :class:`SweepSpec` of a preset (``construction``: one registry name for every depth)."""
    if mode not in PRESETS:
        raise CapacityError(f"unknown mode {mode!r}; choose constructive or trained")
    if preset not in PRESETS[mode]:
        raise CapacityError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS[mode])}")
    p = dict(PRESETS[mode][preset])
    if "train" in p:
        p["train"] = TrainConfig(**p["train"])
    spec = dataclasses.replace(SweepSpec(mode=mode), **p)
    if construction:
        spec = dataclasses.replace(spec, construction=construction, depth_constructions=())
    return spec
