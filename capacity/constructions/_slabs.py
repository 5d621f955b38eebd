"""Groups of dx points, their hyperplanes, and the general-position check (Baum / Bubeck).

For a group G of m <= dx points, :func:`group_hyperplanes` returns a unit normal n_G and
offset t_G with ⟨n_G, x_i⟩ = t_G for i ∈ G (the unique affine hyperplane through G when
m = dx; a seeded random one containing G when m < dx), and the *gap*
min_{j∉G} |⟨n_G, x_j⟩ - t_G|.

General position (what the constructions use): every group is affinely independent and no
other data point lies on its hyperplane.  A float screen flags candidates with
|⟨n, x_j⟩ - t| below 64 ulps of the scale; each candidate is decided *exactly* with a
rational determinant (python-flint ``fmpq_mat``; Fractions fallback).  An exact zero raises
:class:`GeneralPositionError` naming the dx + 1 indices on one hyperplane; a non-zero but
sub-float64 gap raises it too, saying the points are in general position only beyond float64
resolution.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from capacity.errors import GeneralPositionError, ShapeError

try:  # exact determinants
    import flint

    def _exact_rank_det(rows: list[list[float]]):
        m = flint.fmpq_mat([[flint.fmpq(*Fraction(v).as_integer_ratio()) for v in r] for r in rows])
        return m.rank(), (m.det() if m.nrows() == m.ncols() else None)
except ImportError:  # pragma: no cover - python-flint is a dependency of the exact tier
    flint = None

    def _exact_rank_det(rows):
        """Rank and determinant by Gaussian elimination in Fractions (exact, slower than FLINT)."""
        m = [[Fraction(v) for v in r] for r in rows]
        n_rows, n_cols = len(m), len(m[0]) if m else 0
        rank, det = 0, Fraction(1)
        for c in range(n_cols):
            piv = next((r for r in range(rank, n_rows) if m[r][c] != 0), None)
            if piv is None:
                det = Fraction(0)
                continue
            if piv != rank:
                m[rank], m[piv] = m[piv], m[rank]
                det = -det
            det *= m[rank][c]
            for r in range(rank + 1, n_rows):
                f = m[r][c] / m[rank][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[rank])]
            rank += 1
        return rank, (det if n_rows == n_cols and rank == n_rows else (Fraction(0) if n_rows == n_cols else None))


def _idx(ix) -> str:
    return "{" + ", ".join(str(int(i)) for i in ix) + "}"


def make_groups(indices: np.ndarray, dx: int, seed: int) -> list[np.ndarray]:
    """Split ``indices`` (seeded random order) into groups of dx (the last may be smaller)."""
    rng = np.random.default_rng(seed)
    idx = np.asarray(indices)[rng.permutation(len(indices))]
    return [idx[i:i + dx] for i in range(0, len(idx), dx)]


def group_hyperplanes(x: np.ndarray, groups: list[np.ndarray], seed: int):
    """(normals (G, dx), offsets (G,), gaps (G,), s (G, N)) with s = x n_G - t_G, checked exactly.

    Raises GeneralPositionError naming a violating subset.
    """
    n, dx = x.shape
    rng = np.random.default_rng(seed + 1)
    normals = np.zeros((len(groups), dx))
    offsets = np.zeros(len(groups))
    for g, grp in enumerate(groups):
        aug = np.hstack([x[grp], -np.ones((len(grp), 1))])  # [x, -1] @ [n; t] = 0
        _, sv, vt = np.linalg.svd(aug, full_matrices=True)
        null_dim = dx + 1 - len(grp)
        scale = max(1.0, float(np.max(np.abs(aug))))
        if len(grp) > 1 and sv[len(grp) - 1] <= 1e-11 * scale * len(grp):
            rank, _ = _exact_rank_det(aug.tolist())
            if rank < len(grp):
                raise GeneralPositionError(
                    f"points {_idx(grp)} are affinely dependent (they lie on a common {len(grp) - 2}-flat); general "
                    "position requires every dx + 1 points to be affinely independent. Perturb or remove one of them")
        basis = vt[len(grp):]  # rows spanning the null space (dim null_dim)
        coef = rng.standard_normal(null_dim) if null_dim > 1 else np.ones(1)
        nt = coef @ basis
        nrm = np.linalg.norm(nt[:dx])
        if nrm == 0:  # pragma: no cover (needs degenerate data)
            raise GeneralPositionError(f"group {_idx(grp)}: no hyperplane through it (degenerate)")
        normals[g] = nt[:dx] / nrm
        offsets[g] = nt[dx] / nrm
    s = normals @ x.T - offsets[:, None]  # (G, N)
    gaps = np.empty(len(groups))
    xs = np.abs(x).sum(axis=1)
    for g, grp in enumerate(groups):
        mask = np.ones(n, bool)
        mask[grp] = False
        if not mask.any():
            gaps[g] = np.inf
            continue
        sg = np.abs(s[g])
        floor = 64 * np.finfo(np.float64).eps * (xs + abs(offsets[g]) + 1.0)
        suspects = np.flatnonzero(mask & (sg <= floor))
        for j in suspects[:16]:
            if len(grp) == dx:
                rows = np.hstack([x[np.append(grp, j)], np.ones((dx + 1, 1))]).tolist()
                _, det = _exact_rank_det(rows)
                if det == 0:
                    raise GeneralPositionError(
                        f"points {_idx(np.append(grp, j))} lie on one affine hyperplane (exact determinant 0): "
                        f"{dx + 1} points in R^{dx} are not in general position. Perturb or remove point {int(j)}")
            raise GeneralPositionError(
                f"point {int(j)} is within float64 resolution of the hyperplane through points {_idx(grp)} "
                f"(distance {float(sg[j]):.2e}); the data are not in general position at float64 precision. "
                f"Perturb or remove point {int(j)}")
        gaps[g] = float(np.min(sg[mask]))
    return normals, offsets, gaps, s
