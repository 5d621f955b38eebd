"""The ``capacity`` command.  Parsing and printing only: no mathematics and no policy here.

Each sub-command lives in this package as a module with ``register(subparsers)``.  Exit codes:
0 interpolates (or success), 1 does not interpolate, 2 bad input or usage (one line on stderr,
no traceback: every :class:`capacity.errors.CapacityError`), 3 internal error (one line naming
a file that holds the traceback: please report it), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "capacity.cli.build",
    "capacity.cli.verify",
    "capacity.cli.theorems",
    "capacity.cli.pieces",
    "capacity.cli.phase",
    "capacity.cli.sgd",
    "capacity.cli.frontier",
    "capacity.cli.figures",
    "capacity.exercises.cli",
    "capacity.experiments.memorization.cli",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="capacity", description="Memorization capacity of ReLU networks: build, verify, "
                     "certify, sweep, and simulate.  Run 'capacity COMMAND --help' for each command.")
    from capacity import __version__

    parser.add_argument("--version", action="version", version=f"relu-capacity {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    from capacity.errors import CapacityError

    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CapacityError as e:
        sys.stderr.write(f"capacity {args.command}: error: {_one_line(e)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"capacity {args.command}: interrupted\n")
        return 130
    except MemoryError:
        sys.stderr.write(f"capacity {args.command}: error: out of memory; use smaller sizes (or a machine with more "
                         "memory)\n")
        return 2
    except Exception as e:  # noqa: BLE001 - the one place that turns a bug into exit 3
        path = _write_traceback(args.command)
        sys.stderr.write(f"capacity {args.command}: internal error ({type(e).__name__}: {_one_line(e)[:200]}); "
                         f"please report it with the traceback in {path}\n")
        return 3


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _write_traceback(command: str) -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix=f"capacity-{command}-", suffix=".traceback.txt")
    with open(fd, "w") as f:
        traceback.print_exc(file=f)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
