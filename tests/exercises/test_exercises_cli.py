"""``capacity exercises``: list/start/check/hint/solution/export, exit codes, never overwriting, notebooks."""

import json
import os

import pytest

nbformat = pytest.importorskip("nbformat")

from capacity import exercises  # noqa: E402
from capacity.cli import main  # noqa: E402  (the real `capacity` command)
from capacity.exercises import cli  # noqa: E402


@pytest.fixture
def ex_cli(capsys):
    """Run ``capacity exercises ...`` in-process through the ``capacity`` entry point: (exit code, stdout, stderr)."""

    def run(*argv):
        try:
            code = main(["exercises", *argv])
        except SystemExit as e:  # argparse usage errors
            code = e.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_list_shows_every_exercise(ex_cli):
    code, out, _ = ex_cli("list")
    assert code == 0
    for e in exercises.all_exercises():
        assert e.id in out and e.title in out and e.theorem in out
    code, out, _ = ex_cli("list", "--json")
    rows = json.loads(out)
    assert [r["number"] for r in rows] == list(range(1, len(rows) + 1)) and all(r["minutes"] > 0 for r in rows)


def test_student_session_start_check_fail_fill_in_check_pass(ex_cli, tmp_path):
    d = str(tmp_path)
    code, out, _ = ex_cli("start", "3", "--dir", d)
    ws = tmp_path / "03-yun-gadget"
    assert code == 0 and (ws / "README.md").exists() and (ws / "solution.py").exists() and (ws / "check.sh").exists()
    assert "capacity exercises check 3 --dir" in (ws / "README.md").read_text()
    assert os.access(ws / "check.sh", os.X_OK)
    code, out, err = ex_cli("check", "3", "--dir", d)
    assert code == 1 and "[FAIL]" in out and "hint:" in out and "Traceback" not in out + err
    (ws / "solution.py").write_text(exercises.get(3).solution)
    code, out, _ = ex_cli("check", "3", "--dir", d)
    assert code == 0 and "All public checks passed." in out and "[instructor]" not in out
    code, out, _ = ex_cli("check", "3", "--dir", d, "--instructor", "--json")
    rep = json.loads(out)
    assert code == 0 and rep["passed"] and any(not r["public"] for r in rep["results"])


def test_start_never_overwrites(ex_cli, tmp_path):
    ws = tmp_path / "01-pieces"
    ws.mkdir()
    (ws / "solution.py").write_text("# my work\n")
    code, out, _ = ex_cli("start", "1", "--dir", str(tmp_path))
    assert code == 0 and "kept your existing" in out
    assert (ws / "solution.py").read_text() == "# my work\n"
    readme = (ws / "README.md").read_text()
    (ws / "README.md").write_text(readme + "my notes\n")
    ex_cli("start", "1", "--dir", str(tmp_path))
    assert (ws / "README.md").read_text().endswith("my notes\n")


def test_student_exception_is_a_failed_check_not_a_crash(ex_cli, tmp_path):
    p = tmp_path / "mine.py"
    p.write_text("def alternating_dataset(n):\n    return 1 / 0\n")
    code, out, err = ex_cli("check", "4", "--file", str(p))
    assert code == 1 and "ZeroDivisionError: division by zero" in out and "Traceback" not in out + err
    assert "your solution defines no function 'certificate'" in out


def test_bad_usage_exits_2_with_one_line(ex_cli, tmp_path):
    for argv in (("check", "3", "--dir", str(tmp_path)), ("start", "99"), ("hint", "3", "--level", "9"),
                 ("bogus",)):
        code, out, err = ex_cli(*argv)
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, argv
    code, _, err = ex_cli()
    assert code == 2


def test_hint_levels_and_marked_solution(ex_cli):
    ex = exercises.get(2)
    for k in range(1, len(ex.hints) + 1):
        code, out, _ = ex_cli("hint", "2", "--level", str(k))
        assert code == 0 and ex.hints[k - 1] in out and f"hint {k} of {len(ex.hints)}" in out
    code, out, _ = ex_cli("solution", "02-zhang")
    assert code == 0 and cli.SOLUTION_BANNER in out and "def zhang_network" in out


@pytest.mark.parametrize("number", [2, 7])
def test_notebook_runs_top_to_bottom_with_the_solution_pasted_in(ex_cli, tmp_path, capsys, number):
    ex = exercises.get(number)
    code, _, _ = ex_cli("start", str(number), "--dir", str(tmp_path), "--notebook")
    path = tmp_path / ex.id / "solution.ipynb"
    assert code == 0 and path.exists() and not (tmp_path / ex.id / "solution.py").exists()
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    code, out, _ = ex_cli("check", str(number), "--dir", str(tmp_path))  # the untouched stub cell
    assert code == 1
    (cell,) = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    cell.source = ex.solution
    nbformat.write(nb, str(path))
    ns = {"__name__": "__main__"}
    for c in nb.cells:  # top to bottom, one namespace, as a kernel would
        if c.cell_type == "code":
            exec(compile(c.source, f"<cell {nb.cells.index(c)}>", "exec"), ns)
    assert "All public checks passed." in capsys.readouterr().out
    assert ns["report"].passed
    code, out, _ = ex_cli("check", str(number), "--dir", str(tmp_path))
    assert code == 0


@pytest.mark.parametrize("fmt", ["otter", "plain"])
def test_export_writes_every_exercise_and_refuses_to_overwrite(ex_cli, tmp_path, fmt):
    out_dir = tmp_path / "course"
    code, out, _ = ex_cli("export", "--format", fmt, str(out_dir))
    assert code == 0
    index = json.loads((out_dir / "exercises.json").read_text())
    assert len(index["exercises"]) == len(exercises.all_exercises())
    for e in exercises.all_exercises():
        d = out_dir / e.id
        assert (d / "instructor" / "reference_solution.py").read_text() == e.solution
        if fmt == "otter":
            tests = sorted((d / "tests").glob("*.py"))
            assert len(tests) == len(e.checks)
            hidden = 0
            for t in tests:
                ns = {}
                exec(t.read_text(), ns)
                assert ns["OK_FORMAT"] is True and ns["test"]["points"] > 0
                hidden += ns["test"]["suites"][0]["cases"][0]["hidden"]
            assert hidden == len(e.instructor_checks)
            nbformat.validate(nbformat.read(str(d / f"{e.id}.ipynb"), as_version=4))
        else:
            checks = json.loads((d / "checks.json").read_text())
            assert [c["public"] for c in checks] == [c.public for c in e.checks]
            assert (d / "solution.py").read_text() == e.stub
    before = {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    code, _, err = ex_cli("export", "--format", fmt, str(out_dir))
    assert code == 2 and "refuses to overwrite" in err
    assert {p: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()} == before


def test_exported_otter_case_runs_a_check():
    ex = exercises.get(7)
    name, text = cli.otter_test(ex, ex.public_checks[0], 1)
    ns = {}
    exec(text, ns)
    code = ns["test"]["suites"][0]["cases"][0]["code"]
    import doctest

    student = {}
    exec(ex.solution, student)
    test = doctest.DocTestParser().get_doctest(code, student, name, None, 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    student_stub = {}
    exec(ex.stub, student_stub)
    test = doctest.DocTestParser().get_doctest(code, student_stub, name, None, 0)
    runner = doctest.DocTestRunner()
    runner.run(test, out=lambda s: None)
    assert runner.summarize(verbose=False).failed == 1
