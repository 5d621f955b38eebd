"""Exercise 4: the necessity argument: the alternating dataset and the impossibility certificate."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from capacity.exercises._core import Check, Exercise, exact_outputs, load_source, need, tally
from theory import bounds

STATEMENT = r"""
# Exercise 4: why width $\Omega(\sqrt N)$ is necessary

**Theorem** (`yun-necessity-3layer`, and `yun-necessity-2layer` for one hidden layer).  If
$2 d_1 d_2 + d_2 + 2 < N$, some dataset of $N$ points cannot be memorized by a ReLU network
with hidden widths $d_1, d_2$ and scalar output (one hidden layer: $d_1 + 2 < N$).

**The argument.** Take the *alternating dataset* $x_i = i$, $y_i = (-1)^i$, $i = 1, \dots, N$.
The secant slopes of consecutive points alternate in sign, so a continuous piecewise-linear
$f$ with $f(x_i) = y_i$ has a piece of each sign in each of the $N-1$ gaps: at least $N - 1$
pieces.  The network has at most $P = 2 d_1 d_2 + d_2 + 1$ pieces ($P = d_1 + 1$ for one
hidden layer; Exercise 1).  If $P < N - 1$ it cannot fit.  The same argument shows more: the
signs of $f(x_i)$ cannot all alternate, so **every** such network has some $i$ with
$|f(x_i) - y_i| \ge 1$.

**Tasks.**

1. `alternating_dataset(n)`: the lists `x = [1, ..., n]` and `y = [(-1)^1, ..., (-1)^n]` (ints).
2. `certificate(d1, d2, n)`: `None` when the piece argument does not exclude a fit, otherwise
   the pair `(P, n - 1)` (pieces available < pieces needed).  `d2 is None` means one hidden layer.
3. `smallest_unfittable_n(d1, d2)`: the smallest $N$ for which `certificate` applies.
4. `witness(kernels, biases, n)`: for a scalar network (weights `Fraction`, kernels (in, out))
   with widths below the line, return an input $x \in \{1, \dots, n\}$ with
   $|f(x) - (-1)^x| \ge 1$, evaluated exactly.
"""

STUB = '''"""Exercise 4: the alternating dataset and the impossibility certificate.  Fill in the four functions."""
from fractions import Fraction


def alternating_dataset(n):
    """x = [1, ..., n], y = [(-1)**1, ..., (-1)**n] (ints)."""
    raise NotImplementedError("alternating_dataset")


def certificate(d1, d2, n):
    """None if the piece count does not exclude a fit of the alternating data; else (pieces available, needed)."""
    raise NotImplementedError("certificate")


def smallest_unfittable_n(d1, d2):
    """Smallest N at which certificate(d1, d2, N) applies."""
    raise NotImplementedError("smallest_unfittable_n")


def witness(kernels, biases, n):
    """An input x in 1..n with |f(x) - (-1)**x| >= 1 (exact arithmetic)."""
    raise NotImplementedError("witness")
'''

SOLUTION = '''"""Exercise 4, reference solution."""
from fractions import Fraction


def alternating_dataset(n):
    x = list(range(1, n + 1))
    return x, [(-1) ** i for i in x]


def _pieces(d1, d2):
    return d1 + 1 if d2 is None else 2 * d1 * d2 + d2 + 1


def certificate(d1, d2, n):
    bound = _pieces(d1, d2)
    if bound < n - 1:
        return bound, n - 1
    return None


def smallest_unfittable_n(d1, d2):
    return _pieces(d1, d2) + 2


def _f(kernels, biases, x):
    h = [Fraction(x)]
    for l, (W, b) in enumerate(zip(kernels, biases)):
        z = [sum((h[i] * Fraction(W[i][j]) for i in range(len(h))), Fraction(0)) + Fraction(b[j])
             for j in range(len(b))]
        h = z if l == len(kernels) - 1 else [max(v, Fraction(0)) for v in z]
    return h[0]


def witness(kernels, biases, n):
    x, y = alternating_dataset(n)
    res = [abs(_f(kernels, biases, xi) - yi) for xi, yi in zip(x, y)]
    best = max(range(n), key=lambda i: res[i])
    return best + 1
'''

HINTS = (
    "Pieces available: d1 + 1 (one hidden layer) or 2 d1 d2 + d2 + 1; pieces needed for N alternating points: N - 1.",
    "The certificate applies iff available < needed (strictly).  So the smallest such N is available + 2.",
    "For the witness evaluate f exactly at x = 1..n and return the x (not the list index) with the largest "
    "|f(x) - y|: the theorem guarantees that one is >= 1.",
)


@functools.lru_cache(maxsize=None)
def _reference():
    return load_source(SOLUTION, "ex04_reference")


def check_dataset(module):
    f = need(module, "alternating_dataset")
    items = []
    for n in range(1, 8):
        got = f(n)
        exp = (list(range(1, n + 1)), [(-1) ** i for i in range(1, n + 1)])
        ok = isinstance(got, (tuple, list)) and len(got) == 2 and list(got[0]) == exp[0] and list(got[1]) == exp[1]
        items.append((ok, f"alternating_dataset({n}) = {got!r}, expected {exp!r}"))
    return tally(items)


def _cases(d1s, d2s):
    for d1 in d1s:
        for d2 in d2s:
            t = bounds.necessity_threshold_2layer(d1) if d2 is None else bounds.necessity_threshold_3layer(d1, d2)
            for n in (2, t - 1, t, t + 1, t + 2, 3 * t):
                if n >= 2:
                    yield d1, d2, n


def _cert_items(module, d1s, d2s):
    f = need(module, "certificate")
    items = []
    for d1, d2, n in _cases(d1s, d2s):
        t = bounds.necessity_threshold_2layer(d1) if d2 is None else bounds.necessity_threshold_3layer(d1, d2)
        exp = (t - 1, n - 1) if n > t else None  # the registry's threshold T: fails iff N > T
        got = f(d1, d2, n)
        ok = (got is None and exp is None) or (got is not None and exp is not None and tuple(got) == exp)
        items.append((ok, f"certificate({d1}, {d2}, {n}) = {got!r}, expected {exp!r}"))
    return tally(items)


def check_certificate(module):
    return _cert_items(module, range(1, 5), [None, 1, 2, 3, 4])


def check_smallest(module):
    f = need(module, "smallest_unfittable_n")
    items = []
    for d1 in range(1, 6):
        for d2 in (None, 1, 2, 5):
            t = bounds.necessity_threshold_2layer(d1) if d2 is None else bounds.necessity_threshold_3layer(d1, d2)
            got = f(d1, d2)
            items.append((got == t + 1, f"smallest_unfittable_n({d1}, {d2}) = {got!r}, expected {t + 1}"))
    return tally(items)


def witness_nets(seed: int, count: int):
    """Networks below the necessity line: random ones, and ones that fit the first points (almost) exactly."""
    rng = np.random.default_rng(seed)
    F = Fraction
    nets = []
    for k in range(count):
        if k % 2 == 0:  # random two-hidden-layer net with small widths
            d1, d2 = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            sizes = (1, d1, d2, 1)
            ks = [[[F(int(v), 4) for v in row] for row in rng.integers(-8, 9, size=(a, b))]
                  for a, b in zip(sizes[:-1], sizes[1:])]
            bs = [[F(int(v), 4) for v in rng.integers(-8, 9, size=b)] for b in sizes[1:]]
            n = bounds.necessity_threshold_3layer(d1, d2) + 1 + int(rng.integers(0, 3))
        else:  # one hidden layer of width m interpolating 9/10 (-1)^i at i = 1..m, then continuing linearly
            m = int(rng.integers(2, 6))
            scale = F(9, 10)
            b = [F(1, 2)] + [F(2 * i + 1, 2) for i in range(1, m)]  # thresholds interleave 1..m
            w = []
            for i in range(1, m + 1):
                partial = sum((w[j] * max(F(i) - b[j], F(0)) for j in range(i - 1)), F(0))
                w.append((scale * (-1) ** i - partial) / (F(i) - b[i - 1]))
            ks = [[[F(1)] * m], [[v] for v in w]]
            bs = [[-v for v in b], [F(0)]]
            n = m + 3  # d1 + 2 < n
        nets.append((f"net {k} (seed {seed}, widths {'-'.join(['1'] + [str(len(b_)) for b_ in bs])}, n = {n})", ks, bs, n))
    return nets


def _witness_items(module, nets):
    f = need(module, "witness")
    items = []
    for label, ks, bs, n in nets:
        got = f(ks, bs, n)
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)) or not 1 <= int(got) <= n:
            items.append((False, f"{label}: witness returned {got!r}; return an input x in 1..{n}"))
            continue
        fx = exact_outputs(ks, bs, [[int(got)]])[0][0]
        r = abs(fx - (-1) ** int(got))
        items.append((r >= 1, f"{label}: at x = {int(got)}, |f(x) - y| = {float(r):.4g} < 1; "
                              "not a witness (some x has |f(x) - y| >= 1)"))
    return tally(items)


def check_witness(module):
    return _witness_items(module, witness_nets(4401, 6))


def check_hidden_certificate(module):
    return _cert_items(module, range(5, 9), [None, 6, 9])


def check_hidden_witness(module):
    return _witness_items(module, witness_nets(9701, 8))


EXERCISE = Exercise(
    id="04-necessity", number=4, title="The necessity argument: alternating data and the impossibility certificate",
    topic="lower bounds", difficulty="medium", minutes=60, theorem="yun-necessity-3layer",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("alternating dataset x_i = i, y_i = (-1)^i", 1, check_dataset, "i runs from 1 to n, both included."),
        Check("certificate, including the exact boundary N = T", 3, check_certificate,
              "fits are excluded only when pieces available < pieces needed = N - 1 (strictly)."),
        Check("smallest unfittable N", 1, check_smallest, "the certificate starts applying at N = pieces + 2."),
        Check("witness: a point with |f(x) - y| >= 1", 3, check_witness,
              "return the input x (1-based), evaluated exactly; the largest residual is always >= 1."),
        Check("certificate on wider nets", 1, check_hidden_certificate, "same formula, larger widths.", public=False),
        Check("witness on more networks", 2, check_hidden_witness, "same argument, other networks.", public=False),
    ),
    wrong_answers={
        "boundary off by one (<= instead of <)": ("if bound < n - 1:", "if bound <= n - 1:"),
        "dataset starts at x = 0": ("x = list(range(1, n + 1))", "x = list(range(n))"),
        "witness returns the 0-based list index": ("return best + 1", "return best"),
        "smallest N off by one": ("return _pieces(d1, d2) + 2", "return _pieces(d1, d2) + 1"),
    },
    functions=("alternating_dataset", "certificate", "smallest_unfittable_n", "witness"),
)
