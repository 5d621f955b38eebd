"""Exercise 1: linear pieces of a small ReLU network on a line, and the 2 d1 d2 + d2 + 1 bound."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from capacity.exercises._core import Check, Exercise, load_source, need, tally

STATEMENT = r"""
# Exercise 1: counting linear pieces on a line

**Theorem** (`yun-necessity-3layer`, piece-count lemma).  A ReLU network
$f:\mathbb R\to\mathbb R$ with one hidden layer of width $d_1$ is continuous and piecewise
linear with at most $d_1+1$ pieces.  With two hidden layers of widths $d_1, d_2$ it has at
most

$$ 2 d_1 d_2 + d_2 + 1 $$

pieces: each second-layer pre-activation is a sum of $d_1$ one-kink functions ($\le d_1+1$
pieces), its ReLU has $\le 2(d_1+1)$ pieces, and a sum of $d_2$ functions of $\le P$ pieces has
$\le d_2(P-1)+1$ pieces.

The network is $f(s) = \big(\mathrm{relu}(\dots\mathrm{relu}(s W_0 + b_0)\dots) W_{L-1}\big) + b_{L-1}$
with kernels of shape (in, out): `kernels[l][i][j]`, `biases[l][j]`, every entry a
`fractions.Fraction` (or an `int`).  Input and output are scalars.

**Tasks.**

1. `piece_bound(d1, d2=None)`: the bound above ($d_1+1$ when `d2` is `None`).
2. `count_pieces(kernels, biases)`: the exact number of *linear pieces* of $f$ on the whole
   real line, for one or two hidden layers.  Two adjacent activation regions on which $f$ has
   the same slope are one piece ($f$ is continuous).  Work in exact rationals: kinks may be
   $10^{-20}$ apart.

The checks compare your counts with exact counts on random integer networks (seeded: the
message names the network and its seed) and on networks built to trip common mistakes.
"""

STUB = '''"""Exercise 1: linear pieces of a ReLU network on a line.  Fill in the two functions."""
from fractions import Fraction


def piece_bound(d1, d2=None):
    """At most how many linear pieces a scalar ReLU net with hidden widths d1 (and d2) has on a line."""
    raise NotImplementedError("piece_bound")


def count_pieces(kernels, biases):
    """Exact number of linear pieces of the scalar-in, scalar-out ReLU net on the whole real line.

    kernels[l][i][j] (shape (in, out)) and biases[l][j] are Fractions or ints; 1 or 2 hidden layers.
    """
    raise NotImplementedError("count_pieces")
'''

SOLUTION = '''"""Exercise 1, reference solution: exact pieces by propagating affine pieces layer by layer."""
from fractions import Fraction


def Q(v):
    return Fraction(v)


def piece_bound(d1, d2=None):
    if d2 is None:
        return d1 + 1
    return 2 * d1 * d2 + d2 + 1


def _layer(A, C, W, b):
    """Pre-activations a + s c of h(s) = A + s C through (W, b)."""
    n = len(W[0])
    za = [sum((A[i] * Q(W[i][j]) for i in range(len(A))), Q(0)) + (Q(b[j]) if b is not None else Q(0))
          for j in range(n)]
    zc = [sum((C[i] * Q(W[i][j]) for i in range(len(C))), Q(0)) for j in range(n)]
    return za, zc


def count_pieces(kernels, biases):
    pieces = [(None, None, [Q(0)], [Q(1)])]  # (left, right, A, C): hidden vector A + s C on (left, right)
    for W, b in zip(kernels[:-1], biases[:-1]):
        new = []
        for lo, hi, A, C in pieces:
            za, zc = _layer(A, C, W, b)
            cuts = sorted({-a / c for a, c in zip(za, zc)
                           if c != 0 and (lo is None or -a / c > lo) and (hi is None or -a / c < hi)})
            ends = [lo] + cuts + [hi]
            for left, right in zip(ends[:-1], ends[1:]):
                if left is None and right is None:
                    mid = Q(0)
                elif left is None:
                    mid = right - 1
                elif right is None:
                    mid = left + 1
                else:
                    mid = (left + right) / 2
                on = [a + mid * c > 0 for a, c in zip(za, zc)]
                new.append((left, right, [a if o else Q(0) for a, o in zip(za, on)],
                            [c if o else Q(0) for c, o in zip(zc, on)]))
        pieces = new
    slopes = [_layer(A, C, kernels[-1], None)[1][0] for _, _, A, C in pieces]
    return 1 + sum(1 for s, t in zip(slopes, slopes[1:]) if s != t)
'''

HINTS = (
    "On an interval where no hidden unit switches, the hidden vector is affine in s: h(s) = A + s C.",
    "Propagate a list of intervals: for each interval and each unit of the next layer, the pre-activation a + s c "
    "switches at s = -a/c; split the interval at those roots that fall strictly inside it, and on each new "
    "sub-interval read the activation pattern at an interior point.",
    "At the end compute the output slope on every interval and count the changes of slope between neighbours "
    "(equal slopes on both sides of a breakpoint mean the same linear piece).  Use Fraction everywhere: "
    "with floats two kinks 1e-20 apart become one.",
)


@functools.lru_cache(maxsize=None)
def _reference():
    return load_source(SOLUTION, "ex01_reference")


def _F(v):
    return Fraction(int(v)) if not isinstance(v, Fraction) else v


def random_net(seed: int, widths: tuple[int, ...], *, scale: int = 3, denominators: bool = False):
    """Integer (or small-denominator rational) weights in [-scale, scale], widths (1, d1, [d2,] 1)."""
    rng = np.random.default_rng(seed)
    sizes = (1, *widths, 1)
    ks, bs = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        def draw(shape):
            v = rng.integers(-scale, scale + 1, size=shape)
            if denominators:
                d = rng.integers(1, 8, size=shape)
                return [[Fraction(int(p), int(q)) for p, q in zip(r, s)] for r, s in zip(v, d)] if v.ndim == 2 else \
                    [Fraction(int(p), int(q)) for p, q in zip(v, d)]
            return [[Fraction(int(p)) for p in r] for r in v] if v.ndim == 2 else [Fraction(int(p)) for p in v]
        ks.append(draw((a, b)))
        bs.append(draw((b,)))
    return ks, bs


def tricky_nets():
    """Networks built to catch: unmerged equal slopes, float rounding of nearby kinks, repeated kinks."""
    F = Fraction
    return [
        ("a unit with output weight 0", [[[F(1), F(1)]], [[F(1)], [F(0)]]], [[F(0), F(-1)], [F(0)]]),
        ("two kinks 1e-20 apart", [[[F(1), F(1)]], [[F(1)], [F(1)]]], [[F(-1), -(1 + F(1, 10**20))], [F(0)]]),
        ("two units with the same kink", [[[F(1), F(2)]], [[F(1)], [F(-1)]]], [[F(-1), F(-2)], [F(0)]]),
        ("second-layer unit that never switches on", [[[F(1), F(-1)]], [[F(-1), F(1)], [F(-1), F(1)]], [[F(5)], [F(1)]]],
         [[F(0), F(0)], [F(-1), F(0)], [F(0)]]),
        ("slopes that cancel exactly", [[[F(1), F(1), F(1)]], [[F(1)], [F(-2)], [F(1)]]], [[F(0), F(-1), F(-2)], [F(0)]]),
    ]


def _count_items(module, nets):
    count = need(module, "count_pieces")
    ref = _reference().count_pieces
    items = []
    for label, ks, bs in nets:
        expected = ref(ks, bs)
        got = count(ks, bs)
        items.append((got == expected and not isinstance(got, bool),
                      f"{label}: you counted {got!r} pieces, the exact count is {expected}"))
    return tally(items)


def _widths_text(ks):
    return "-".join(map(str, [1] + [len(k[0]) for k in ks]))


def _random_items(seeds, widths_fn, **kw):
    nets = []
    for s in seeds:
        w = widths_fn(s)
        ks, bs = random_net(s, w, **kw)
        nets.append((f"net with widths {_widths_text(ks)} (seed {s})", ks, bs))
    return nets


def check_bound(module):
    f = need(module, "piece_bound")
    items = []
    for d1 in range(1, 7):
        exp = d1 + 1
        got = f(d1)
        items.append((got == exp, f"piece_bound({d1}) = {got!r}, expected {exp}"))
        for d2 in range(1, 7):
            exp = 2 * d1 * d2 + d2 + 1
            got = f(d1, d2)
            items.append((got == exp, f"piece_bound({d1}, {d2}) = {got!r}, expected {exp}"))
    return tally(items)


def check_one_layer(module):
    return _count_items(module, _random_items(range(1100, 1112), lambda s: (1 + s % 5,)))


def check_two_layers(module):
    return _count_items(module, _random_items(range(1200, 1210), lambda s: (1 + s % 4, 1 + (s // 4) % 4)))


def check_tricky(module):
    return _count_items(module, tricky_nets())


def check_hidden_rational(module):
    return _count_items(module, _random_items(range(9100, 9108), lambda s: (2 + s % 4, 2 + (s // 3) % 4),
                                              denominators=True))


def check_hidden_bound_respected(module):
    """The student's counts on wider random nets, exact, and never above the true bound."""
    nets = _random_items(range(9200, 9204), lambda s: (6, 5), scale=5)
    return _count_items(module, nets)


EXERCISE = Exercise(
    id="01-pieces", number=1, title="Counting linear pieces of a ReLU network on a line",
    topic="expressivity / necessity", difficulty="easy", minutes=45, theorem="yun-necessity-3layer",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("piece bound d1 + 1 and 2 d1 d2 + d2 + 1", 2, check_bound,
              "one hidden layer: one kink per unit; two: each second-layer unit contributes 2(d1 + 1) - 1 kinks, "
              "plus one piece."),
        Check("exact pieces, one hidden layer", 3, check_one_layer,
              "split the line at every first-layer kink s = -b_j / w_j, then merge neighbours with equal slope."),
        Check("exact pieces, two hidden layers", 4, check_two_layers,
              "on each first-layer interval the second-layer pre-activations are affine; split again at their roots."),
        Check("tricky networks (dead units, equal slopes, kinks 1e-20 apart)", 3, check_tricky,
              "count linear pieces, not activation regions, and compare slopes exactly (Fraction, not float)."),
        Check("rational weights", 2, check_hidden_rational, "work in Fraction throughout.", public=False),
        Check("wider networks", 2, check_hidden_bound_respected, "your count must be exact on wider nets too.",
              public=False),
    ),
    wrong_answers={
        "bound off by one (forgot the last +1)": ("return 2 * d1 * d2 + d2 + 1", "return 2 * d1 * d2 + d2"),
        "counts activation regions, not linear pieces": (
            "return 1 + sum(1 for s, t in zip(slopes, slopes[1:]) if s != t)", "return len(slopes)"),
        "floats instead of exact rationals": ("def Q(v):\n    return Fraction(v)", "def Q(v):\n    return float(v)"),
    },
    functions=("piece_bound", "count_pieces"),
)
