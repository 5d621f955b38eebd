"""The exact engine: networks evaluated in rational arithmetic (every kind, one contract).

Every float64 number is a dyadic rational, so a float64 network and float64 data can be
evaluated *exactly*; a construction carried out in rational arithmetic (its weights are
rationals, not roundings) can be checked to interpolate with residual exactly 0.

Backend: python-flint (``fmpq_mat``, FLINT's exact rational matrices), falling back to the
standard library's :class:`fractions.Fraction` (about 16x slower; fine for small networks).

Entry points: :func:`certify_mlp` (plain and exact-integer MLPs), :func:`certify_residual`
(residual networks), both returning one :class:`ExactResult`; :func:`exact_outputs`.

Levels (see :mod:`capacity.verification`):

* ``certified-exact``: f(x_i) = y_i exactly for every i (exact arithmetic, no rounding anywhere);
* ``certified-bound``: the exact residual max_i |f(x_i) - y_i| (computed exactly) is <= tol;
* ``failed``: otherwise.
"""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import numpy as np

try:  # pragma: no cover - import guard
    import flint

    HAVE_FLINT = True
except ImportError:  # pragma: no cover
    flint = None
    HAVE_FLINT = False


@dataclasses.dataclass
class ExactResult:
    """Outcome of an exact check."""

    level: str
    exact_residual: str  # exact value, as a decimal approximation string (exact when "0")
    exact_residual_float: float
    n_checked: int
    seconds: float
    backend: str
    min_abs_preactivation: float | None = None  # exact kink margin (rounded for display)
    notes: list = dataclasses.field(default_factory=list)
    method: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def backend_name() -> str:
    return "python-flint" if HAVE_FLINT else "fractions"


def _scalar(v):
    """float / int / Fraction / fmpq -> the backend's exact rational."""
    if HAVE_FLINT:
        if isinstance(v, flint.fmpq):
            return v
        if isinstance(v, Fraction):
            return flint.fmpq(v.numerator, v.denominator)
        if isinstance(v, (int, np.integer)):
            return flint.fmpq(int(v))
        n, d = float(v).as_integer_ratio()
        return flint.fmpq(n, d)
    if isinstance(v, Fraction):
        return v
    if HAVE_FLINT is False and hasattr(v, "p") and hasattr(v, "q"):  # pragma: no cover
        return Fraction(int(v.p), int(v.q))
    return Fraction(v) if isinstance(v, (int, np.integer)) else Fraction(*float(v).as_integer_ratio())


class _Mat:
    """Minimal exact matrix wrapper over fmpq_mat or lists of Fractions."""

    def __init__(self, rows: int, cols: int, entries: list):
        self.rows, self.cols = rows, cols
        if HAVE_FLINT:
            self.m = flint.fmpq_mat(rows, cols, entries)
        else:
            self.m = [entries[i * cols:(i + 1) * cols] for i in range(rows)]

    @classmethod
    def from_array(cls, a) -> "_Mat":
        a = np.asarray(a, dtype=object) if np.asarray(a).dtype == object else np.asarray(a, dtype=np.float64)
        if a.ndim == 1:
            a = a[None, :]
        return cls(a.shape[0], a.shape[1], [_scalar(v) for v in a.ravel()])

    def entries(self) -> list:
        if HAVE_FLINT:
            return list(self.m.entries())
        return [v for row in self.m for v in row]

    def matmul(self, other: "_Mat") -> "_Mat":
        out = _Mat.__new__(_Mat)
        out.rows, out.cols = self.rows, other.cols
        if HAVE_FLINT:
            out.m = self.m * other.m
        else:
            cols = list(zip(*other.m))
            out.m = [[sum((a * b for a, b in zip(row, col)), Fraction(0)) for col in cols] for row in self.m]
        return out

    def add_row(self, bias: list) -> "_Mat":
        ent = self.entries()
        c = self.cols
        return _Mat(self.rows, c, [e + bias[i % c] for i, e in enumerate(ent)])

    def map(self, f) -> "_Mat":
        return _Mat(self.rows, self.cols, [f(e) for e in self.entries()])


def _rank_one(k0):
    """(u, a) with k0 == outer(u, a) exactly, or None (k0 as exact rationals)."""
    d_in, d_out = k0.shape
    nz = [(d, j) for d in range(d_in) for j in range(d_out) if k0[d, j] != 0]
    if not nz:
        return None
    d0, j0 = nz[0]
    u = k0[:, j0]
    piv = k0[d0, j0]
    a = np.array([k0[d0, j] / piv for j in range(d_out)], dtype=object)
    for d in range(d_in):
        for j in range(d_out):
            if k0[d, j] != u[d] * a[j]:
                return None
    return u, a


def _rank_one_forward(u, a, b1, k2, b2, xq):
    """Exact pre-activations of layer 2 for relu(x @ outer(u, a) + b1) @ k2 + b2.

    Exact algebra, no approximation: x @ outer(u, a) = (x . u) a, so with t = x . u unit j is
    active iff a_j t + b1_j > 0 and the active set changes only at the kinks -b1_j / a_j.  Sweeping
    t upwards through the kinks keeps S = sum_active k2[j] a_j and C = sum_active k2[j] b1_j, and
    every point gets b2 + t S + C from the interval it lies in (a point exactly on a kink gets the
    left interval's formula, which is right: the units switching there contribute a_j t + b1_j = 0).
    Cost O(N dx + d1 d2 + N d2) rational operations instead of O(N d1 d2).
    Returns the rows of the exact (N, d2) pre-activation matrix.
    """
    import bisect

    n = xq.shape[0]
    zero = _scalar(0)
    t = [sum((xq[i, d] * u[d] for d in range(u.shape[0])), zero) for i in range(n)]
    d1, d2 = k2.shape
    ev: dict = {}
    S = [zero] * d2
    C = [zero] * d2
    for j in range(d1):
        if a[j] == 0:
            if b1[j] > 0:  # constant unit
                for c in range(d2):
                    C[c] += k2[j, c] * b1[j]
            continue
        ev.setdefault(-b1[j] / a[j], []).append(j)
        if a[j] < 0:  # active for t below its kink
            for c in range(d2):
                S[c] += k2[j, c] * a[j]
                C[c] += k2[j, c] * b1[j]
    breaks = sorted(ev)
    per_interval = [(list(S), list(C))]
    for kk in breaks:
        for j in ev[kk]:
            sgn = 1 if a[j] > 0 else -1  # right-facing switches on, left-facing switches off
            for c in range(d2):
                if k2[j, c] != 0:
                    S[c] += sgn * k2[j, c] * a[j]
                    C[c] += sgn * k2[j, c] * b1[j]
        per_interval.append((list(S), list(C)))
    rows = []
    for i in range(n):
        Sm, Cm = per_interval[bisect.bisect_left(breaks, t[i])]
        ti = t[i]
        rows.append([b2[c] + ti * Sm[c] + Cm[c] for c in range(d2)])
    return rows


def _exact_array(a) -> np.ndarray:
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = _scalar(v)
    return out


def exact_outputs(kernels, biases, x, activation: str = "relu", rank_one_fast_path: bool = True,
                  per_point_margin: bool = False):
    """Exact outputs of the network at the rows of x.

    Args:
      kernels, biases: float64 arrays or object arrays of exact rationals.
      x: (N, dx) inputs (float64 or exact).

    Returns:
      (outputs as a list of rows of exact rationals, min |pre-activation - kink| over hidden units;
      with the rank-one fast path the first layer's pre-activations are not formed and the minimum
      covers the later layers only).  With ``per_point_margin`` the second item is a list with
      one minimum per point (the fast path is then not taken).

    When the first kernel is exactly rank one (as in the one-projection constructions) and the
    activation is ReLU, the first two layers are evaluated by :func:`_rank_one_forward`, which is
    exact algebra on the same weights, not an approximation.
    """
    zero = _scalar(0)
    one = _scalar(1)
    h = _Mat.from_array(x)
    n_layers = len(kernels)
    margin = None
    start = 0
    if per_point_margin:
        margins = [None] * h.rows
    if activation == "relu" and n_layers >= 3 and rank_one_fast_path and not per_point_margin:
        k0 = _exact_array(kernels[0])
        ua = _rank_one(k0)
        if ua is not None:
            rows = _rank_one_forward(ua[0], ua[1], _exact_array(biases[0]).ravel(), _exact_array(kernels[1]),
                                     _exact_array(biases[1]).ravel(), _exact_array(x))
            ent = [e for row in rows for e in row]
            z = _Mat(len(rows), len(rows[0]), ent)
            margin = min(abs(e) for e in ent)
            h = z.map(lambda e: e if e > zero else zero)
            start = 2
    for i, (w, b) in enumerate(zip(kernels, biases)):
        if i < start:
            continue
        z = h.matmul(_Mat.from_array(w)).add_row([_scalar(v) for v in np.ravel(b)])
        if i < n_layers - 1:
            ent = z.entries()
            if activation == "relu":
                dist = [abs(e) for e in ent]
                h = z.map(lambda e: e if e > zero else zero)
            else:
                dist = [min(abs(e - one), abs(e + one)) for e in ent]
                h = z.map(lambda e: one if e > one else (-one if e < -one else e))
            m = min(dist)
            margin = m if margin is None else min(margin, m)
            if per_point_margin:
                for r in range(z.rows):
                    mr = min(dist[r * z.cols:(r + 1) * z.cols])
                    margins[r] = mr if margins[r] is None else min(margins[r], mr)
        else:
            h = z
    ent = h.entries()
    rows = [ent[i * h.cols:(i + 1) * h.cols] for i in range(h.rows)]
    if per_point_margin:
        return rows, [m if m is not None else float("inf") for m in margins]
    return rows, margin


def _to_float(v) -> float:
    if HAVE_FLINT and isinstance(v, flint.fmpq):
        return int(v.p) / int(v.q)
    return float(v)


def exact_residual(outputs, targets) -> tuple[object, int]:
    """(max_i |f_i - y_i| exactly, number of entries compared)."""
    worst = _scalar(0)
    k = 0
    for row, yrow in zip(outputs, np.asarray(targets, dtype=object) if np.asarray(targets).dtype == object
                         else np.asarray(targets, dtype=np.float64)):
        for f, yv in zip(row, np.ravel(yrow)):
            d = abs(f - _scalar(yv))
            if d > worst:
                worst = d
            k += 1
    return worst, k


def _level(worst, tol: float) -> str:
    if worst == 0:
        return "certified-exact"
    return "certified-bound" if worst <= _scalar(tol) else "failed"


def _result(worst, k, margin, t0, method) -> "ExactResult":
    wf = _to_float(worst)
    return ExactResult(level="", exact_residual="0" if worst == 0 else f"{wf:.6e}", exact_residual_float=wf,
                       n_checked=k, seconds=time.perf_counter() - t0, backend=backend_name(),
                       min_abs_preactivation=None if margin is None else _to_float(margin), method=method)


def certify_mlp(kernels, biases, x, y, *, activation: str = "relu", tol: float = 0.0) -> ExactResult:
    """Evaluate an MLP exactly at every row of x and compare with the targets y (N, dy).

    kernels/biases: float64 arrays or object arrays of exact numbers.  ``certified-exact`` when
    every output equals its target exactly; ``certified-bound`` when the exact residual is
    nonzero but <= tol; ``failed`` otherwise.
    """
    t0 = time.perf_counter()
    outs, margin = exact_outputs(kernels, biases, x, activation)
    worst, k = exact_residual(outs, y)
    res = _result(worst, k, margin, t0, "exact rational evaluation (rank-one shortcut for a rank-one first layer)")
    res.level = _level(worst, tol)
    return res


def certify_residual(params, x, y, *, tol: float = 0.0) -> ExactResult:
    """Evaluate a residual network exactly (params in ResidualParams order) and compare with y."""
    t0 = time.perf_counter()
    w_in, b_in, U, s, V, R, c = (_exact_array(a) for a in params)
    xq = _exact_array(x)
    zero = _scalar(0)
    h = xq.dot(w_in) + b_in[None, :]
    margin = None
    for b in range(U.shape[0]):
        z = h.dot(U[b]) + s[b][None, :]
        if z.size:
            m = min(abs(v) for v in z.ravel().tolist())
            margin = m if margin is None else min(margin, m)
        a = np.where(z > zero, z, zero) if z.size else z
        h = h + a.dot(V[b])
    out = h.dot(R) + c[None, :]
    worst, k = exact_residual(out.tolist(), y)
    res = _result(worst, k, margin, t0, "exact rational evaluation of the residual network")
    res.level = _level(worst, tol)
    return res
