"""The machinery of the coursework: exercises, checks, loading a student's work, reports.

An :class:`Exercise` holds a statement (markdown with math), the stub a student starts from,
the reference solution (source text), hints in increasing levels of detail, and its
:class:`Check` s.  A check is a function of the student's module; it returns a :class:`Score`
(items passed out of items tried, and the first failing item named, e.g.
``"point 17: f(x) = 41/100, label 2/5 (seed 301)"``), so points are awarded in proportion
(partial credit).  Checks are *public* (a student runs them) or *instructor* checks (hidden
by default, run at grading time with ``include_hidden=True``); a public check's message never
mentions an instructor check or its data.

A student's exception inside a check is a failed check whose message is the exception's last
line (``NotImplementedError`` says which function is still a stub); it never escapes.  Each
check runs under a wall-clock limit (``signal.setitimer`` on POSIX, main thread only; elsewhere
no limit is enforced).

Plausible wrong answers are kept with every exercise as ``(old, new)`` text replacements of
the reference solution (:func:`wrong_source`), so each is one small, realistic slip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
import types
from fractions import Fraction
from typing import Callable, Mapping, Sequence

from capacity.errors import CapacityError

PUBLIC_PASS_TEXT = "All public checks passed."
_HERE = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_DIRS = tuple({os.path.dirname(_HERE), os.path.join(os.path.dirname(os.path.dirname(_HERE)), "theory"),
                       os.path.dirname(os.__file__), sysconfig.get_paths()["purelib"],
                       sysconfig.get_paths()["platlib"]})


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class Score:
    """What a check found: ``passed`` of ``total`` items, and the first failure named."""

    passed: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total


class CheckFailed(Exception):
    """Raised inside a check to fail it outright with a message for the student."""


class CheckTimeout(Exception):
    """A check ran past its time limit."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One graded check.

    ``fn(module) -> Score`` (or ``None`` for a single all-or-nothing item that passed);
    raising :class:`CheckFailed` fails it with that message.
    """

    name: str
    points: float
    fn: Callable[[types.ModuleType], Score | None]
    hint: str
    public: bool = True
    time_limit: float = 30.0


@dataclasses.dataclass(frozen=True)
class Exercise:
    """A coursework exercise (see the module docstring)."""

    id: str
    number: int
    title: str
    topic: str
    difficulty: str
    minutes: int
    theorem: str  # a name in theory.registry
    statement: str
    stub: str
    solution: str
    hints: tuple[str, ...]
    checks: tuple[Check, ...]
    wrong_answers: Mapping[str, tuple[str, str]]
    functions: tuple[str, ...]  # what the student must define

    @property
    def public_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.public)

    @property
    def instructor_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.public)


@dataclasses.dataclass
class CheckResult:
    name: str
    points: float
    earned: float
    passed: bool
    public: bool
    message: str
    hint: str | None
    seconds: float


@dataclasses.dataclass
class CheckReport:
    """The outcome of running an exercise's checks on one piece of work."""

    exercise: str
    title: str
    results: list[CheckResult]
    include_hidden: bool = False

    @property
    def public_results(self) -> list[CheckResult]:
        return [r for r in self.results if r.public]

    @property
    def passed(self) -> bool:
        """Every public check passed (the CLI's exit status 0)."""
        return all(r.passed for r in self.public_results)

    @property
    def all_passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def earned(self) -> float:
        return sum(r.earned for r in self.results)

    @property
    def total(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def lines(self) -> list[str]:
        out = [f"exercise {self.exercise}: {self.title}"]
        for r in self.results:
            tag = "PASS" if r.passed else "FAIL"
            kind = "" if r.public else " [instructor]"
            out.append(f"  [{tag}] {r.earned:4.1f}/{r.points:<4.1f} {r.name}{kind}"
                       + (f": {r.message}" if r.message and not r.passed else ""))
            if not r.passed and r.hint:
                out.append(f"         hint: {r.hint}")
        pub = self.public_results
        failed = [r for r in pub if not r.passed]
        what = "public and instructor" if self.include_hidden else "public"
        out.append(f"score {self.earned:.1f}/{self.total:.1f} ({what} checks)")
        if not failed:
            out.append(PUBLIC_PASS_TEXT + ("" if self.include_hidden else
                                           " Instructor checks (not shown) run at grading time."))
        else:
            out.append(f"{len(failed)} of {len(pub)} public checks failed; "
                       "'capacity exercises hint ID --level K' gives more help.")
        if self.include_hidden:
            hid = [r for r in self.results if not r.public]
            out.append(f"instructor checks: {sum(r.passed for r in hid)} of {len(hid)} passed")
        return out

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(passed=self.passed, earned=self.earned, total=self.total)
        return d


# --------------------------------------------------------------------------- loading


def load_source(text: str, name: str = "student_solution") -> types.ModuleType:
    """A module made by executing ``text`` (exceptions propagate)."""
    mod = types.ModuleType(name)
    mod.__file__ = f"<{name}>"
    sys.modules[name] = mod  # dataclasses and typing look the module up by name while it runs
    try:
        exec(compile(text, mod.__file__, "exec"), mod.__dict__)  # noqa: S102 - running the student's own code
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def load_path(path: str | os.PathLike) -> types.ModuleType:
    """Import a student's solution file by path (a fresh module each time, never cached)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CapacityError(f"no solution file {path}; run 'capacity exercises start ID --dir DIR' first")
    name = f"capacity_student_{abs(hash(os.path.abspath(path)))}_{time.monotonic_ns()}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses and typing look the module up by name while it runs
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def load_namespace(ns: Mapping) -> types.ModuleType:
    """A module view of a dict of names (e.g. a notebook's ``globals()``)."""
    mod = types.ModuleType("notebook_solution")
    mod.__dict__.update({k: v for k, v in ns.items() if not k.startswith("__")})
    return mod


def last_line(exc: BaseException) -> str:
    """The exception's last line, as a traceback would end, plus where in the student's code it was."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet ({text})"
    where = ""
    for fr in reversed(traceback.extract_tb(exc.__traceback__)):
        fn = os.path.abspath(fr.filename) if not fr.filename.startswith("<") else fr.filename
        if not fn.startswith(_LIBRARY_DIRS):
            where = f" (in {os.path.basename(fr.filename)}, line {fr.lineno}, in {fr.name})"
            break
    return text + where


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`CheckTimeout` after ``seconds`` (POSIX main thread only; else no limit)."""
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and seconds and seconds > 0)
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CheckTimeout(f"took longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_one(check: Check, module: types.ModuleType | None, load_error: str | None = None) -> CheckResult:
    t0 = time.perf_counter()
    if load_error is not None:
        score, msg = None, f"the solution could not be loaded: {load_error}"
    else:
        try:
            with time_limit(check.time_limit):
                score = check.fn(module)
            msg = ""
        except CheckFailed as e:
            score, msg = None, str(e)
        except CheckTimeout as e:
            score, msg = None, f"time limit: {e} (is there an endless loop, or a very slow exact computation?)"
        except Exception as e:  # the student's code failed: a failed check, not a crash
            score, msg = None, last_line(e)
    if score is None and not msg:
        score = Score(1, 1)
    if score is None:
        frac, ok = 0.0, False
    else:
        frac, ok, msg = score.fraction, score.ok, score.message
    return CheckResult(check.name, check.points, round(check.points * frac, 2), ok, check.public, msg,
                       None if ok else check.hint, time.perf_counter() - t0)


def run_checks(ex: Exercise, work, *, include_hidden: bool = False) -> CheckReport:
    """Run ``ex``'s checks on ``work`` (a module, a path to solution.py, source text, or a namespace dict)."""
    module, err = None, None
    try:
        module = as_module(work)
    except CapacityError:
        raise
    except BaseException as e:  # SyntaxError, an exception at import time, ...
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        err = last_line(e)
    checks = ex.checks if include_hidden else ex.public_checks
    return CheckReport(ex.id, ex.title, [run_one(c, module, err) for c in checks], include_hidden)


def as_module(work) -> types.ModuleType:
    if isinstance(work, types.ModuleType):
        return work
    if isinstance(work, Mapping):
        return load_namespace(work)
    if isinstance(work, (str, os.PathLike)) and (isinstance(work, os.PathLike) or "\n" not in work):
        return load_path(work)
    if isinstance(work, str):
        return load_source(work)
    raise CapacityError(f"cannot load a solution from a {type(work).__name__}; give a module, a path or source text")


def wrong_source(ex: Exercise, name: str) -> str:
    """The reference solution with the named plausible mistake applied."""
    old, new = ex.wrong_answers[name]
    if ex.solution.count(old) != 1:
        raise AssertionError(f"{ex.id}: wrong answer {name!r}: the text to replace occurs "
                             f"{ex.solution.count(old)} times in the solution (must be once)")
    return ex.solution.replace(old, new)


# --------------------------------------------------------------------------- helpers for checks


def need(module, name: str):
    """The student's function ``name``; a clear failure when it is missing."""
    f = getattr(module, name, None)
    if f is None:
        raise CheckFailed(f"your solution defines no function {name!r}")
    return f


def fmt(v) -> str:
    """A number as a student reads it: small fractions exactly, others to 6 significant digits."""
    if isinstance(v, Fraction) or type(v).__name__ == "fmpq":
        v = Fraction(int(v.numerator), int(v.denominator)) if isinstance(v, Fraction) else Fraction(int(v.p), int(v.q))
        if v.denominator == 1 or (abs(v.numerator) < 10**6 and v.denominator < 10**6):
            return str(v)
        return f"{float(v):.6g} (a fraction with a {len(str(v.denominator))}-digit denominator)"
    if isinstance(v, float):
        return f"{v:.6g}" if v == v else "nan"
    return str(v)


def tally(items: Sequence[tuple[bool, str]]) -> Score:
    """Score from (ok, description-of-failure) per item; the first failure is reported."""
    items = list(items)
    bad = [msg for ok, msg in items if not ok]
    msg = ""
    if bad:
        msg = bad[0] + (f" (and {len(bad) - 1} more of {len(items)} failing)" if len(bad) > 1 else "")
    return Score(len(items) - len(bad), len(items), msg)


def to_fraction(v) -> Fraction:
    """int / Fraction / fmpq / float (exactly: every float is a dyadic rational) -> Fraction."""
    if isinstance(v, Fraction):
        return v
    if type(v).__name__ == "fmpq":
        return Fraction(int(v.p), int(v.q))
    if hasattr(v, "dtype") and getattr(v, "shape", None) == ():
        v = v.item()
    if isinstance(v, (int, bool)):
        return Fraction(int(v))
    return Fraction(*float(v).as_integer_ratio())


def exact_outputs(kernels, biases, x) -> list[list[Fraction]]:
    """Exact outputs of a ReLU MLP at the rows of ``x`` by the toolkit's exact engine (rationals)."""
    import numpy as np

    from capacity.exact import exact_outputs as exact_forward
    ks = [np.array([[to_fraction(v) for v in row] for row in np.asarray(k, dtype=object)], dtype=object)
          for k in kernels]
    bs = [np.array([to_fraction(v) for v in np.ravel(np.asarray(b, dtype=object))], dtype=object) for b in biases]
    xs = np.array([[to_fraction(v) for v in row] for row in x], dtype=object)
    rows = exact_forward(ks, bs, xs, "relu")
    return [[to_fraction(v) for v in row] for row in rows]


def point_items(outputs, labels, seed=None, what: str = "point"):
    """(ok, message) per data point: exact equality of the network's output with the label."""
    items = []
    tail = f" (data seed {seed})" if seed is not None else ""
    for i, (f, y) in enumerate(zip(outputs, labels)):
        f, y = to_fraction(f), to_fraction(y)
        ok = f == y
        msg = "" if ok else (f"{what} {i}: f(x) = {fmt(f)}, label {fmt(y)} (off by {float(f - y):.3g}){tail}")
        items.append((ok, msg))
    return items
