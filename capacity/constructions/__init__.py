"""Explicit memorizing networks, one module per theorem or construction.

Each public module states its theorem in its docstring and registers a builder
``build(dataset, widths, **options) -> Construction`` (and, where it has one, its exact
rational rebuild) under a name used by ``capacity build --construction NAME``.  Builders are
pure functions of their inputs (same data, widths and seed give identical weights).  Shared
gadgets live in private modules (``_projection``, ``_block1d``, ``_numbers``, ``_slabs``); no
construction imports another construction.
"""

# Importing a construction module registers it (capacity.constructions.base.register).
from capacity.constructions import (baum, bubeck, hardt_ma, vardi, yun3, yun3_hardtanh, yun_classify,  # noqa: F401
                                    yun_deep, yun_resnet, zhang)
from capacity.constructions.base import Construction, Entry, build, entries, get, names, public_record, register

__all__ = ["Construction", "Entry", "build", "entries", "get", "names", "public_record", "register"]
