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
except ImportError:  # pragma: no cover
    flint = None

    def _exact_rank_det(rows):
        import sympy  # noqa: F401  (not a dependency; only without python-flint)
        raise GeneralPositionError("python-flint is needed for the exact general-position check")


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


def slab_exact_residual(kernels, biases, x: np.ndarray, y: np.ndarray) -> Fraction:
    """Exact max |f(x_i) - y_i| of a stored float64 slab network (Baum / Bubeck layout), rigorously and fast.

    Hidden units come in groups of 4.  Checked exactly per group: kernels of units 1,3 and
    2,4 identical, b1 - b2 - b3 + b4 = 0, and every output column's weights of the form
    (q, -q, -q, q).  Such a group contributes exactly 0 at a point where its four units are all
    certainly on or all certainly off; "certainly" uses the rigorous float bound
    |ẑ - z| <= γ_{d+1}(|k|·|x| + |b|) (Higham §3.1) doubled.  Every other (point, group) pair,
    including the group's own points, is evaluated in exact rationals.
    """
    k, b = np.asarray(kernels[0], np.float64), np.asarray(biases[0], np.float64)
    q, c0 = np.asarray(kernels[1], np.float64), np.asarray(biases[1], np.float64)
    y = np.asarray(y, np.float64).reshape(x.shape[0], -1)
    n_units = k.shape[1]
    if n_units % 4:
        raise ShapeError("not a slab network: hidden width is not a multiple of 4")
    u = np.finfo(np.float64).eps / 2
    dx = x.shape[1]
    gam = (dx + 1) * u / (1 - (dx + 1) * u)
    n_pts = x.shape[0]
    todo: dict[int, list[int]] = {}
    for s0 in range(0, n_units, 4096):  # chunk over units to bound memory
        z = x @ k[:, s0:s0 + 4096] + b[s0:s0 + 4096]
        err = gam * (np.abs(x) @ np.abs(k[:, s0:s0 + 4096]) + np.abs(b[s0:s0 + 4096])) * 2 + 1e-300
        on, off = z > err, z < -err
        for g in range(s0 // 4, min(n_units, s0 + 4096) // 4):
            cols = slice(4 * g, 4 * g + 4)
            lc = slice(4 * g - s0, 4 * g - s0 + 4)
            kk, bb, qq = k[:, cols], b[cols], q[cols]
            structured = (np.array_equal(kk[:, 0], kk[:, 2]) and np.array_equal(kk[:, 1], kk[:, 3])
                          and np.all(qq[0] == -qq[1]) and np.all(qq[0] == -qq[2]) and np.all(qq[0] == qq[3])
                          and Fraction(bb[0]) - Fraction(bb[1]) - Fraction(bb[2]) + Fraction(bb[3]) == 0)
            zero = (on[:, lc].all(axis=1) | off[:, lc].all(axis=1)) if structured else np.zeros(n_pts, bool)
            for i in np.flatnonzero(~zero).tolist():
                todo.setdefault(i, []).extend(range(4 * g, 4 * g + 4))
    worst = Fraction(0)
    base = [Fraction(v) for v in c0.tolist()]
    touched = set(todo)
    for i in range(n_pts):
        total = list(base)
        if i in touched:
            xi = [Fraction(v) for v in x[i].tolist()]
            for j in todo[i]:
                zz = sum((xv * Fraction(kv) for xv, kv in zip(xi, k[:, j].tolist())), Fraction(b[j]))
                if zz > 0:
                    for o in range(q.shape[1]):
                        if q[j, o]:
                            total[o] += Fraction(q[j, o]) * zz
        worst = max(worst, max(abs(t - Fraction(v)) for t, v in zip(total, y[i].tolist())))
    return worst
