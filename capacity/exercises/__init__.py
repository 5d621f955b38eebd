"""Coursework: auto-checked exercises on memorization capacity, with hints and partial credit.

Each exercise is tied to a theorem of :mod:`theory.registry` and lives in its own module
(``ex01_pieces`` ... ``ex08_frontier``) holding its statement, stub, reference solution,
hints, public and instructor checks, and the plausible wrong answers the checks must catch.
The command line (``capacity exercises list|start|check|hint|solution|export``) is
:mod:`capacity.exercises.cli`; this package is the Python API it prints from:

  >>> from capacity import exercises
  >>> [e.number for e in exercises.all_exercises()][:3]
  [1, 2, 3]
  >>> rep = exercises.check("1", exercises.get("1").solution)   # source text, a module, a path or a dict
  >>> rep.passed, rep.lines()[-1]
  (True, 'All public checks passed. Instructor checks (not shown) run at grading time.')

See ``docs/exercises.md`` for running a course, adding an exercise and exporting.
"""

from __future__ import annotations

import importlib

from capacity.errors import CapacityError
from capacity.exercises._core import (
    Check,
    CheckReport,
    CheckResult,
    Exercise,
    Score,
    run_checks,
    wrong_source,
)

_MODULES = [
    "capacity.exercises.ex01_pieces",
    "capacity.exercises.ex02_zhang",
    "capacity.exercises.ex03_yun_gadget",
    "capacity.exercises.ex04_necessity",
    "capacity.exercises.ex05_phase",
    "capacity.exercises.ex06_sgd",
    "capacity.exercises.ex07_vardi",
    "capacity.exercises.ex08_frontier",
]

_CACHE: list[Exercise] | None = None


def all_exercises() -> list[Exercise]:
    """Every exercise, in order."""
    global _CACHE
    if _CACHE is None:
        _CACHE = [importlib.import_module(m).EXERCISE for m in _MODULES]
    return list(_CACHE)


def get(ident) -> Exercise:
    """An exercise by number (``3`` or ``"3"``) or id (``"03-yun-gadget"``)."""
    text = str(ident).strip()
    for e in all_exercises():
        if text == e.id or (text.isdigit() and int(text) == e.number):
            return e
    known = ", ".join(f"{e.number} ({e.id})" for e in all_exercises())
    raise CapacityError(f"unknown exercise {ident!r}; known: {known} (run 'capacity exercises list')")


def check(ident, work, *, include_hidden: bool = False) -> CheckReport:
    """Run the checks of exercise ``ident`` on ``work``: a module, a path to solution.py, source text,
    or a namespace dict such as a notebook's ``globals()``.  Public checks only unless ``include_hidden``."""
    return run_checks(get(ident), work, include_hidden=include_hidden)


def run_check(ident, check_name: str, work) -> CheckResult:
    """One named check (public or instructor) on ``work``; used by exported otter tests."""
    from capacity.exercises._core import as_module, run_one

    ex = get(ident)
    for c in ex.checks:
        if c.name == check_name:
            return run_one(c, as_module(work))
    raise CapacityError(f"exercise {ex.id} has no check named {check_name!r}")


__all__ = ["Check", "CheckReport", "CheckResult", "Exercise", "Score", "all_exercises", "check", "get",
           "run_check", "wrong_source"]
