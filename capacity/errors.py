"""Exceptions that say what was wrong, where, and how to fix it.

Every error raised on bad user input derives from :class:`CapacityError`; the
CLI turns it into one line on stderr and exit code 2.
"""

from theory.errors import CapacityError, WidthError  # the root lives in the bottom layer

__all__ = ["CapacityError", "WidthError", "DataError", "ShapeError", "NonFiniteError", "DuplicateInputError",
           "LabelRangeError", "DataFileError", "GeneralPositionError", "SeparationError"]


class DataError(CapacityError):
    """A dataset is malformed (shape, values, duplicates, file)."""


class ShapeError(DataError):
    """Arrays have the wrong rank or mismatched lengths."""


class NonFiniteError(DataError):
    """NaN or infinite values in the data."""


class DuplicateInputError(DataError):
    """Two data points share the same input (no function can fit different labels)."""


class LabelRangeError(DataError):
    """Labels outside [-1, 1] where the theorem assumes the box."""


class DataFileError(DataError):
    """A data or network file cannot be read or lacks required arrays."""


class GeneralPositionError(CapacityError):
    """Inputs violate the general-position assumption of a construction."""


class SeparationError(DataError):
    """A separation assumption fails (e.g. Hardt-Ma: a pair closer than rho, or no margin after projection)."""
