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

Every slab network is then **checked exactly before it is returned** (:func:`certify_slabs`):
a group's four units cancel exactly wherever all four are on or all off (an exact identity of
the stored weights, checked in rationals); which units are on at which point is decided by a
rigorous float64 bound (Higham's γ) and, inside the bound, by exact rationals; every
(point, group) pair with a partial pattern is evaluated exactly.  That is the exact output of
the stored network at every data point, so a network that would miss a label by more than
the tolerance is never returned: :class:`SlabFitError` names the points and the slabs.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from capacity.errors import GeneralPositionError, SlabFitError
from capacity.networks import gamma, unit_roundoff


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


# ------------------------------------------------------------------ exact biases on one dyadic grid


def dyadic_grid(bound: float) -> float:
    """The power of two q with bound < 2^53 q: every integer multiple of q of magnitude <= 2^53 q is a
    float64 exactly, so sums and differences of such biases (also within the bound) are exact."""
    if not np.isfinite(bound) or bound < 0:
        raise GeneralPositionError(f"slab bias bound {bound!r} is not finite; rescale the inputs")
    e = int(np.frexp(max(float(bound), 2.0 ** -1000))[1])  # bound < 2^e
    return float(np.ldexp(1.0, e - 53))


def on_grid(value: float, q: float) -> int:
    """round(value / q) as a Python int (value / q is exact: q is a power of two)."""
    return int(round(float(value) / q))


# ------------------------------------------------------------------ the exact check of a slab network


def _dy(v) -> tuple[int, int]:
    """A float64 as an exact dyadic (m, e): v = m 2^e with m an int."""
    m, e = math.frexp(float(v))
    return int(m * 9007199254740992.0), e - 53  # m 2^53 is an integer (53-bit significand)


def _dsum(terms) -> tuple[int, int]:
    """The exact sum of dyadics (m, e), shifted to the smallest exponent."""
    terms = [t for t in terms if t[0]]
    if not terms:
        return 0, 0
    e0 = min(e for _, e in terms)
    return sum(m << (e - e0) for m, e in terms), e0


def _dprod(a, b) -> tuple[int, int]:
    return a[0] * b[0], a[1] + b[1]


def _dfrac(d) -> Fraction:
    m, e = d
    return Fraction(m << e) if e >= 0 else Fraction(m, 1 << -e)


def _exact_pre(xj: np.ndarray, kcol: np.ndarray, b: float) -> tuple[int, int]:
    """⟨x_j, k⟩ + b exactly, as a dyadic."""
    return _dsum([_dprod(_dy(a), _dy(k)) for a, k in zip(xj, kcol) if a != 0 and k != 0] + [_dy(b)])


def _cancels(kernel, bias, out, cols) -> bool:
    """Σ_u w_u k_u = 0 and Σ_u w_u b_u = 0 exactly over the units ``cols``, for every output column."""
    for o in range(out.shape[1]):
        w = [_dy(out[c, o]) for c in cols]
        if _dsum([_dprod(wi, _dy(bias[c])) for wi, c in zip(w, cols)])[0] != 0:
            return False
        for r in range(kernel.shape[0]):
            if _dsum([_dprod(wi, _dy(kernel[r, c])) for wi, c in zip(w, cols)])[0] != 0:
                return False
    return True


def certify_slabs(x, kernel, bias, out, out_bias, groups, targets, *, tol: float, name: str,
                  half_widths=None) -> dict:
    """The exact residual of a one-hidden-layer slab network at every data point; raise if > tol.

    Layout (both Baum and Bubeck): group g owns hidden units 4g .. 4g+3; every other hidden unit
    has zero output weights.  Steps, all rigorous:

    1. per group and output column, Σ_u w_u k_u = 0 and Σ_u w_u b_u = 0 *exactly*: then the group
       contributes exactly 0 wherever its four units are all on or all off.  Fast path: the
       gadget's shape (kernel columns A = C and B = D, output weights w, -w, -w, w, and
       math.fsum(bA, -bB, -bC, bD) == 0, fsum being exactly rounded); else exact dyadic sums;
    2. the sign of every pre-activation: float64 with the bound
       2 γ_{dx+1} (max_j ‖x_j‖_1 ‖k_u‖_∞ + |b_u|) >= γ_{dx+1}(|x_j||k_u| + |b_u|) (Higham; the factor
       2 covers the rounding of the bound itself), exact where |pre| is within it;
    3. every (point, group) pair with a partial on/off pattern is evaluated exactly (integers
       times powers of two), so the exact output at each point is out_bias + Σ those contributions.

    Returns {"exact_residual": float (max over points, rounded to nearest), "partial_pairs": int}.
    Raises :class:`SlabFitError` naming the worst points (and the foreign slabs that contain them)
    when the exact residual exceeds ``tol``.
    """
    x = np.asarray(x, np.float64)
    kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
    out, out_bias = np.asarray(out, np.float64), np.asarray(out_bias, np.float64)
    targets = np.asarray(targets, np.float64).reshape(len(x), -1)
    n, dx = x.shape
    n_groups, n_out = len(groups), out.shape[1]
    if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias)) and np.all(np.isfinite(out))):
        raise SlabFitError(f"{name}: the slab weights overflow float64 (a group's hyperplane or label fit is "
                           "ill-conditioned: its points are nearly affinely dependent); perturb the data or build "
                           "with another seed (other groups)")
    used = 4 * n_groups
    if used > kernel.shape[1] or np.any(out[used:] != 0):
        raise ValueError("certify_slabs: hidden units outside the groups must have zero output weights")
    # 1. exact cancellation when all four units of a group agree
    if n_groups:
        k4, w4 = kernel[:, :used].reshape(dx, n_groups, 4), out[:used].reshape(n_groups, 4, n_out)
        shaped = (np.all(k4[:, :, 0] == k4[:, :, 2], axis=0) & np.all(k4[:, :, 1] == k4[:, :, 3], axis=0)
                  & np.all((w4[:, 1] == -w4[:, 0]) & (w4[:, 2] == -w4[:, 0]) & (w4[:, 3] == w4[:, 0]), axis=1))
        for g in range(n_groups):
            b4 = bias[4 * g:4 * g + 4]
            if shaped[g] and math.fsum([b4[0], -b4[1], -b4[2], b4[3]]) == 0:
                continue
            if not _cancels(kernel, bias, out, range(4 * g, 4 * g + 4)):
                raise SlabFitError(
                    f"{name}: the four units of the slab of group {_idx(groups[g])} do not cancel exactly "
                    "(an internal error of the construction, not of your data); please report it")
    owner = np.full(n, -1)
    for g, grp in enumerate(groups):
        owner[np.asarray(grp, int)] = g
    # 2. on/off pattern, chunked over groups to bound memory
    gam = 2.0 * gamma(dx + 1, unit_roundoff(np.float64))
    x1 = float(np.max(np.abs(x).sum(axis=1))) if n else 0.0
    partial: list[tuple[int, int, np.ndarray]] = []  # (point, group, on-pattern of its 4 units)
    block = max(1, (1 << 21) // max(1, 4 * n))
    all_on = np.frombuffer(np.ones(4, np.bool_).tobytes(), np.uint32)[0]
    for g0 in range(0, n_groups, block):
        g1 = min(n_groups, g0 + block)
        cols = slice(4 * g0, 4 * g1)
        k, b = np.ascontiguousarray(kernel[:, cols]), bias[cols]
        err = gam * (x1 * np.abs(k).max(axis=0) + np.abs(b)) + 1e-300
        pre = x @ k
        pre += b
        on = pre > err
        np.abs(pre, out=pre)
        undecided = pre <= err
        if undecided.any():  # undecided in float64: exact sign
            for j, c in zip(*np.nonzero(undecided)):
                col = 4 * g0 + int(c)
                on[j, c] = _exact_pre(x[j], kernel[:, col], bias[col])[0] > 0
        words = np.ascontiguousarray(on).view(np.uint32)  # (n, g1 - g0): the 4 flags of a group, one word
        mixed = (words != 0) & (words != all_on)
        for j, gl in zip(*np.nonzero(mixed)):
            partial.append((int(j), g0 + int(gl), on[j, 4 * gl:4 * gl + 4].copy()))
    # 3. exact outputs: out_bias plus the partial groups' contributions
    terms: dict[int, list[list[tuple[int, int]]]] = {}
    intruders: dict[int, list[int]] = {}
    for j, g, p in partial:
        if owner[j] != g:
            intruders.setdefault(j, []).append(g)
        acc = terms.setdefault(j, [[] for _ in range(n_out)])
        for u in np.flatnonzero(p):
            col = 4 * g + int(u)
            z = _exact_pre(x[j], kernel[:, col], bias[col])
            for o in range(n_out):
                acc[o].append(_dprod(_dy(out[col, o]), z))
    res = np.zeros(n)
    exact_res: dict[int, Fraction] = {}
    ob = [_dy(v) for v in out_bias]
    for j in range(n):
        acc = terms.get(j)
        if acc is None:  # no partial group: the output is out_bias exactly; float differences are exact enough
            worst = max(abs(_dfrac(_dsum([ob[o], _dy(-targets[j, o])]))) for o in range(n_out))
        else:
            worst = max(abs(_dfrac(_dsum(acc[o] + [ob[o], _dy(-targets[j, o])]))) for o in range(n_out))
        exact_res[j] = worst
        res[j] = float(worst)
    worst = float(res.max()) if n else 0.0
    if n and max(exact_res.values()) > tol:
        bad = [int(j) for j in np.argsort(-res, kind="stable") if exact_res[int(j)] > tol]
        shown = bad[:8]
        more = f" and {len(bad) - len(shown)} more" if len(bad) > len(shown) else ""
        what = []
        for j in shown:
            if j in intruders:
                gs = intruders[j]
                what.append(f"point {j} lies inside the slab of group {_idx(groups[gs[0]])}"
                            + (f" (and {len(gs) - 1} more)" if len(gs) > 1 else ""))
        own = sorted({int(owner[j]) for j in shown if j not in intruders and owner[j] >= 0})
        for g in own:
            hw = f" (slab half-width {half_widths[g]:.2e})" if half_widths is not None else ""
            what.append(f"the slab of group {_idx(groups[g])}{hw} is too thin for float64 to carry its labels")
        raise SlabFitError(
            f"{name}: the network misses the labels of points {_idx(shown)}{more} by up to {worst:.3g} in exact "
            f"arithmetic (tolerance {tol:g}): " + "; ".join(what) + ". Another point lies (nearly) on that group's "
            "hyperplane, so the data are in general position only barely at float64 resolution: perturb or remove "
            "those points, or build with another seed (other groups)")
    return {"exact_residual": worst, "partial_pairs": len(partial)}
