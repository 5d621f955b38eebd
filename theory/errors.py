"""The root of the toolkit's error hierarchy.

It lives in :mod:`theory` because theory is the bottom layer: a closed-form condition can
already be asked about an impossible architecture.  :mod:`capacity.errors` extends it, and
the ``capacity`` command turns every :class:`CapacityError` into one line and exit code 2.
"""


class CapacityError(ValueError):
    """Bad input or an unsatisfiable request.  The message says what to fix."""


class WidthError(CapacityError):
    """Widths too small (or malformed) for the theorem being applied."""
