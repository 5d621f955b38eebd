"""Exercise 2: Zhang et al.'s one-hidden-layer memorizer with 2N + d weights, written by hand."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from capacity.exercises._core import (
    Check,
    CheckFailed,
    Exercise,
    exact_outputs,
    need,
    point_items,
    tally,
    to_fraction,
)

STATEMENT = r"""
# Exercise 2: Zhang et al.'s $2N + d$ memorizer

**Theorem** (`zhang2017`, Zhang, Bengio, Hardt, Recht & Vinyals, ICLR 2017, Thm 1).  For any
$N$ distinct points $x_1,\dots,x_N\in\mathbb R^d$ and any real labels $y_1,\dots,y_N$ there
are $a\in\mathbb R^d$, $b, w\in\mathbb R^N$ such that

$$ f(x) = \sum_{j=1}^N w_j\,\mathrm{relu}(\langle a, x\rangle - b_j) $$

satisfies $f(x_i) = y_i$ for every $i$: one hidden layer of $N$ ReLUs sharing one
projection, $2N + d$ weights.

*Proof sketch.* Pick $a$ with distinct projections $z_i = \langle a, x_i\rangle$ and sort
them, $z_{(1)} < \dots < z_{(N)}$.  Interleave the thresholds,
$b_1 < z_{(1)} < b_2 < z_{(2)} < \dots < b_N < z_{(N)}$.  Then
$A_{ij} = \mathrm{relu}(z_{(i)} - b_j)$ is lower triangular with a positive diagonal, and
$A w = y$ is solved by forward substitution.

**Task.** Write `zhang_network(x, y)` returning `(a, b, w)`: lists of `d`, `N`, `N` numbers,
with unit `j` computing `relu(<a, x> - b[j])` and output weight `w[j]` (no output bias).  The
inputs `x` (a list of `N` tuples) and labels `y` are `fractions.Fraction`.  The checker
evaluates your network **exactly** (rational arithmetic, the toolkit's exact engine) on fresh
random data, so compute in `Fraction`: a float network misses the labels by rounding errors
and fails.  Points may share coordinates, so $a = e_1$ is not enough.
"""

STUB = '''"""Exercise 2: Zhang et al.'s one-hidden-layer memorizer.  Fill in zhang_network."""
from fractions import Fraction


def zhang_network(x, y):
    """(a, b, w) with f(x) = sum_j w[j] * relu(<a, x> - b[j]) equal to y[i] at every x[i], exactly.

    x: list of N tuples of d Fractions (distinct); y: list of N Fractions.
    """
    raise NotImplementedError("zhang_network")
'''

SOLUTION = '''"""Exercise 2, reference solution: shared projection, interleaved thresholds, forward substitution."""
from fractions import Fraction


def relu(v):
    return v if v > 0 else 0


def zhang_network(x, y):
    n, d = len(x), len(x[0])
    k = 1
    while True:  # a = (1, k, k^2, ...): some k gives distinct projections (finitely many bad k)
        a = [Fraction(k) ** p for p in range(d)]
        z = [sum(ai * xi for ai, xi in zip(a, pt)) for pt in x]
        if len(set(z)) == n:
            break
        k += 1
    order = sorted(range(n), key=lambda i: z[i])
    zs = [z[i] for i in order]
    ys = [Fraction(y[i]) for i in order]
    b = [zs[0] - 1] + [(zs[i - 1] + zs[i]) / 2 for i in range(1, n)]
    w = []
    for i in range(n):  # row i of A w = y: sum_{j <= i} w_j relu(z_i - b_j) = y_i
        partial = sum((w[j] * relu(zs[i] - b[j]) for j in range(i)), Fraction(0))
        w.append((ys[i] - partial) / (zs[i] - b[i]))
    return a, b, w
'''

HINTS = (
    "Find a direction a with distinct projections z_i = <a, x_i>.  Try a = (1, k, k^2, ...) for k = 1, 2, ... "
    "until the z_i are distinct (exact arithmetic, so 'distinct' means distinct).",
    "Sort the points by z.  Put b_1 below the smallest projection and b_i halfway between the (i-1)-th and the "
    "i-th projections: then unit j is active exactly at the points i >= j.",
    "Solve for w left to right: at the i-th sorted point only units 1..i are active, so "
    "w_i = (y_i - sum_{j<i} w_j (z_i - b_j)) / (z_i - b_i).  Keep every number a Fraction.",
)


def make_data(seed: int, n: int, d: int, *, grid: bool = False):
    """N distinct rational points in [-2, 2]^d (grid=True: on an integer grid, sharing coordinates)."""
    rng = np.random.default_rng(seed)
    pts = set()
    while len(pts) < n:
        if grid:
            pts.add(tuple(Fraction(int(v)) for v in rng.integers(-3, 4, size=d)))
        else:
            pts.add(tuple(Fraction(int(p), int(q)) for p, q in zip(rng.integers(-20, 21, size=d),
                                                                    rng.integers(1, 11, size=d))))
    x = sorted(pts, key=lambda _: rng.random())
    y = [Fraction(int(p), 64) for p in rng.integers(-64, 65, size=n)]
    return x, y


def network_arrays(a, b, w, d: int, n: int):
    """(kernels, biases) of the student's (a, b, w), checking the 2N + d structure."""
    a, b, w = list(a), list(b), list(w)
    if len(a) != d:
        raise CheckFailed(f"a has {len(a)} entries; it must have d = {d} (one per input coordinate)")
    if len(b) != n or len(w) != n:
        raise CheckFailed(f"b and w have {len(b)} and {len(w)} entries; Zhang's network has exactly N = {n} hidden "
                          "units (2N + d weights)")
    k0 = [[to_fraction(a[i]) for _ in range(n)] for i in range(d)]
    b0 = [-to_fraction(v) for v in b]
    k1 = [[to_fraction(v)] for v in w]
    return [k0, k1], [b0, [Fraction(0)]]


def _fit_items(module, seeds, n, d, grid=False):
    f = need(module, "zhang_network")
    items = []
    for s in seeds:
        x, y = make_data(s, n, d, grid=grid)
        res = f([tuple(p) for p in x], list(y))
        if not (isinstance(res, (tuple, list)) and len(res) == 3):
            raise CheckFailed(f"zhang_network must return a tuple (a, b, w); got {type(res).__name__}")
        ks, bs = network_arrays(*res, d=d, n=n)
        out = [row[0] for row in exact_outputs(ks, bs, x)]
        items += point_items(out, y, seed=s)
    return tally(items)


def check_structure(module):
    f = need(module, "zhang_network")
    x, y = make_data(2100, 5, 3)
    network_arrays(*f(list(x), list(y)), d=3, n=5)
    return None


def check_small(module):
    return _fit_items(module, [2201, 2202], 6, 2)


def check_fresh(module):
    return _fit_items(module, [2301, 2302, 2303], 12, 3)


def check_grid(module):
    return _fit_items(module, [2401, 2402], 10, 2, grid=True)


def check_hidden_one_d(module):
    return _fit_items(module, [9301, 9302], 15, 1)


def check_hidden_larger(module):
    return _fit_items(module, [9401], 30, 4, grid=True)


EXERCISE = Exercise(
    id="02-zhang", number=2, title="Zhang et al.'s 2N + d memorizer by hand",
    topic="constructions", difficulty="easy", minutes=45, theorem="zhang2017",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("returns a, b, w of sizes d, N, N (2N + d weights)", 1, check_structure,
              "return three lists: a (d numbers), b (N thresholds), w (N output weights)."),
        Check("exact fit, N = 6 points in 2-D", 2, check_small,
              "sort by the projection; thresholds interleave with the sorted projections."),
        Check("exact fit on fresh data, N = 12 in 3-D", 3, check_fresh,
              "solve for w by forward substitution in Fraction; floats miss the labels by rounding."),
        Check("exact fit, points on an integer grid (shared coordinates)", 2, check_grid,
              "a = e_1 or a = (1, 1) gives tied projections on a grid; choose a so all projections differ."),
        Check("exact fit in 1-D", 1, check_hidden_one_d, "d = 1 works like any other d.", public=False),
        Check("exact fit, N = 30 grid points in 4-D", 2, check_hidden_larger,
              "distinct projections on every dataset.", public=False),
    ),
    wrong_answers={
        "float arithmetic instead of exact": ("    ys = [Fraction(y[i]) for i in order]",
                                              "    ys = [float(y[i]) for i in order]"),
        "forgot to sort by the projection": ("order = sorted(range(n), key=lambda i: z[i])",
                                             "order = list(range(n))"),
        "first threshold on the first point": ("b = [zs[0] - 1]", "b = [zs[0]]"),
        "no check for tied projections (a = (1, ..., 1))": (
            "        if len(set(z)) == n:\n            break\n        k += 1", "        break"),
    },
    functions=("zhang_network",),
)
