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

import jax

jax.config.update("jax_enable_x64", True)

from capacity._version import __version__  # noqa: E402

from capacity.errors import CapacityError, DataError  # noqa: E402
from capacity.data import Dataset, generate, make_dataset  # noqa: E402
from capacity.data import load_npz as load_data, save_npz as save_data  # noqa: E402
from capacity.networks import (MLP, ExactMLPNet, MLPNet, ResidualNet, ResNet, load_net, mlp_apply,  # noqa: E402
                               save_net)
from capacity.exact import ExactResult  # noqa: E402
from capacity.verification import DEFAULT_TOL, Report, certify, combine, verify  # noqa: E402
from capacity.constructions import Construction, build  # noqa: E402
from capacity.constructions import names as construction_names  # noqa: E402
from capacity.workflow import build_and_check  # noqa: E402
from theory import bounds, registry as theorems  # noqa: E402

__all__ = ["CapacityError", "Construction", "DEFAULT_TOL", "DataError", "Dataset", "ExactMLPNet", "ExactResult", "MLP",
           "MLPNet", "Report", "ResNet", "ResidualNet", "__version__", "bounds", "build", "build_and_check", "certify",
           "combine", "construction_names", "generate", "load_data", "load_net", "make_dataset", "mlp_apply",
           "save_data", "save_net", "theorems", "verify"]
