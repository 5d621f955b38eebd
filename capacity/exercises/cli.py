"""``capacity exercises``: list, start, check, hint, solution, export.  Parsing and printing only.

Exit codes: 0 when every public check passes (and for the other actions on success), 1 when some
public check fails, 2 for bad usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import sys

from capacity.errors import CapacityError

ACTIONS = ("list", "start", "check", "hint", "solution", "export")


def register(sub) -> None:
    p = sub.add_parser(
        "exercises", help="coursework: auto-checked exercises with hints and partial credit",
        description="Exercises on memorization capacity, each tied to a theorem of 'capacity theorems'.  "
                    "'start ID' writes a workspace (statement, stub, check command); 'check ID' grades it "
                    "(exit 0 when every public check passes, 1 when some fail, 2 for bad usage).")
    cls = type(p)
    esub = p.add_subparsers(dest="exercises_action", metavar="ACTION", parser_class=cls)

    q = esub.add_parser("list", help="id, title, topic, difficulty, estimated time")
    q.add_argument("--json", action="store_true", help="print JSON")

    q = esub.add_parser("start", help="write a student workspace (never overwrites a file)")
    q.add_argument("id", metavar="ID", help="exercise number or id (see 'list')")
    q.add_argument("--dir", default=".", help="where to put the workspace DIR/<id>/ (default: current directory)")
    q.add_argument("--notebook", action="store_true", help="write solution.ipynb (nbformat) instead of solution.py")

    q = esub.add_parser("check", help="run the public checks on your solution")
    q.add_argument("id", metavar="ID")
    q.add_argument("--dir", default=".", help="the --dir given to 'start' (default: current directory)")
    q.add_argument("--file", default=None, help="check this solution file instead of DIR/<id>/solution.py")
    q.add_argument("--instructor", action="store_true", help="also run the instructor checks (grading)")
    q.add_argument("--json", action="store_true", help="print the report as JSON")

    q = esub.add_parser("hint", help="a hint; higher levels say more")
    q.add_argument("id", metavar="ID")
    q.add_argument("--level", type=int, default=1, help="hint level, 1 = gentlest (default 1)")

    q = esub.add_parser("solution", help="the instructor's reference solution (clearly marked)")
    q.add_argument("id", metavar="ID")

    q = esub.add_parser("export", help="write every exercise with public and instructor checks for a grader")
    q.add_argument("--format", required=True, choices=("otter", "plain"), help="otter (OK-format tests) or plain")
    q.add_argument("dir", metavar="DIR", help="output directory (existing files are never overwritten)")
    p.set_defaults(func=run, _exercises_parser=p)


def run(args) -> int:
    action = getattr(args, "exercises_action", None)
    if action is None:
        args._exercises_parser.print_help(sys.stderr)
        return 2
    return {"list": _list, "start": _start, "check": _check, "hint": _hint, "solution": _solution,
            "export": _export}[action](args)


# ----------------------------------------------------------------------------- actions


def _list(args) -> int:
    from capacity.exercises import all_exercises

    exs = all_exercises()
    if args.json:
        print(json.dumps([{"number": e.number, "id": e.id, "title": e.title, "topic": e.topic,
                           "difficulty": e.difficulty, "minutes": e.minutes, "theorem": e.theorem,
                           "public_checks": len(e.public_checks), "instructor_checks": len(e.instructor_checks),
                           "points": sum(c.points for c in e.public_checks)} for e in exs], indent=2))
        return 0
    wt = max(len(e.title) for e in exs)
    wp = max(len(e.topic) for e in exs)
    print(f"{'#':>2}  {'id':14s} {'title':{wt}s}  {'topic':{wp}s}  {'difficulty':10s} {'time':>6s}  theorem")
    for e in exs:
        print(f"{e.number:2d}  {e.id:14s} {e.title:{wt}s}  {e.topic:{wp}s}  {e.difficulty:10s} {e.minutes:4d} m  {e.theorem}")
    print("start one with: capacity exercises start ID [--dir DIR] [--notebook]")
    return 0


def workspace(ex, directory: str) -> str:
    return os.path.join(directory, ex.id)


def readme_text(ex, directory: str) -> str:
    cmd = f"capacity exercises check {ex.number} --dir {directory}"
    return (ex.statement.strip() + "\n\n## Working on it\n\n"
            f"Edit `solution.py` (or `solution.ipynb`) in this folder: fill in {', '.join(f'`{f}`' for f in ex.functions)}.\n\n"
            f"Check your work with\n\n    {cmd}\n\n(or `sh check.sh`).  Each check prints its points and, when it fails, "
            "the failing input and a hint.  More help: "
            f"`capacity exercises hint {ex.number} --level 1` (levels 1 to {len(ex.hints)}).\n")


def _nbformat():
    try:
        import nbformat
    except ImportError:
        raise CapacityError("notebooks need the nbformat package (pip install nbformat); "
                            "without it use the plain solution.py workspace / --format plain") from None
    return nbformat


def notebook(ex):
    """The student notebook: statement, stub cell (tagged 'solution'), check cell."""
    nbformat = _nbformat()

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    stub = nbformat.v4.new_code_cell(ex.stub)
    stub.metadata["tags"] = ["solution"]
    check = nbformat.v4.new_code_cell(
        "from capacity.exercises import check\n"
        f"report = check({ex.id!r}, globals())\n"
        "print('\\n'.join(report.lines()))")
    check.metadata["tags"] = ["check"]
    nb.cells = [nbformat.v4.new_markdown_cell(ex.statement.strip()),
                nbformat.v4.new_markdown_cell("## Your solution\nFill in the functions below, then run the check cell."),
                stub,
                nbformat.v4.new_markdown_cell("## Check\nPublic checks with points and hints.  "
                                              f"More help: `capacity exercises hint {ex.number} --level 1`."),
                check]
    return nb


def _write_new(path: str, text: str, written: list, kept: list, mode: int | None = None) -> None:
    """Write ``path`` only if it does not exist (exclusive create: never overwrites)."""
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        kept.append(path)
        return
    if mode is not None:
        os.chmod(path, mode)
    written.append(path)


def _start(args) -> int:
    from capacity.exercises import get

    ex = get(args.id)
    ws = workspace(ex, args.dir)
    try:
        os.makedirs(ws, exist_ok=True)
    except OSError as e:
        raise CapacityError(f"cannot create the workspace {ws}: {e.strerror}") from None
    written, kept = [], []
    _write_new(os.path.join(ws, "README.md"), readme_text(ex, args.dir), written, kept)
    if args.notebook:
        _write_new(os.path.join(ws, "solution.ipynb"), _nbformat().writes(notebook(ex)), written, kept)
    else:
        _write_new(os.path.join(ws, "solution.py"), ex.stub, written, kept)
    script = (f'#!/bin/sh\n# Check exercise {ex.id} (public checks).\ncd "$(dirname "$0")/.." && '
              f'exec capacity exercises check {ex.number} --dir . "$@"\n')
    _write_new(os.path.join(ws, "check.sh"), script, written, kept, 0o755)
    print(f"exercise {ex.number}: {ex.title}  (theorem {ex.theorem})")
    for pth in written:
        print(f"  wrote {pth}")
    for pth in kept:
        print(f"  kept your existing {pth} (start never overwrites)")
    target = "solution.ipynb" if args.notebook else "solution.py"
    print(f"next: read {os.path.join(ws, 'README.md')}, fill in {os.path.join(ws, target)}, then run\n"
          f"  capacity exercises check {ex.number} --dir {args.dir}")
    return 0


def notebook_source(path: str) -> str:
    """The code of a student notebook's cells tagged 'solution' (all code cells but the check cell if none)."""
    nbformat = _nbformat()

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # a corrupt notebook is the student's file, not our crash
        raise CapacityError(f"{path}: not a readable notebook ({e})") from None
    cells = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    chosen = tagged or [c for c in cells if "check" not in c.get("metadata", {}).get("tags", [])]
    return "\n\n".join(c.source for c in chosen)


def _check(args) -> int:
    from capacity.exercises import get
    from capacity.exercises._core import run_checks

    ex = get(args.id)
    if args.file:
        path = args.file
    else:
        ws = workspace(ex, args.dir)
        path = os.path.join(ws, "solution.py")
        if not os.path.exists(path) and os.path.exists(os.path.join(ws, "solution.ipynb")):
            path = os.path.join(ws, "solution.ipynb")
    if not os.path.isfile(path):
        raise CapacityError(f"no solution at {path}; run 'capacity exercises start {ex.number} --dir {args.dir}' "
                            "first (or give --file)")
    work = notebook_source(path) if path.endswith(".ipynb") else path
    report = run_checks(ex, work, include_hidden=args.instructor)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print("\n".join(report.lines()))
    return 0 if report.passed else 1


def _hint(args) -> int:
    from capacity.exercises import get

    ex = get(args.id)
    k = args.level
    if not 1 <= k <= len(ex.hints):
        raise CapacityError(f"exercise {ex.number} has hint levels 1 to {len(ex.hints)}; got --level {k}")
    print(f"exercise {ex.number}, hint {k} of {len(ex.hints)}: {ex.hints[k - 1]}")
    if k < len(ex.hints):
        print(f"(more: capacity exercises hint {ex.number} --level {k + 1})")
    return 0


SOLUTION_BANNER = "INSTRUCTOR SOLUTION (reference) - not for distribution to students"


def _solution(args) -> int:
    from capacity.exercises import get

    ex = get(args.id)
    bar = "#" * len(SOLUTION_BANNER)
    print(f"{bar}\n{SOLUTION_BANNER}\n# exercise {ex.id}: {ex.title}\n{bar}")
    print(ex.solution.rstrip())
    print(bar)
    return 0


# ----------------------------------------------------------------------------- export


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


def otter_test(ex, check, index: int) -> tuple[str, str]:
    """(test name, OK-format test file) running one check through capacity.exercises.run_check."""
    name = f"q{ex.number:02d}_{index:02d}_{_slug(check.name)}"
    code = (f">>> from capacity.exercises import run_check\n"
            f">>> _r = run_check({ex.id!r}, {check.name!r}, globals())\n"
            f">>> _r.passed or print(_r.message + ' | hint: ' + (_r.hint or ''))\nTrue")
    test = {"name": name, "points": check.points, "suites": [{
        "cases": [{"code": code, "hidden": not check.public, "locked": False, "points": check.points,
                   "success_message": f"{check.name}: passed",
                   "failure_message": f"{check.name}: failed. Hint: {check.hint}"}],
        "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
    import pprint

    return name, "OK_FORMAT = True\n\ntest = " + pprint.pformat(test, indent=1, width=110, sort_dicts=False) + "\n"


def export_files(fmt: str, directory: str) -> dict[str, str]:
    """Every file the export writes: {path: text}."""
    from capacity.exercises import all_exercises

    files: dict[str, str] = {}
    index = []
    for ex in all_exercises():
        d = os.path.join(directory, ex.id)
        checks = [{"name": c.name, "points": c.points, "public": c.public, "hint": c.hint} for c in ex.checks]
        index.append({"number": ex.number, "id": ex.id, "title": ex.title, "theorem": ex.theorem,
                      "topic": ex.topic, "difficulty": ex.difficulty, "minutes": ex.minutes,
                      "public_points": sum(c.points for c in ex.checks if c.public),
                      "instructor_points": sum(c.points for c in ex.checks if not c.public)})
        files[os.path.join(d, "README.md")] = readme_text(ex, ".")
        files[os.path.join(d, "instructor", "reference_solution.py")] = ex.solution
        files[os.path.join(d, "instructor", "hints.md")] = "\n".join(
            f"{k}. {h}" for k, h in enumerate(ex.hints, 1)) + "\n"
        if fmt == "plain":
            files[os.path.join(d, "solution.py")] = ex.stub
            files[os.path.join(d, "checks.json")] = json.dumps(checks, indent=2) + "\n"
            files[os.path.join(d, "instructor", "grade.py")] = (
                f'"""Grade a submission of exercise {ex.id}: public and instructor checks, JSON on stdout.\n\n'
                f'Usage: python grade.py PATH/TO/solution.py\n"""\nimport json\nimport sys\n\n'
                f"from capacity.exercises import check\n\nreport = check({ex.id!r}, sys.argv[1], include_hidden=True)\n"
                "print(json.dumps(report.as_dict(), indent=2, default=str))\n"
                "sys.exit(0 if report.all_passed else 1)\n")
        else:
            nb = notebook(ex)
            _nbf = _nbformat()

            nb.cells.insert(0, _nbf.v4.new_code_cell('import otter\ngrader = otter.Notebook("tests")'))
            for i, c in enumerate(ex.checks, 1):
                name, text = otter_test(ex, c, i)
                files[os.path.join(d, "tests", name + ".py")] = text
                if c.public:
                    nb.cells.append(_nbf.v4.new_code_cell(f'grader.check("{name}")'))
            files[os.path.join(d, f"{ex.id}.ipynb")] = _nbf.writes(nb)
    files[os.path.join(directory, "exercises.json")] = json.dumps(
        {"format": fmt, "exercises": index,
         "note": "instructor/ folders hold reference solutions: do not distribute them"}, indent=2) + "\n"
    return files


def _export(args) -> int:
    files = export_files(args.format, args.dir)
    existing = [p for p in files if os.path.exists(p)]
    if existing:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise CapacityError(f"export refuses to overwrite existing files: {', '.join(existing[:3])}{more}; "
                            "choose an empty or new DIR")
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    n_ex = len({os.path.relpath(p, args.dir).split(os.sep)[0] for p in files}) - 1
    print(f"exported {n_ex} exercises ({args.format} format, {len(files)} files) to {args.dir}")
    print("instructor/ folders hold the reference solutions: keep them out of what students receive")
    return 0
