"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import sys

from capacity.errors import CapacityError


def int_list(text: str) -> list[int]:
    """Parse '284,284' into [284, 284]."""
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 40,40; got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"widths must be positive integers; got {text!r}")
    return vals


def float_list(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e-3,1e-2; got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one number")
    return vals


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {v}")
    return v


def emit(lines, as_json: dict | None = None, json_flag: bool = False) -> None:
    """Print a report (or its JSON form)."""
    if json_flag and as_json is not None:
        print(json.dumps(as_json, indent=2, sort_keys=True, default=str))
    else:
        for line in lines:
            print(line)
    sys.stdout.flush()


def require(cond: bool, message: str) -> None:
    if not cond:
        raise CapacityError(message)


class LongStep:
    """Print ``message`` on stderr only if the step is still running after ``delay`` seconds.

    Long steps show what they are doing; a step that fails at once (bad input) prints nothing
    but its one-line error.
    """

    def __init__(self, message: str, delay: float = 1.0):
        import threading

        self._timer = threading.Timer(delay, lambda: print(message, file=sys.stderr, flush=True))
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        return False


def force_flag(parser) -> None:
    """The one --force option of every command that writes files."""
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files (never an input, a directory or a device; default: refuse)")


def finite_positive(text: str) -> float:
    """argparse type: a finite positive number (tolerances)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 1e-6; got {text!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite positive number; got {text!r}")
    return v


def output_dir(directory: str, patterns, *, force: bool, flag: str) -> str:
    """Check an output directory before any work: creatable and writable, and holding no file that
    matches ``patterns`` (the command's outputs) unless ``force``.  Returns the directory."""
    import glob
    import os

    from capacity import _files

    _files.check_output_dir(directory, flag=flag)
    if not force:
        found = sorted({p for pat in patterns for p in glob.glob(os.path.join(directory, pat))})
        if found:
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            raise CapacityError(f"{flag} {directory} already holds {', '.join(os.path.basename(p) for p in found[:3])}"
                                f"{more}; pass --force to replace them, or choose another {flag}")
    return directory
