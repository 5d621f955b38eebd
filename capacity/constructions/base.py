"""The record every construction returns, and the registry of constructions by name."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from capacity.errors import CapacityError
from capacity.networks import MLP, NetFile


@dataclasses.dataclass
class Construction:
    """A built network plus a small, JSON-able record of what the construction chose.

    ``kernels``/``biases`` follow :mod:`capacity.networks` (kernel (in, out)).
    ``record`` holds the decisions (projection, groups, margins, capacity, ...).
    ``kind`` is ``"mlp"`` unless the construction builds another architecture, whose
    arrays then live in ``extra`` (documented by that construction's module).
    """

    name: str
    kernels: list
    biases: list
    activation: str = "relu"
    record: dict = dataclasses.field(default_factory=dict)
    kind: str = "mlp"
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(np.shape(self.kernels[0])[0]),) + tuple(int(np.shape(k)[1]) for k in self.kernels)

    def net_file(self, meta: dict | None = None) -> NetFile:
        """The network as a NET.npz record (float64 arrays).

        For ``kind = "mlp-exact"`` (weights beyond float64, e.g. Vardi's big integers) the float64
        arrays are roundings kept for inspection only (overflowing entries become ±inf); the exact
        weights travel in ``extra`` and only the exact tier may verify such a network.
        """
        m = {"construction": self.name, "record": self.record}
        m.update(meta or {})
        return NetFile([_float_array(k) for k in self.kernels], [_float_array(b) for b in self.biases],
                       self.activation, m, self.kind, dict(self.extra))

    def module(self) -> MLP:
        """The network as a Flax NNX module with float64 ``nnx.Param`` weights."""
        if self.kind != "mlp":
            raise CapacityError(f"construction {self.name!r} builds a {self.kind} network, not a plain MLP")
        return MLP(self.kernels, self.biases, self.activation)


def _float_array(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != object:
        return a.astype(np.float64)

    def conv(v):
        try:
            return float(v)
        except OverflowError:
            return float("inf") if v > 0 else float("-inf")

    return np.vectorize(conv, otypes=[np.float64])(a) if a.size else a.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[..., Construction]
    summary: str
    theorem: str | None = None  # name in theory.registry
    certify: Callable | None = None  # exact tier: (dataset, widths, **opts) -> capacity.certify.ExactResult
    widths_help: str = ""


_REGISTRY: dict[str, Entry] = {}


def register(name: str, build: Callable[..., Construction], summary: str, *, theorem: str | None = None,
             certify: Callable | None = None, widths_help: str = "") -> None:
    """Register a construction under ``name`` (used by ``capacity build --construction``)."""
    _REGISTRY[name] = Entry(name, build, summary, theorem, certify, widths_help)


def get(name: str) -> Entry:
    _load_all()
    if name not in _REGISTRY:
        raise CapacityError(f"unknown construction {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def build(name: str, dataset, widths: Sequence[int], **options) -> Construction:
    """Build construction ``name`` for ``dataset`` with hidden ``widths``."""
    return get(name).build(dataset, widths, **options)


def _load_all() -> None:
    from capacity.constructions import MODULES  # noqa: F401  (importing registers)
