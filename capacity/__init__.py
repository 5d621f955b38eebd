"""relu-capacity: memorization capacity of ReLU networks.

Importing :mod:`capacity` turns on JAX's float64 mode (``jax_enable_x64``):
every construction and verification in this package is float64 by design
(see README, "Numerical standards").  Import it before creating JAX arrays.
"""

import jax

jax.config.update("jax_enable_x64", True)

from capacity.errors import CapacityError, DataError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["CapacityError", "DataError", "__version__"]
