"""The check runner: exceptions become failed checks, time limits, loading by path, hidden checks."""

import textwrap

from capacity.exercises._core import Check, Exercise, Score, run_checks, tally


def _toy(time_limit=5.0):
    def check_f(mod):
        return tally([(mod.f(i) == 2 * i, f"f({i}) = {mod.f(i)!r}, expected {2 * i}") for i in range(4)])

    def check_hidden(mod):
        return Score(int(mod.f(100) == 200), 1, "secret input")

    return Exercise(
        id="00-toy", number=0, title="toy", topic="t", difficulty="easy", minutes=1, theorem="zhang2017",
        statement="", stub="def f(x):\n    raise NotImplementedError('f')\n", solution="def f(x):\n    return 2 * x\n",
        hints=("double it",), wrong_answers={},
        checks=(Check("doubles", 4, check_f, "return 2 x", time_limit=time_limit),
                Check("hidden", 1, check_hidden, "secret", public=False)),
        functions=("f",))


def test_exception_in_student_code_is_a_failed_check_with_its_last_line(tmp_path):
    p = tmp_path / "solution.py"
    p.write_text("def helper(x):\n    return {}[x]\n\ndef f(x):\n    return helper(x)\n")
    rep = run_checks(_toy(), str(p))
    (r,) = rep.results
    assert not r.passed and r.earned == 0
    assert r.message.startswith("KeyError: 0") and "solution.py, line 2, in helper" in r.message


def test_syntax_error_and_import_error_fail_every_check(tmp_path):
    p = tmp_path / "solution.py"
    p.write_text("def f(x) return x\n")
    rep = run_checks(_toy(), str(p))
    assert not rep.passed and "could not be loaded: SyntaxError" in rep.results[0].message


def test_partial_credit_and_first_failure(tmp_path):
    rep = run_checks(_toy(), "def f(x):\n    return 2 * x if x < 2 else x\n")
    (r,) = rep.results
    assert r.earned == 2.0 and not r.passed
    assert r.message == "f(2) = 2, expected 4 (and 1 more of 4 failing)"


def test_time_limit_stops_an_endless_loop():
    rep = run_checks(_toy(time_limit=0.5), "def f(x):\n    while True:\n        pass\n")
    (r,) = rep.results
    assert not r.passed and "time limit" in r.message


def test_hidden_checks_only_on_request_and_never_in_public_messages():
    wrong = "def f(x):\n    return 2 * x if x < 50 else 0\n"
    pub = run_checks(_toy(), wrong)
    assert pub.passed and [r.name for r in pub.results] == ["doubles"]
    assert "All public checks passed" in "\n".join(pub.lines())
    full = run_checks(_toy(), wrong, include_hidden=True)
    assert full.passed and not full.all_passed  # exit status follows the public checks
    assert "[instructor]" in "\n".join(full.lines())


def test_a_namespace_dict_is_accepted():
    ns = {}
    exec(textwrap.dedent("def f(x):\n    return x + x\n"), ns)
    assert run_checks(_toy(), ns, include_hidden=True).all_passed


def test_a_solution_file_defining_a_dataclass_loads(tmp_path):
    p = tmp_path / "solution.py"
    p.write_text("from __future__ import annotations\nimport dataclasses\n\n@dataclasses.dataclass\nclass K:\n"
                 "    k: int = 2\n\ndef f(x):\n    return K().k * x\n")
    assert run_checks(_toy(), str(p), include_hidden=True).all_passed
