"""`capacity build` / `capacity verify`: reports, exit codes 0/1/2, one-line errors, saved files."""

import json
import re

import numpy as np
import pytest

from capacity import data
from capacity.cli import main
from capacity.networks import load_net


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_certify_then_verify(tmp_path, capsys):
    net = tmp_path / "NET.npz"
    code, out, err = _run(capsys, "build", "--construction", "yun3", "--random", "120", "--dx", "3", "--widths",
                          "24,20", "--certify", "--out", str(net))
    assert code == 0, out + err
    assert "capacity 120 >= N = 120" in out
    # two certificates, each labelled as what it is: the construction in rationals is exact, the saved
    # float64 file (a rounding of it) has a tiny nonzero exact residual
    assert re.search(r"^construction\s+certified-exact", out, re.M), out
    assert re.search(r"^saved network\s+certified-bound", out, re.M), out
    f = load_net(net)
    cert = f.meta["certification"]
    assert cert["construction_exact"]["level"] == "certified-exact" and f.meta["n"] == 120
    assert cert["level"] == cert["file_exact"]["level"] == "certified-bound"
    datafile = tmp_path / "NET.data.npz"
    assert datafile.exists()
    code, out, _ = _run(capsys, "verify", "--net", str(net), "--data", str(datafile), "--json")
    rep = json.loads(out)["report"]
    assert code == 0 and rep["max_residual"] <= 1e-6 and rep["level"] in ("certified-bound", "measured")
    code, out, _ = _run(capsys, "verify", "--net", str(net), "--data", str(datafile), "--certify", "--json")
    rep = json.loads(out)["report"]
    assert code == 0 and rep["exact_residual"] == cert["file_exact"]["exact_residual"]
    assert rep["level"] == cert["level"]  # verify --certify of the saved file agrees with build --certify


def test_stored_weights_can_fit_exactly_where_their_float64_evaluation_misses_tol(tmp_path, capsys):
    """A tol between the exact residual of the stored weights (compensated rounding: tiny) and
    their float64 forward-pass residual: float verify fails (exit 1) and says --certify may
    help; --certify certifies the stored weights (exit 0)."""
    net = tmp_path / "NET.npz"
    code, out, err = _run(capsys, "build", "--construction", "yun3", "--random", "2000", "--dx", "16", "--widths",
                          "88,92", "--certify", "--json", "--out", str(net))
    assert code == 0, out + err
    rep = json.loads(out)["report"]
    exact = float(load_net(net).meta["certification"]["file_exact"]["exact_residual_float"])
    assert exact * 10 < rep["max_residual"], (exact, rep["max_residual"])
    tol = f"{(exact * rep['max_residual']) ** 0.5:.3e}"  # geometric mean: strictly between
    datafile = str(tmp_path / "NET.data.npz")
    code, out, _ = _run(capsys, "verify", "--net", str(net), "--data", datafile, "--tol", tol)
    assert code == 1 and "run with --certify" in out, out
    code, out, _ = _run(capsys, "verify", "--net", str(net), "--data", datafile, "--tol", tol, "--certify")
    assert code == 0 and re.search(r"^certification\s+certified-bound", out, re.M), out


def test_verify_exit_1_when_the_network_does_not_fit(tmp_path, capsys):
    net = tmp_path / "N.npz"
    assert _run(capsys, "build", "--random", "40", "--dx", "2", "--widths", "12,16", "--out", str(net))[0] == 0
    ds = data.load_npz(tmp_path / "N.data.npz")
    y = ds.y.copy()
    y[7] = -y[7] if abs(y[7, 0]) > 0.1 else 0.5
    data.save_npz(tmp_path / "other.npz", data.make_dataset(ds.x, y))
    code, out, _ = _run(capsys, "verify", "--net", str(net), "--data", str(tmp_path / "other.npz"))
    assert code == 1 and "failed" in out


def _bad(tmp_path, name, x, y):
    p = tmp_path / name
    np.savez(p, x=x, y=y)
    return str(p)


@pytest.mark.parametrize("case,pattern", [
    ("nan", "NaN or infinite values in rows 2"),
    ("dup", r"duplicate rows: \(0, 3\)"),
    ("box", "labels must lie in \\[-1, 1\\]"),
    ("shape", "y must have N = 5 rows"),
    ("unreadable", "not a readable"),
    ("missing", "no such file"),
])
def test_bad_data_gets_one_line_and_exit_2(tmp_path, capsys, case, pattern):
    x = np.arange(10.0).reshape(5, 2)
    y = np.linspace(-0.5, 0.5, 5)
    if case == "nan":
        x[2, 0] = np.nan
    if case == "dup":
        x[3] = x[0]
    if case == "box":
        y[1] = 2.5
    if case == "shape":
        y = y[:4]
    path = _bad(tmp_path, "d.npz", x, y)
    if case == "unreadable":
        (tmp_path / "d.npz").write_bytes(b"garbage")
    if case == "missing":
        path = str(tmp_path / "nope.npz")
    code, out, err = _run(capsys, "build", "--data", path, "--widths", "8,8", "--out", str(tmp_path / "n.npz"))
    lines = [ln for ln in err.splitlines() if ln.startswith("capacity")]
    assert code == 2 and len(lines) == 1, err
    import re

    assert re.search(pattern, lines[0]), lines[0]


def test_out_of_box_labels_with_rescale_fit_the_original_labels(tmp_path, capsys):
    path = _bad(tmp_path, "d.npz", np.arange(10.0).reshape(5, 2), np.array([3.0, -2.0, 0.5, 1.5, 0.0]))
    code, out, _ = _run(capsys, "build", "--data", path, "--widths", "8,8", "--rescale-labels", "--certify",
                        "--out", str(tmp_path / "n.npz"))
    assert code == 0 and "certified-exact" in out


@pytest.mark.parametrize("argv,pattern", [
    (["build", "--random", "400", "--widths", "30,30"], "smallest widths that satisfy the theorem are 40,40"),
    (["build", "--random", "10", "--widths", "8,x"], "expected comma-separated integers"),
    (["build", "--construction", "nope", "--random", "10", "--widths", "8,8"], "unknown construction 'nope'"),
    (["build", "--random", "10", "--widths", "8,8", "--tol", "-1"], "--tol must be a finite positive number"),
])
def test_usage_errors_exit_2(tmp_path, capsys, argv, pattern):
    code, out, err = _run(capsys, *argv, *([] if "--out" in argv else ["--out", str(tmp_path / "n.npz")])) \
        if not any(a.startswith("8,x") for a in argv) else (None, None, None)
    if code is None:
        with pytest.raises(SystemExit) as e:
            main(argv)
        code, err = e.value.code, capsys.readouterr().err
    assert code == 2 and pattern in err and len(err.strip().splitlines()) == 1, err


def test_the_cli_default_tol_is_the_library_default():
    from capacity.cli import build
    from capacity.verification import DEFAULT_TOL

    assert build.DEFAULT_TOL == DEFAULT_TOL


def test_outputs_that_would_destroy_something_are_refused(tmp_path, capsys):
    """Output-path policy end to end: an input as output, an existing file, a directory; --force only
    replaces a regular file that is not an input."""
    ds = data.generate("gaussian", 30, 2, seed=1)
    datafile = tmp_path / "d.npz"
    data.save_npz(datafile, ds)
    before = datafile.read_bytes()
    code, _, err = _run(capsys, "build", "--data", str(datafile), "--widths", "12,12", "--out", str(datafile), "--force")
    assert code == 2 and "same file as the input" in err and err.count("\n") == 1
    assert datafile.read_bytes() == before  # the user's data are untouched
    net = tmp_path / "n.npz"
    assert _run(capsys, "build", "--data", str(datafile), "--widths", "12,12", "--out", str(net))[0] == 0
    code, _, err = _run(capsys, "build", "--data", str(datafile), "--widths", "12,12", "--out", str(net))
    assert code == 2 and "already exists" in err and "--force" in err
    assert _run(capsys, "build", "--data", str(datafile), "--widths", "12,12", "--out", str(net), "--force")[0] == 0
    code, _, err = _run(capsys, "build", "--data", str(datafile), "--widths", "12,12", "--out", str(tmp_path), "--force")
    assert code == 2 and err.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name or "partial" in p.name]  # no temporary leftovers


def test_a_figure_directory_is_not_overwritten_without_force(tmp_path, capsys):
    (tmp_path / "frontier.png").write_bytes(b"mine")
    code, _, err = _run(capsys, "frontier", "--quick", "--only", "zhang", "--figures-dir", str(tmp_path))
    assert code == 2 and "frontier.png" in err and "--force" in err
    assert (tmp_path / "frontier.png").read_bytes() == b"mine"
