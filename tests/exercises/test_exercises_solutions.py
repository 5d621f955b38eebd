"""Every exercise: the reference passes every check, the stub fails cleanly, every kept wrong answer is caught."""

import pytest

from capacity import exercises
from capacity.exercises import wrong_source
from capacity.exercises._core import PUBLIC_PASS_TEXT
from theory import registry

EXERCISES = exercises.all_exercises()
WRONG = [(e.id, name) for e in EXERCISES for name in e.wrong_answers]


def test_at_least_eight_exercises_each_tied_to_a_registered_theorem():
    assert len(EXERCISES) >= 8
    assert [e.number for e in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    for e in EXERCISES:
        assert e.theorem in registry.names(), e.id
        assert e.public_checks and e.instructor_checks, e.id
        assert len(e.hints) >= 2 and e.wrong_answers, e.id
        assert all(f"def {f}(" in e.stub and f"def {f}(" in e.solution for f in e.functions), e.id


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_reference_solution_passes_public_and_instructor_checks(ex):
    rep = exercises.check(ex.id, ex.solution, include_hidden=True)
    assert rep.all_passed, "\n".join(rep.lines())
    assert rep.earned == rep.total
    assert len(rep.results) == len(ex.checks)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_untouched_stub_fails_every_public_check_without_a_traceback(ex):
    rep = exercises.check(ex.id, ex.stub)
    assert not rep.passed and rep.earned == 0
    assert all(not r.public or not r.passed for r in rep.results)
    assert [r.name for r in rep.results] == [c.name for c in ex.public_checks]  # no instructor check shown
    text = "\n".join(rep.lines())
    assert "Traceback" not in text and "not implemented yet" in text and "hint:" in text


@pytest.mark.parametrize("ex_id, name", WRONG, ids=[f"{i}:{n}" for i, n in WRONG])
def test_each_kept_wrong_answer_fails_a_public_check_with_a_hint(ex_id, name):
    ex = exercises.get(ex_id)
    rep = exercises.check(ex_id, wrong_source(ex, name))
    failed = [r for r in rep.public_results if not r.passed]
    assert failed, f"wrong answer {name!r} passed every public check:\n" + "\n".join(rep.lines())
    assert all(r.hint for r in failed)
    assert PUBLIC_PASS_TEXT not in "\n".join(rep.lines())
    # public failure messages never mention the instructor checks
    assert not any("instructor" in r.message.lower() for r in rep.results)


def test_partial_credit_names_the_failing_input():
    ex = exercises.get("03-yun-gadget")
    rep = exercises.check(ex.id, wrong_source(ex, "pairs not nested (q = S[n])"))
    r = next(r for r in rep.results if r.name.startswith("exact fit, several groups"))
    assert 0 < r.earned < r.points
    assert r.message.startswith("point ") and "f(x) = " in r.message and "label" in r.message
    assert "data seed" in r.message


def test_float_answers_are_refused_by_the_exact_checks():
    ex = exercises.get("02-zhang")
    rep = exercises.check(ex.id, wrong_source(ex, "float arithmetic instead of exact"))
    assert not rep.passed
    assert any("off by" in r.message for r in rep.results if not r.passed)
