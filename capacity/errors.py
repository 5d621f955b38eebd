"""Exceptions that say what was wrong, where, and how to fix it.

Every error raised on bad user input derives from :class:`CapacityError`; the
CLI turns it into one line on stderr and exit code 2.
"""

from theory.errors import CapacityError, WidthError  # the root lives in the bottom layer

__all__ = ["CapacityError", "WidthError", "DataError", "ShapeError", "NonFiniteError", "DuplicateInputError",
           "LabelRangeError", "DataFileError", "GeneralPositionError", "SeparationError", "SlabFitError",
           "FileLimitError", "OutputPathError", "StoreLockedError", "ResourceError"]


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


class SlabFitError(GeneralPositionError):
    """A slab network built for data in general position misses labels by more than the tolerance in
    exact arithmetic: a point inside another group's slab, or a slab too thin for float64 to carry
    its group's labels (data in general position only barely, at float64 resolution)."""


class SeparationError(DataError):
    """A separation assumption fails (e.g. Hardt-Ma: a pair closer than rho, or no margin after projection)."""


class FileLimitError(DataFileError):
    """A data or network file is larger than the memory cap allows, or is malformed in a way that
    could exhaust memory (zip bomb, lying header, too many members, absurdly long strings)."""


class OutputPathError(CapacityError):
    """An output path would destroy something the user owns (an input file, a device, a directory,
    a symbolic link, an existing file without --force) or cannot be written."""


class StoreLockedError(CapacityError):
    """Another process holds the lock of a sweep store (one --out directory per running process)."""


class ResourceError(CapacityError):
    """A request's estimated memory (or time) exceeds the cap; the message gives the estimate,
    the cap and how to override it."""
