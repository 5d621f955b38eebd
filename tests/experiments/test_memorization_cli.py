"""The ``capacity memorization`` sub-command: parsing, defaults in help, refusal to overwrite."""

import argparse

import pytest

from capacity.errors import CapacityError
from capacity.experiments.memorization import cli
from capacity.experiments.memorization import _common as C


def _parser():
    p = argparse.ArgumentParser(prog="capacity")
    sub = p.add_subparsers(dest="command", required=True)
    cli.register(sub)
    return p


def test_help_states_defaults(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["memorization", "--help"])
    text = capsys.readouterr().out
    for needle in ("default quick", "default runs/memorization", "default 0", "randomization", "feldman-zhang"):
        assert needle in " ".join(text.split())


def test_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "grokking.csv").write_text("x\n")
    from capacity.cli import main

    assert main(["memorization", "grokking", "--out", str(tmp_path)]) == 2
    assert "never overwritten" in capsys.readouterr().err


def test_every_issue_measure_is_registered():
    assert list(cli.MEASURES) == ["randomization", "feldman-zhang", "early-learning", "grokking", "generative",
                                  "layermem", "information"]
    for name in cli.MEASURES:
        mod = cli.measure_module(name)
        assert mod.MEASURE == name and set(mod.PRESETS) == {"quick", "full"} and mod.OUTPUTS


def test_unknown_measure_and_default_out():
    with pytest.raises(CapacityError):
        cli.measure_module("nope")
    assert C.default_out_dir("grokking").startswith("runs/memorization/grokking-")
