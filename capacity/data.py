"""Datasets: validated containers, random generators and ``DATA.npz`` I/O.

A dataset is N distinct inputs ``x`` (float64, shape (N, dx)) with labels ``y``:

* regression: float64 of shape (N, dy), values in [-1, 1] (the box of the
  finite-sample-expressivity definition); a (N,) array is read as dy = 1;
* classification: integer class indices of shape (N,), values 0..C-1.

``DATA.npz`` holds the arrays ``x`` and ``y`` exactly as above.  It is read by
:func:`capacity._files.read_npz`: sizes are checked against the memory cap (8 GiB, or
``$CAPACITY_MAX_BYTES``) and dtypes against numbers before anything is allocated, zip bombs are
refused, nothing is unpickled; it is written atomically.

Validation raises the specific :mod:`capacity.errors` exceptions with the
offending indices in the message.  Labels outside [-1, 1] can be rescaled with
:func:`rescale_labels`; the factor is returned so that a construction can fold it
back into its output layer (the network then fits the original labels).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from capacity._files import atomic_save_npz, read_npz
from capacity.errors import (
    DataError,
    DataFileError,
    DuplicateInputError,
    LabelRangeError,
    NonFiniteError,
    ShapeError,
)

FAMILIES = ("gaussian", "ball", "sphere", "clustered", "line", "grid")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """N labelled points.  Construct through :func:`make_dataset` to validate."""

    x: np.ndarray  # (N, dx) float64
    y: np.ndarray  # (N, dy) float64, or (N,) int for classes
    label_scale: float = 1.0  # y_original = label_scale * y

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def dx(self) -> int:
        return int(self.x.shape[1])

    @property
    def is_classification(self) -> bool:
        return np.issubdtype(self.y.dtype, np.integer)

    @property
    def dy(self) -> int:
        """Output dimension (number of classes for classification)."""
        if self.is_classification:
            return int(self.y.max()) + 1 if self.n else 0
        return int(self.y.shape[1])

    @property
    def y_original(self) -> np.ndarray:
        """Labels in the user's original scale (undoing :func:`rescale_labels`)."""
        return self.y if self.is_classification else self.y * self.label_scale


def _fmt_indices(idx, limit=8) -> str:
    idx = [int(i) for i in idx]
    s = ", ".join(map(str, idx[:limit]))
    return s + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def duplicate_pairs(x: np.ndarray, limit: int = 8) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, with identical rows of ``x`` (at most ``limit``)."""
    if x.shape[0] < 2:
        return []
    order = np.lexsort(x.T[::-1])
    xs = x[order]
    same = np.all(xs[1:] == xs[:-1], axis=1)
    pairs = []
    for k in np.flatnonzero(same)[:limit]:
        i, j = sorted((int(order[k]), int(order[k + 1])))
        pairs.append((i, j))
    return pairs


def make_dataset(x, y, *, classification: bool | None = None, allow_out_of_box: bool = False) -> Dataset:
    """Validate arrays and return a :class:`Dataset`.

    Args:
      x: inputs, shape (N, dx) (a (N,) array is read as dx = 1).
      y: labels, float (N, dy) / (N,) for regression or int (N,) for classes.
      classification: force the label type; by default integer ``y`` means classes.
      allow_out_of_box: accept real labels outside [-1, 1] (otherwise an error that
        suggests :func:`rescale_labels`).

    Raises:
      ShapeError, NonFiniteError, DuplicateInputError, LabelRangeError.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if y.dtype.hasobject or y.dtype.names is not None or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) \
            or np.iscomplexobj(y):
        raise ShapeError(f"y must be real numbers or integer classes; got dtype {y.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ShapeError(f"x must have shape (N, dx); got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ShapeError(f"x must be real numbers; got dtype {x.dtype}")
    x = x.astype(np.float64)
    n = x.shape[0]
    if n == 0:
        raise ShapeError("the dataset is empty (N = 0); give at least one point")
    if x.shape[1] == 0:
        raise ShapeError(f"x has 0 columns (shape {x.shape}); each point needs at least one coordinate")
    if y.shape[:1] != (n,):
        raise ShapeError(
            f"x has {n} rows but y has shape {y.shape}; y must have N = {n} rows "
            "(shape (N,) or (N, dy))"
        )
    if classification is None:
        classification = np.issubdtype(y.dtype, np.integer)
    if classification:
        if y.ndim != 1:
            raise ShapeError(f"class labels must have shape (N,); got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if np.any(y != np.round(y)):
                bad = np.flatnonzero(y != np.round(y))
                raise ShapeError(f"class labels must be integers; non-integer at indices {_fmt_indices(bad)}")
        y = y.astype(np.int64)
        if np.any(y < 0):
            raise LabelRangeError(f"class labels must be >= 0; negative at indices {_fmt_indices(np.flatnonzero(y < 0))}")
    else:
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] == 0:
            raise ShapeError(f"real labels must have shape (N,) or (N, dy) with dy >= 1; got {y.shape}")
        y = y.astype(np.float64)
    bad_x = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
    if bad_x.size:
        raise NonFiniteError(f"x has NaN or infinite values in rows {_fmt_indices(bad_x)}; remove or fix those points")
    if not classification:
        bad_y = np.flatnonzero(~np.all(np.isfinite(y), axis=1))
        if bad_y.size:
            raise NonFiniteError(f"y has NaN or infinite values in rows {_fmt_indices(bad_y)}")
        out = np.flatnonzero(np.any(np.abs(y) > 1.0, axis=1))
        if out.size and not allow_out_of_box:
            m = float(np.max(np.abs(y)))
            raise LabelRangeError(
                f"labels must lie in [-1, 1] (the theorem's box); rows {_fmt_indices(out)} exceed it "
                f"(max |y| = {m:.6g}). Rescale with --rescale-labels (labels are divided by the next power of two "
                "and the factor is folded back into the output layer, so the network still fits the original labels)"
            )
    dups = duplicate_pairs(x)
    if dups:
        raise DuplicateInputError(
            "inputs must be pairwise distinct (no function maps one input to two labels); "
            "duplicate rows: " + ", ".join(f"({i}, {j})" for i, j in dups)
            + ". Remove the duplicates or merge their labels"
        )
    return Dataset(x=x, y=y)


def rescale_labels(ds: Dataset) -> Dataset:
    """Bring real labels into [-1, 1] when max|y| exceeds 1; record the factor.

    The factor is the smallest power of two >= max|y|, so the division is exact in floating
    point and ``y_original == label_scale * y`` holds exactly (the exact tier relies on it).
    Constructions multiply their output layer by ``label_scale``.
    """
    if ds.is_classification:
        return ds
    m = float(np.max(np.abs(ds.y))) if ds.n else 0.0
    if m <= 1.0:
        return ds
    scale = float(2.0 ** int(np.ceil(np.log2(m))))
    return dataclasses.replace(ds, y=ds.y / scale, label_scale=ds.label_scale * scale)


# ----------------------------------------------------------------------------- I/O


def save_npz(path: str | os.PathLike, ds: Dataset) -> None:
    """Write ``DATA.npz`` (arrays ``x`` and ``y``, original label scale) atomically.

    The file appears complete or not at all (a hidden temporary file in the same directory is
    renamed over ``path``); an existing file is replaced, so callers that must not overwrite
    check first with :func:`capacity._files.check_output_path`.
    """
    atomic_save_npz(path, {"x": np.asarray(ds.x, dtype=np.float64), "y": ds.y_original})


#: members of a DATA.npz and their kinds (see :func:`capacity._files.read_npz`)
DATA_MEMBERS = {"x": "real", "y": "real"}


def load_npz(path: str | os.PathLike, *, rescale: bool = False, classification: bool | None = None,
             max_bytes: int | None = None) -> Dataset:
    """Read and validate ``DATA.npz``.

    The file is read by :func:`capacity._files.read_npz` (sizes checked against the memory cap
    before anything is allocated, dtypes checked from the headers, never unpickled), then
    validated by :func:`make_dataset`.  Every problem raises a :class:`DataError` subclass whose
    one-line message starts with the path.

    Args:
      path: file with arrays ``x`` (N, dx) and ``y`` (N,) or (N, dy); other members are ignored.
      rescale: divide out-of-box real labels by a power of two instead of raising.
      classification: force the label type (default: integer ``y`` means classes).
      max_bytes: memory cap for the arrays (default ``$CAPACITY_MAX_BYTES`` or 8 GiB).
    """
    path = os.fspath(path)
    arrays = read_npz(path, allowed=DATA_MEMBERS, max_bytes=max_bytes, what="DATA.npz")
    if "x" not in arrays or "y" not in arrays:
        found = sorted(arrays)
        raise DataFileError(
            f"{path}: a DATA.npz needs arrays 'x' (N, dx) and 'y' (N,) or (N, dy); found {found}"
        )
    x, y = arrays["x"], arrays["y"]
    if x.ndim not in (1, 2):
        raise ShapeError(f"{path}: x must have shape (N, dx); got shape {x.shape}")
    if y.ndim not in (1, 2):
        raise ShapeError(f"{path}: y must have shape (N,) or (N, dy); got shape {y.shape}")
    try:
        ds = make_dataset(x, y, classification=classification, allow_out_of_box=rescale)
    except DataError as e:
        raise type(e)(f"{path}: {e}") from None
    return rescale_labels(ds) if rescale else ds


# ----------------------------------------------------------------------- generators


def _labels(rng, n, dy, classes):
    if classes:
        return rng.integers(0, classes, size=n).astype(np.int64)
    return rng.uniform(-1.0, 1.0, size=(n, dy))


def generate(family: str, n: int, dx: int, dy: int = 1, *, seed: int = 0, classes: int | None = None,
             spacing: float = 1e-6, n_clusters: int | None = None) -> Dataset:
    """Random dataset of a named family.

    Families:
      * ``gaussian``: x ~ N(0, I_dx);
      * ``ball``: uniform in the unit ball;
      * ``sphere``: uniform on the unit sphere (the setting of Hardt & Ma's construction);
      * ``clustered``: ``n_clusters`` (default ~sqrt(N)) Gaussian centres, points within
        a cluster at spacing ``spacing`` (default 1e-6) around their centre;
      * ``line``: x_i = i e_1 (collinear, evenly spaced);
      * ``grid``: distinct points of the integer grid {0..k-1}^dx (ties under axis projections).

    Labels are uniform in [-1, 1]^dy, or uniform classes 0..classes-1 if ``classes``.
    Same arguments give the same dataset.
    """
    if n < 1 or dx < 1 or dy < 1:
        raise ShapeError(f"need n >= 1, dx >= 1, dy >= 1; got n={n}, dx={dx}, dy={dy}")
    if classes is not None and classes < 1:
        raise ShapeError(f"classes must be >= 1; got {classes}")
    rng = np.random.default_rng(seed)
    if family == "gaussian":
        x = rng.standard_normal((n, dx))
    elif family == "ball":
        g = rng.standard_normal((n, dx))
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        x = g * rng.uniform(0, 1, size=(n, 1)) ** (1.0 / dx)
    elif family == "sphere":
        x = rng.standard_normal((n, dx))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    elif family == "clustered":
        k = n_clusters or max(1, int(round(np.sqrt(n))))
        centres = rng.standard_normal((k, dx))
        which = np.arange(n) % k
        offsets = spacing * rng.integers(-50, 51, size=(n, dx)).astype(np.float64)
        # a per-point index along a random unit direction e, in steps of 101 spacings (more than the
        # offsets' range of 100), keeps points within a cluster distinct, also when dx = 1
        rank = np.arange(n) // k
        e = rng.standard_normal(dx)
        e /= np.linalg.norm(e)
        x = centres[which] + offsets + 101.0 * spacing * rank[:, None] * e[None, :]
    elif family == "line":
        x = np.zeros((n, dx))
        x[:, 0] = np.arange(n, dtype=np.float64)
    elif family == "grid":
        k = int(np.ceil(n ** (1.0 / dx)))
        while k**dx < n:
            k += 1
        if dx * np.log(k) > np.log(1e12):
            idx = rng.choice(2**62, size=n, replace=False) % (k**dx)
            idx = np.unique(idx)
            while idx.size < n:  # extremely unlikely
                idx = np.unique(np.concatenate([idx, rng.integers(0, k**dx, size=n)]))[:n]
        else:
            idx = rng.choice(k**dx, size=n, replace=False)
        x = np.stack([(idx // k**d) % k for d in range(dx)], axis=1).astype(np.float64)
    else:
        raise ShapeError(f"unknown data family {family!r}; choose one of {', '.join(FAMILIES)}")
    y = _labels(rng, n, dy, classes)
    return make_dataset(x, y, classification=classes is not None)
