"""Closed-form capacities and bounds (pure functions of the architecture).

Every function returns a number of points; conditions are stated as
"capacity >= N".  Provenance of each formula is recorded in :mod:`theory.registry`.
"""

from __future__ import annotations

import math


def yun3_capacity(d1: int, d2: int, dy: int = 1, activation: str = "relu") -> int:
    """Points a 3-layer net with hidden widths (d1, d2) provably memorizes (Yun et al. 2019).

    ReLU: 4⌊d1/4⌋⌊d2/(4 dy)⌋.  Hard-tanh: 4⌊d1/2⌋⌊d2/(2 dy)⌋ (formula UNCONFIRMED,
    achieved by our construction).

    >>> yun3_capacity(40, 40)
    400
    >>> yun3_capacity(11, 13)
    24
    """
    if min(d1, d2, dy) < 1:
        return 0
    if activation == "relu":
        return 4 * (d1 // 4) * (d2 // (4 * dy))
    if activation == "hardtanh":
        return 4 * (d1 // 2) * (d2 // (2 * dy))
    raise ValueError(f"unknown activation {activation!r}")


def yun3_smallest_widths(n: int, dy: int = 1, activation: str = "relu") -> tuple[int, int]:
    """Smallest balanced-ish (d1, d2) with yun3_capacity >= n, minimizing d1 + d2 (ties: smaller max).

    >>> yun3_smallest_widths(400)
    (40, 40)
    """
    if n < 1:
        return (0, 0)
    unit1, unit2 = (4, 4 * dy) if activation == "relu" else (2, 2 * dy)
    best = None
    a = 1
    while True:
        b = math.ceil(n / (4 * a))
        d1, d2 = unit1 * a, unit2 * b
        key = (d1 + d2, max(d1, d2))
        if best is None or key < best[0]:
            best = (key, (d1, d2))
        if 4 * a >= n:
            break
        a += 1
    return best[1]


def yun3_necessity_violated(d1: int, d2: int, n: int) -> bool:
    """True when 2 d1 d2 + d2 + 2 < N: some scalar dataset of N points cannot be fit (Yun et al.)."""
    return 2 * d1 * d2 + d2 + 2 < n


def yun3_max_pieces(d1: int, d2: int) -> int:
    """Upper bound on linear pieces along a line of a 2-hidden-layer ReLU net: 2 d1 d2 + d2 + 1."""
    return 2 * d1 * d2 + d2 + 1


def two_layer_max_pieces(d1: int) -> int:
    """Linear pieces along a line of a 1-hidden-layer ReLU net: at most d1 + 1."""
    return d1 + 1


# --------------------------------------------------------------------------------------
# Appended for the theorem registry (issue 3).  Each returns a number of points (or, for
# negative results, a threshold T: N > T means "some dataset of N points cannot be fit").
# Provenance of each formula is recorded in theory.registry, not here.


def _smallest_pair(n: int, capacity, unit1: int = 1, unit2: int = 1) -> tuple[int, int]:
    """Smallest (d1, d2) (multiples of unit1, unit2) with capacity(d1, d2) >= n, minimizing d1 + d2.

    ``capacity`` must be nondecreasing in each width.  Ties: smaller max, then smaller d1.
    """
    best = None
    d1 = unit1
    while True:
        # smallest d2 with capacity(d1, d2) >= n by doubling + bisection
        hi = unit2
        while capacity(d1, hi) < n:
            hi *= 2
        lo = 0
        while hi - lo > unit2:
            mid = (lo + hi) // (2 * unit2) * unit2
            if mid <= lo:
                break
            lo, hi = (lo, mid) if capacity(d1, mid) >= n else (mid, hi)
        key = (d1 + hi, max(d1, hi), d1)
        if best is None or key < best[0]:
            best = (key, (d1, hi))
        if d1 >= best[0][0] or hi == unit2:
            break
        d1 += unit1
    return best[1]


def yun_classify_capacity(d1: int, d2: int, d3: int, dy: int) -> int:
    """Points a 4-layer ReLU classifier with widths (d1, d2, d3) separates into dy classes.

    4⌊d1/4⌋⌊d2/4⌋ when d3 >= 4 dy, else 0 (the class read-out needs 4 ReLUs per class).

    >>> yun_classify_capacity(40, 40, 40, 10)
    400
    >>> yun_classify_capacity(40, 40, 39, 10)
    0
    """
    if min(d1, d2, d3, dy) < 1 or d3 < 4 * dy:
        return 0
    return 4 * (d1 // 4) * (d2 // 4)


def yun_classify_smallest_widths(n: int, dy: int) -> tuple[int, int, int]:
    """Smallest (d1, d2, d3) for :func:`yun_classify_capacity` >= n: (yun3 widths for dy=1, 4 dy)."""
    d1, d2 = yun3_smallest_widths(n, 1)
    return (d1, d2, 4 * dy)


def necessity_threshold_3layer(d1: int, d2: int) -> int:
    """T = 2 d1 d2 + d2 + 2: a 2-hidden-layer ReLU net with scalar output fails on some N > T points."""
    return 2 * d1 * d2 + d2 + 2


def necessity_threshold_2layer(d1: int) -> int:
    """T = d1 + 2: a 1-hidden-layer ReLU net with scalar output fails on some N > T points."""
    return d1 + 2


def necessity_escape_widths(n: int) -> tuple[int, int]:
    """Smallest (d1, d2) (min d1 + d2) NOT excluded by the necessity bound, i.e. 2 d1 d2 + d2 + 2 >= n.

    >>> necessity_escape_widths(40)
    (4, 5)
    """
    return _smallest_pair(n, necessity_threshold_3layer)


def zhang_capacity(d1: int) -> int:
    """Zhang et al. 2017: one hidden ReLU layer of width d1 fits any d1 distinct points (2N + d weights)."""
    return max(int(d1), 0)


def baum_capacity(d1: int, dx: int) -> int:
    """Baum 1988: d1 threshold units fit any dichotomy of d1 * dx points in general position in R^dx."""
    return max(int(d1), 0) * int(dx)


def bubeck_capacity(d1: int, dx: int) -> int:
    """Bubeck et al. 2020 (ReLU Baum): 4 ReLUs per group of dx points, real labels: dx * ⌊d1/4⌋."""
    return (max(int(d1), 0) // 4) * int(dx)


def resnet_capacity(block_widths, dx: int, dy: int) -> int:
    """Points (dy classes, general position in R^dx) a residual net classifies, per our RECON.

    Each residual block of width w handles ⌊w/3⌋ chunks (3 ReLUs per chunk); a chunk holds at
    most dx points of one class.  With C chunks in all, every class split of N points needs at
    most dy + ⌊(N - dy)/dx⌋ chunks (worst case: every class has 1 mod dx points), so the
    guaranteed capacity is C (if C < dy) else C*dx - (dy - 1)(dx - 1).

    >>> resnet_capacity([3] * 55, 20, 10)
    929
    >>> resnet_capacity([3] * 10, 5, 1)
    50
    """
    chunks = sum(int(w) // 3 for w in block_widths)
    if chunks < dy:
        return chunks
    return chunks * dx - (dy - 1) * (dx - 1)


def resnet_smallest_blocks(n: int, dx: int, dy: int) -> int:
    """Fewest 3-ReLU residual blocks with :func:`resnet_capacity` >= n."""
    if n <= dy:
        return max(n, 1)
    return max(math.ceil((n + (dy - 1) * (dx - 1)) / dx), dy)


def hardt_ma_capacity(block_widths) -> int:
    """Hardt & Ma 2017: a residual block with k hidden units re-targets k points: capacity sum of widths.

    (Their theorem also needs k = O(log n) for separation; the constant is not encoded here.)
    """
    return sum(max(int(w), 0) for w in block_widths)


def vardi_depth_estimate(n: int) -> int:
    """Estimated depth of the Vardi-Yehudai-Shamir width-12 memorizer for n points (survey's count).

    3 sqrt(N) ⌈log2(100 N^2)⌉ + 5 sqrt(N), rounded up.  An estimate, not a theorem.
    """
    if n < 1:
        return 0
    r = math.sqrt(n)
    return math.ceil(3 * r * math.ceil(math.log2(100 * n * n)) + 5 * r)


def vardi_capacity(widths) -> int:
    """Largest N whose :func:`vardi_depth_estimate` fits in len(widths) layers of width >= 12."""
    depth = len(widths)
    if depth == 0 or min(widths) < 12:
        return 0
    lo, hi = 0, 1
    while vardi_depth_estimate(hi) <= depth:
        hi *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if vardi_depth_estimate(mid) <= depth else (lo, mid)
    return lo


def parameter_count(widths, dx: int, dy: int) -> int:
    """Weights and biases of a fully connected net dx -> widths -> dy."""
    sizes = [dx, *widths, dy]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def vc_threshold(widths, dx: int, dy: int = 1) -> int:
    """W L log2(W) with the unknown constant of O(W L log W) set to 1 (illustrative only)."""
    w = parameter_count(widths, dx, dy)
    layers = len(widths) + 1
    return math.ceil(w * layers * math.log2(max(w, 2)))


def cover_count(n: int, d: int) -> int:
    """Cover 1965: dichotomies of n points in general position realizable by a homogeneous
    linear threshold in R^d: C(n, d) = 2 sum_{k<d} binom(n - 1, k).  (With a bias, use d + 1.)

    >>> cover_count(3, 3), cover_count(4, 3)
    (8, 14)
    """
    return 2 * sum(math.comb(n - 1, k) for k in range(d))
