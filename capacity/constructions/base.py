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

import numpy as np

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


# ------------------------------------------------------------------ scale normalization


def input_scale_exponent(x) -> int:
    """k such that 2^-k max|x| lies in [1/2, 1): the power of two that brings the inputs to unit range.

    Multiplying a float64 by a power of two is exact (away from overflow and underflow), so the
    inputs are scaled without rounding and the scale folds exactly into the first layer.
    """
    m = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if m == 0.0 or not np.isfinite(m):
        return 0
    return int(np.frexp(m)[1])


def _scaled(dataset, k: int):
    """The dataset with inputs multiplied by 2^-k (exactly; refused where that would under/overflow)."""
    from capacity.data import Dataset

    x = np.ldexp(np.asarray(dataset.x, np.float64), -k)
    if not np.array_equal(np.ldexp(x, k), dataset.x):
        raise CapacityError(f"scaling the inputs by 2^{-k} to unit range is not exact in float64 (the data span more "
                            "than the float64 exponent range); rescale them yourself")
    return Dataset(x, dataset.y, dataset.label_scale)


def _times_pow2(a, k: int) -> np.ndarray:
    """Object array of exact numbers (int, Fraction or python-flint fmpq) times 2^k, as Fractions."""
    from fractions import Fraction

    f = Fraction(2) ** k

    def one(v):
        if hasattr(v, "p") and hasattr(v, "q"):  # flint.fmpq
            v = Fraction(int(v.p), int(v.q))
        return Fraction(v) * f

    return np.vectorize(one, otypes=[object])(a)


def _fold_input_scale(net: Network, k: int) -> Network:
    """The network on scaled inputs x' = 2^-k x as a network on x: first-layer weights times 2^-k."""
    if k == 0:
        return net
    if isinstance(net, MLPNet):
        with np.errstate(over="ignore", under="ignore"):
            k0 = np.ldexp(net.kernels[0], -k)
            exact = np.array_equal(np.ldexp(k0, k), net.kernels[0])
        if not exact:
            raise CapacityError(f"the inputs span scale 2^{k}: a network on them needs first-layer weights "
                                f"2^{-k} times those built on unit-range inputs, which under- or overflow float64; "
                                "rescale the inputs (e.g. multiply by a power of two) and build again")
        return dataclasses.replace(net, kernels=[k0] + list(net.kernels[1:]))
    if isinstance(net, ExactMLPNet):
        return dataclasses.replace(net, kernels=[_times_pow2(net.kernels[0], -k)] + list(net.kernels[1:]))
    from capacity.networks import ResidualNet

    if isinstance(net, ResidualNet):
        p = net.params
        if net.is_exact:
            w_in = _times_pow2(p.w_in, -k)
        else:
            with np.errstate(over="ignore", under="ignore"):
                w_in = np.ldexp(p.w_in, -k)
                exact = np.array_equal(np.ldexp(w_in, k), p.w_in)
            if not exact:
                raise CapacityError(f"folding the input scale 2^{-k} into the input map under- or overflows float64")
        return dataclasses.replace(net, params=p._replace(w_in=w_in))
    raise CapacityError(f"cannot fold an input scale into a network of kind {net.kind!r}")


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered construction.

    ``normalize``: the registry builds on inputs scaled by a power of two to unit range and folds
    the scale exactly into the first layer (:func:`input_scale_exponent`), so data of any magnitude
    that float64 holds build alike; off for constructions whose assumption is about the scale
    itself (Hardt-Ma: unit-norm inputs).
    """

    name: str
    build_fn: Callable[..., Construction]
    summary: str
    theorem: str
    exact: Callable[..., Network] | None = None  # (dataset, widths, float_build, **opts) -> exact Network
    activation: str = "relu"
    normalize: bool = True

    def build(self, dataset, widths, **options) -> Construction:
        """Build on power-of-two-normalized inputs; the returned network acts on the original inputs."""
        k = input_scale_exponent(dataset.x) if self.normalize else 0
        if k == 0:
            return self.build_fn(dataset, widths, **options)
        con = self.build_fn(_scaled(dataset, k), widths, **options)
        record = dict(con.record, input_scale_exponent=k)
        return dataclasses.replace(con, net=_fold_input_scale(con.net, k), record=record)

    def exact_network(self, dataset, widths, float_build: Construction, **options) -> Network:
        """The construction in exact arithmetic: the registered rational rebuild (on the same normalized
        inputs as the float build), else the float network itself."""
        if self.exact is None:
            return float_build.net
        k = int(float_build.record.get("input_scale_exponent", 0))
        if k == 0:
            return self.exact(dataset, widths, float_build, **options)
        # the rebuild sees the float build as it was made, on the scaled inputs (the fold by 2^-k was
        # exact, so folding by 2^k undoes it exactly), and its result is folded like the float network
        as_built = dataclasses.replace(float_build, net=_fold_input_scale(float_build.net, -k))
        return _fold_input_scale(self.exact(_scaled(dataset, k), widths, as_built, **options), k)


_REGISTRY: dict[tuple[str, str], Entry] = {}


def register(name: str, build: Callable[..., Construction], summary: str, *, theorem: str,
             exact: Callable[..., Network] | None = None, activation: str = "relu", normalize: bool = True) -> None:
    """Register a construction under ``name`` and ``activation`` (``capacity build --construction NAME
    --activation ACT``); a variant with another activation registers itself under the same name."""
    key = (name, activation)
    if key in _REGISTRY and _REGISTRY[key].build_fn is not build:
        raise CapacityError(f"a construction named {name!r} ({activation}) is already registered")
    _REGISTRY[key] = Entry(name, build, summary, theorem, exact, activation, normalize)


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
