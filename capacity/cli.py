"""The ``capacity`` command.  Parsing and reporting only: no mathematics here.

Each sub-command lives in :mod:`capacity.commands` as a module with
``register(subparsers)``; errors in user input (:class:`capacity.errors.CapacityError`)
become one line on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "capacity.commands.build",
    "capacity.commands.verify",
    "capacity.commands.theorems",
    "capacity.commands.pieces",
    "capacity.commands.phase",
    "capacity.commands.sgd",
    "capacity.commands.frontier",
    "capacity.commands.figures",
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
        sys.stderr.write(f"capacity {args.command}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"capacity {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
