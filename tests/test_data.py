"""Datasets: generators, validation errors (with indices), rescaling, DATA.npz I/O."""

import numpy as np
import pytest

from capacity import data
from capacity.errors import (DataFileError, DuplicateInputError, LabelRangeError, NonFiniteError, ShapeError)


@pytest.mark.parametrize("family", data.FAMILIES)
def test_generators_give_valid_distinct_data(family):
    ds = data.generate(family, 200, 3, 2, seed=4)
    assert ds.x.shape == (200, 3) and ds.y.shape == (200, 2)
    assert ds.x.dtype == np.float64 and np.all(np.abs(ds.y) <= 1)
    assert not data.duplicate_pairs(ds.x)
    again = data.generate(family, 200, 3, 2, seed=4)
    np.testing.assert_array_equal(ds.x, again.x)


def test_clustered_points_are_at_the_requested_spacing():
    ds = data.generate("clustered", 400, 3, seed=0, spacing=1e-6)
    d = np.linalg.norm(ds.x[:, None, :] - ds.x[None, :, :], axis=2)
    d[np.diag_indices_from(d)] = np.inf
    assert 1e-8 < d.min() < 1e-4


def test_grid_has_ties_under_axis_projections():
    ds = data.generate("grid", 64, 2, seed=0)
    assert len(np.unique(ds.x[:, 0])) < 64 and np.all(ds.x == np.round(ds.x))


def test_duplicate_inputs_name_the_pairs():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [5.0, 5.0], [2.0, 3.0]])
    with pytest.raises(DuplicateInputError, match=r"\(0, 2\).*\(1, 4\)"):
        data.make_dataset(x, np.zeros(5))


def test_non_finite_rows_are_named():
    x = np.ones((5, 2)) * np.arange(5)[:, None]
    x[3, 1] = np.nan
    with pytest.raises(NonFiniteError, match="rows 3"):
        data.make_dataset(x, np.zeros(5))


def test_labels_outside_box_suggest_rescale_and_rescale_folds_back():
    x = np.arange(4.0)[:, None]
    y = np.array([0.5, -3.0, 2.0, 0.0])
    with pytest.raises(LabelRangeError, match="rescale"):
        data.make_dataset(x, y)
    ds = data.rescale_labels(data.make_dataset(x, y, allow_out_of_box=True))
    assert ds.label_scale == 4.0 and np.max(np.abs(ds.y)) == 0.75
    np.testing.assert_array_equal(ds.y_original[:, 0], y)


def test_labels_exactly_on_the_box_are_accepted():
    ds = data.make_dataset(np.arange(3.0), np.array([-1.0, 1.0, 0.0]))
    assert ds.n == 3 and ds.dx == 1


def test_shape_mismatch_says_what_is_expected():
    with pytest.raises(ShapeError, match="N = 4"):
        data.make_dataset(np.zeros((4, 2)), np.zeros(3))


def test_npz_roundtrip_and_unreadable_files(tmp_path):
    ds = data.generate("gaussian", 20, 2, 3, seed=1)
    p = tmp_path / "d.npz"
    data.save_npz(p, ds)
    back = data.load_npz(p)
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(DataFileError, match="not a readable"):
        data.load_npz(bad)
    with pytest.raises(DataFileError, match="no such file"):
        data.load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "wrong.npz", a=np.zeros(3))
    with pytest.raises(DataFileError, match="needs arrays 'x'"):
        data.load_npz(tmp_path / "wrong.npz")


def test_class_labels():
    ds = data.generate("gaussian", 50, 2, seed=0, classes=5)
    assert ds.is_classification and ds.y.dtype == np.int64 and ds.dy <= 5


def test_zero_columns_and_non_numeric_labels_are_refused():
    with pytest.raises(ShapeError, match="0 columns"):
        data.make_dataset(np.zeros((3, 0)), np.zeros(3))
    with pytest.raises(ShapeError, match="y must be real numbers or integer classes"):
        data.make_dataset(np.arange(3.0), np.array(["a", "b", "c"]))
    with pytest.raises(ShapeError, match="y must be real numbers or integer classes"):
        data.make_dataset(np.arange(3.0), np.array([1j, 0, 0]))


def test_load_errors_name_the_file_and_saving_is_atomic(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.array([[0.0], [1.0], [0.0]]), y=np.zeros(3))
    with pytest.raises(DuplicateInputError, match=rf"^{p}: inputs must be pairwise distinct.*\(0, 2\)"):
        data.load_npz(p)
    ds = data.generate("gaussian", 10, 2, seed=0)
    data.save_npz(p, ds)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["d.npz"]  # no temporary file left beside it
    np.testing.assert_array_equal(data.load_npz(p).x, ds.x)


def test_rescaled_labels_are_saved_in_the_original_scale(tmp_path):
    x = np.arange(3.0)[:, None]
    y = np.array([0.5, -3.0, 2.0])
    ds = data.rescale_labels(data.make_dataset(x, y, allow_out_of_box=True))
    data.save_npz(tmp_path / "d.npz", ds)
    back = data.load_npz(tmp_path / "d.npz", rescale=True)
    assert back.label_scale == 4.0
    np.testing.assert_array_equal(back.y_original[:, 0], y)
