"""The record every construction returns, and the registry of constructions by name.

One protocol: a construction module registers ``build(dataset, widths, **options) ->
Construction`` under a name (``capacity build --construction NAME``), the theorem it realizes
(a name in :mod:`theory.registry`), and optionally ``exact(dataset, widths, float_build,
**options) -> Network``: the same construction carried out in exact rational arithmetic
(its weights are exact rationals, of which the float64 build is the rounding).  Without it the
construction's exact network *is* its float64 network (float64 numbers are exact dyadic
rationals).  A new construction plugs in here without touching the CLI: importing the package
:mod:`capacity.constructions` (which Python does before any of its modules) imports every
construction module, and each registers itself.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from capacity.errors import CapacityError
from capacity.networks import MLP, ExactMLPNet, MLPNet, Network


@dataclasses.dataclass
class Construction:
    """A built network (typed: :class:`capacity.networks.MLPNet`, ``ResidualNet`` or
    ``ExactMLPNet``) plus a small, JSON-able record of what the construction chose
    (projection, groups, margins, capacity, ...)."""

    name: str
    net: Network
    record: dict = dataclasses.field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.net.kind

    @property
    def activation(self) -> str:
        return self.net.activation

    @property
    def widths(self) -> tuple[int, ...]:
        return self.net.widths

    @property
    def kernels(self) -> list:
        """The kernels of an MLP kind (float64, or exact numbers for ``mlp-exact``)."""
        if not isinstance(self.net, (MLPNet, ExactMLPNet)):
            raise CapacityError(f"construction {self.name!r} builds a {self.kind} network: use .net")
        return self.net.kernels

    @property
    def biases(self) -> list:
        if not isinstance(self.net, (MLPNet, ExactMLPNet)):
            raise CapacityError(f"construction {self.name!r} builds a {self.kind} network: use .net")
        return self.net.biases

    def network(self, meta: dict | None = None) -> Network:
        """The network with ``meta`` (construction name and public record added) for saving."""
        m = dict(self.net.meta)
        m.update({"construction": self.name, "record": public_record(self.record)})
        m.update(meta or {})
        return dataclasses.replace(self.net, meta=m)

    def module(self) -> MLP:
        """The network as a Flax NNX module with float64 ``nnx.Param`` weights."""
        if not isinstance(self.net, MLPNet):
            if hasattr(self.net, "module"):
                return self.net.module()
            raise CapacityError(f"construction {self.name!r} builds a {self.kind} network with no float module")
        return self.net.module()


def public_record(record: dict) -> dict:
    """The record without private entries (keys starting with '_': large or internal)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[..., Construction]
    summary: str
    theorem: str
    exact: Callable[..., Network] | None = None  # (dataset, widths, float_build, **opts) -> exact Network
    activation: str = "relu"

    def exact_network(self, dataset, widths, float_build: Construction, **options) -> Network:
        """The construction in exact arithmetic: the registered rational rebuild, else the float network."""
        if self.exact is None:
            return float_build.net
        return self.exact(dataset, widths, float_build, **options)


_REGISTRY: dict[tuple[str, str], Entry] = {}


def register(name: str, build: Callable[..., Construction], summary: str, *, theorem: str,
             exact: Callable[..., Network] | None = None, activation: str = "relu") -> None:
    """Register a construction under ``name`` and ``activation`` (``capacity build --construction NAME
    --activation ACT``); a variant with another activation registers itself under the same name."""
    key = (name, activation)
    if key in _REGISTRY and _REGISTRY[key].build is not build:
        raise CapacityError(f"a construction named {name!r} ({activation}) is already registered")
    _REGISTRY[key] = Entry(name, build, summary, theorem, exact, activation)


def get(name: str, activation: str = "relu") -> Entry:
    """The entry of construction ``name`` for ``activation``; a CapacityError listing what exists."""
    if (name, activation) not in _REGISTRY:
        if name not in names():
            raise CapacityError(f"unknown construction {name!r}; available: {', '.join(names())}")
        have = sorted(a for n, a in _REGISTRY if n == name)
        raise CapacityError(f"construction {name!r} has no {activation} variant; available: {', '.join(have)}")
    return _REGISTRY[(name, activation)]


def names() -> list[str]:
    return sorted({n for n, _ in _REGISTRY})


def entries() -> list[Entry]:
    """Every registered (construction, activation) entry."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def build(name: str, dataset, widths: Sequence[int], *, activation: str = "relu", **options) -> Construction:
    """Build construction ``name`` (its ``activation`` variant) for ``dataset`` with hidden ``widths``."""
    return get(name, activation).build(dataset, widths, activation=activation, **options)
