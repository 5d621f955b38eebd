"""Sub-commands of the ``capacity`` CLI, one module each (see :mod:`capacity.cli`)."""
