"""Explicit memorizing networks, one module per theorem or construction.

Each module states its theorem in the module docstring and registers a builder
``build(dataset, widths, **options) -> Construction`` under a name used by
``capacity build --construction NAME``.  Builders are pure functions of their
inputs (same data, widths and seed give identical weights).
"""

import importlib

from capacity.constructions.base import Construction, build, get, names, register

# Modules imported (and so registered) on first use of the registry.
_MODULE_NAMES = [
    "capacity.constructions.yun3",
    "capacity.constructions.yun_classify",
    "capacity.constructions.yun_deep",
    "capacity.constructions.yun_resnet",
    "capacity.constructions.zhang",
    "capacity.constructions.baum",
    "capacity.constructions.bubeck",
    "capacity.constructions.hardt_ma",
    "capacity.constructions.vardi",
]

MODULES = [importlib.import_module(m) for m in _MODULE_NAMES]

__all__ = ["Construction", "build", "get", "names", "register"]
