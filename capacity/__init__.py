"""relu-capacity: memorization capacity of ReLU networks.

The public face: what a user reaches for, re-exported from the modules that implement it.

* data: :class:`Dataset`, :func:`make_dataset`, :func:`generate`, :func:`load_data`, :func:`save_data`;
* constructions: :func:`build` (by name), :func:`construction_names`, :class:`Construction`;
* networks: :class:`MLPNet`, :class:`ResidualNet`, :class:`ExactMLPNet`, :func:`load_net`,
  :func:`save_net`, :func:`mlp_apply` (the one forward pass), the NNX modules :class:`MLP`, :class:`ResNet`;
* verification: :func:`verify` (float64 + rigorous bound), :func:`certify` (exact arithmetic),
  :func:`combine` (the level), :class:`Report`, :class:`ExactResult`, :func:`build_and_check`;
* theory: :mod:`theory.bounds`, :mod:`theory.registry` (also as :data:`theorems`);
* errors: :class:`CapacityError` (every user error; the CLI exits 2 on it).

Importing :mod:`capacity` turns on JAX's float64 mode (``jax_enable_x64``): every
construction and verification in this package is float64 by design (see README, "Numerical
standards").  Import it before creating JAX arrays.

Example:
  >>> import capacity
  >>> ds = capacity.generate("gaussian", 100, 4, seed=0)
  >>> con = capacity.build("yun3", ds, (20, 20))
  >>> rep = capacity.verify(con.network(), ds)
  >>> rep.level in ("certified-bound", "measured"), capacity.certify(con.network(), ds).level
  (True, 'certified-bound')
"""

import os as _os
import sys as _sys

# float64 everywhere: set before JAX is imported (JAX reads JAX_ENABLE_X64 then), or switched on
# now if it already was.  The face below is loaded lazily, so that closed-form commands such as
# `capacity check` answer without importing JAX at all.
if "jax" in _sys.modules:
    _sys.modules["jax"].config.update("jax_enable_x64", True)
else:
    _os.environ["JAX_ENABLE_X64"] = "1"

from capacity._version import __version__  # noqa: E402
from capacity.errors import CapacityError, DataError  # noqa: E402

_FACE = {
    "Dataset": ("capacity.data", "Dataset"), "generate": ("capacity.data", "generate"),
    "make_dataset": ("capacity.data", "make_dataset"), "load_data": ("capacity.data", "load_npz"),
    "save_data": ("capacity.data", "save_npz"),
    "MLP": ("capacity.networks", "MLP"), "ExactMLPNet": ("capacity.networks", "ExactMLPNet"),
    "MLPNet": ("capacity.networks", "MLPNet"), "ResidualNet": ("capacity.networks", "ResidualNet"),
    "ResNet": ("capacity.networks", "ResNet"), "load_net": ("capacity.networks", "load_net"),
    "save_net": ("capacity.networks", "save_net"), "mlp_apply": ("capacity.networks", "mlp_apply"),
    "ExactResult": ("capacity.exact", "ExactResult"),
    "DEFAULT_TOL": ("capacity.verification", "DEFAULT_TOL"), "Report": ("capacity.verification", "Report"),
    "certify": ("capacity.verification", "certify"), "combine": ("capacity.verification", "combine"),
    "verify": ("capacity.verification", "verify"),
    "Construction": ("capacity.constructions", "Construction"), "build": ("capacity.constructions", "build"),
    "construction_names": ("capacity.constructions", "names"),
    "build_and_check": ("capacity.workflow", "build_and_check"),
    "bounds": ("theory.bounds", None), "theorems": ("theory.registry", None),
}


def __getattr__(name):
    if name not in _FACE:
        raise AttributeError(f"module 'capacity' has no attribute {name!r}")
    import importlib

    module, attr = _FACE[name]
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_FACE))


__all__ = ["CapacityError", "Construction", "DEFAULT_TOL", "DataError", "Dataset", "ExactMLPNet", "ExactResult", "MLP",
           "MLPNet", "Report", "ResNet", "ResidualNet", "__version__", "bounds", "build", "build_and_check", "certify",
           "combine", "construction_names", "generate", "load_data", "load_net", "make_dataset", "mlp_apply",
           "save_data", "save_net", "theorems", "verify"]
