"""Closed-form capacities and bounds (pure functions of the architecture), each exactly once.

Every function returns a number of points; conditions are stated as "capacity >= N".
Provenance of each formula is recorded in :mod:`theory.registry`.  Nothing here imports
:mod:`capacity`.
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


def _quadratic_window(qa: float, qb: float, qc: float, lo: int, hi: int) -> range:
    """Integers t in [lo, hi] that can satisfy qa t^2 + qb t + qc <= 0 (qa > 0), widened by 2 for rounding."""
    disc = qb * qb - 4 * qa * qc
    if disc < 0:
        return range(0)
    r = math.sqrt(disc)
    t0, t1 = (-qb - r) / (2 * qa), (-qb + r) / (2 * qa)
    return range(max(lo, math.floor(t0) - 2), min(hi, math.ceil(t1) + 2) + 1)


def yun3_smallest_widths(n: int, dy: int = 1, activation: str = "relu") -> tuple[int, int]:
    """Smallest (d1, d2) with :func:`yun3_capacity` >= n, minimizing d1 + d2 (ties: smaller max).

    With d1 = u1 a and d2 = u2 ceil(n / (4a)), the sum is at least L(a) = u1 a + u2 n / (4a); only
    the a with L(a) <= (the best sum found near the minimum of L) can win, an interval of width
    O(n^(1/4)) found from the quadratic u1 a^2 - B a + u2 n / 4 <= 0.  So N = 1e12 takes microseconds.

    >>> yun3_smallest_widths(400)
    (40, 40)
    >>> yun3_smallest_widths(10**12)
    (4000000, 4000000)
    """
    if n < 1:
        return (0, 0)
    unit1, unit2 = (4, 4 * dy) if activation == "relu" else (2, 2 * dy)
    a_max = max(1, -(-n // 4))

    def pair(a):
        return unit1 * a, unit2 * (-(-n // (4 * a)))

    a0 = max(1, min(a_max, round(math.sqrt(unit2 * n / (4 * unit1)))))
    start = [pair(a) for a in range(max(1, a0 - 1), min(a_max, a0 + 1) + 1)]
    bound = min(d1 + d2 for d1, d2 in start)
    best = None
    for a in _quadratic_window(unit1, -bound, unit2 * n / 4, 1, a_max):
        d1, d2 = pair(a)
        key = (d1 + d2, max(d1, d2))
        if best is None or key < best[0]:
            best = (key, (d1, d2))
    return best[1]


def yun3_necessity_violated(d1: int, d2: int, n: int) -> bool:
    """True when 2 d1 d2 + d2 + 2 < N: some scalar dataset of N points cannot be fit (Yun et al.)."""
    return 2 * d1 * d2 + d2 + 2 < n


def yun3_max_pieces(d1: int, d2: int) -> int:
    """Upper bound on linear pieces along a line of a 2-hidden-layer ReLU net: 2 d1 d2 + d2 + 1."""
    return 2 * d1 * d2 + d2 + 1


def sharper_piece_bound(d1: int, d2: int) -> int:
    """d1 d2 + d1 + d2 + 1 >= pieces of any 2-hidden-layer ReLU net on a line: the d1 first-layer
    kinks, plus at most one new zero crossing per piece of each of the d2 second-layer
    pre-activations, d2 (d1 + 1)."""
    return d1 * d2 + d1 + d2 + 1


def two_layer_max_pieces(d1: int) -> int:
    """Linear pieces along a line of a 1-hidden-layer ReLU net: at most d1 + 1."""
    return d1 + 1


# --------------------------------------------------------------------------------------
# Each function below returns a number of points (or, for negative results, a threshold T:
# N > T means "some dataset of N points cannot be fit").  Provenance: theory.registry.


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
    """Smallest (d1, d2) (min d1 + d2; ties: smaller max, then smaller d1) NOT excluded by the
    necessity bound, i.e. 2 d1 d2 + d2 + 2 >= n.

    d2 = ceil((n - 2) / (2 d1 + 1)) for each d1, and only d1 in the window where the lower bound
    d1 + (n - 2) / (2 d1 + 1) can reach the best sum are tried (O(n^(1/4)) of them).

    >>> necessity_escape_widths(40)
    (4, 5)
    >>> necessity_escape_widths(10**12)
    (707106, 707107)
    """
    m = max(int(n) - 2, 0)

    def pair(d1):
        return d1, max(1, -(-m // (2 * d1 + 1)))

    d_max = max(1, m)
    a0 = max(1, min(d_max, round(math.sqrt(m / 2)) if m else 1))
    bound = min(sum(pair(d)) for d in range(max(1, a0 - 1), min(d_max, a0 + 1) + 1))
    best = None
    # d1 + m / (2 d1 + 1) <= B  <=>  2 d1^2 + (1 - 2B) d1 + (m - B) <= 0
    for d1 in _quadratic_window(2, 1 - 2 * bound, m - bound, 1, d_max):
        d1, d2 = pair(d1)
        key = (d1 + d2, max(d1, d2), d1)
        if best is None or key < best[0]:
            best = (key, (d1, d2))
    return best[1]


def necessity_fewest_neurons(n: int) -> tuple[int, int]:
    """(d1, d2) with the fewest neurons d1 + d2, then the fewest weights d1 d2 + d2, that the
    necessity bound does NOT exclude (2 d1 d2 + d2 + 2 >= n): the frontier's necessity line.

    >>> necessity_fewest_neurons(40)
    (6, 3)
    """
    m = max(int(n) - 2, 0)
    d1_opt, d2_opt = necessity_escape_widths(n)
    bound = d1_opt + d2_opt  # the fewest neurons; now the fewest weights among those
    best = None
    for d1 in _quadratic_window(2, 1 - 2 * bound, m - bound, 1, max(1, m)):
        d2 = max(1, -(-m // (2 * d1 + 1)))
        key = (d1 + d2, d1 * d2 + d2, d1, d2)
        best = key if best is None or key < best else best
    return best[2], best[3]


def zhang_capacity(d1: int) -> int:
    """Zhang et al. 2017: one hidden ReLU layer of width d1 fits any d1 distinct points (2N + d weights)."""
    return max(int(d1), 0)


def baum_capacity(d1: int, dx: int) -> int:
    """Baum 1988: d1 threshold units fit any dichotomy of d1 * dx points in general position in R^dx."""
    return max(int(d1), 0) * int(dx)


def bubeck_capacity(d1: int, dx: int) -> int:
    """Bubeck et al. 2020 (ReLU Baum): 4 ReLUs per group of dx points, real labels: dx * ⌊d1/4⌋."""
    return (max(int(d1), 0) // 4) * int(dx)


def chunk_capacity(chunks: int, dx: int, dy: int) -> int:
    """Largest N such that *every* dy-class dataset of N points in general position in R^dx fits
    in ``chunks`` chunks of <= dx same-class points (our residual RECON: one tent per chunk).

    The worst class split needs dy + floor((N - dy)/dx) chunks (every class has 1 mod dx points),
    so this is chunks*dx - (dy - 1)(dx - 1) when chunks >= dy, and chunks otherwise.

    >>> chunk_capacity(60, dx=20, dy=1)
    1200
    >>> chunk_capacity(110, dx=20, dy=10)
    2029
    """
    chunks = int(chunks)
    if dx < 1 or dy < 1 or chunks < 1:
        return 0
    if chunks < dy:
        return chunks
    return chunks * dx - (dy - 1) * (dx - 1)


def resnet_capacity(block_widths, dx: int, dy: int, relus_per_block: int = 3) -> int:
    """Points (dy classes, general position in R^dx) a residual net classifies, per our RECON:
    each residual branch of width w holds floor(w / relus_per_block) chunks (3 ReLUs per tent).

    >>> resnet_capacity([3] * 55, 20, 10)
    929
    >>> resnet_capacity([3] * 10, 5, 1)
    50
    """
    return chunk_capacity(sum(int(w) // int(relus_per_block) for w in block_widths), dx, dy)


def resnet_smallest_blocks(n: int, dx: int, dy: int) -> int:
    """Fewest chunks (3-ReLU residual blocks) whose worst-case :func:`chunk_capacity` is >= n:
    dy + floor((n - dy)/dx), or n when n <= dy.

    >>> resnet_smallest_blocks(1200, 20, 1), chunk_capacity(60, 20, 1)
    (60, 1200)
    """
    if n <= 0:
        return 0
    return n if n <= dy else dy + (n - dy) // dx


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
    return vardi_capacity_of_depth(len(widths), min(widths) if len(widths) else 0)


def vardi_capacity_of_depth(depth: int, min_width: int) -> int:
    """:func:`vardi_capacity` of ``depth`` layers whose narrowest has ``min_width`` units."""
    if depth == 0 or min_width < 12:
        return 0
    lo, hi = 0, 1
    while vardi_depth_estimate(hi) <= depth:
        hi *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if vardi_depth_estimate(mid) <= depth else (lo, mid)
    return lo


def mlp_parameter_count(sizes) -> int:
    """Weights and biases of a fully connected net with layer sizes (dx, d_1, ..., d_{L-1}, dy).

    >>> mlp_parameter_count((2, 3, 1))
    13
    """
    sizes = [int(s) for s in sizes]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def parameter_count(widths, dx: int, dy: int) -> int:
    """Weights and biases of a fully connected net dx -> widths -> dy."""
    return mlp_parameter_count([dx, *widths, dy])


VC_CONSTANT = 1.0


def vc_line(params: float, depth: int, c: float = VC_CONSTANT) -> float:
    """c W L log2(W): the order of magnitude of the VC dimension (Bartlett et al. 2019), c unknown."""
    return c * params * depth * math.log2(max(params, 2.0))


def vc_threshold(widths, dx: int, dy: int = 1) -> int:
    """W L log2(W) with the unknown constant of O(W L log W) set to 1 (illustrative only)."""
    return math.ceil(vc_line(parameter_count(widths, dx, dy), len(widths) + 1))


def cover_count(n: int, d: int) -> int:
    """Cover 1965: dichotomies of n points in general position realizable by a homogeneous
    linear threshold in R^d: C(n, d) = 2 sum_{k<d} binom(n - 1, k).  (With a bias, use d + 1.)

    >>> cover_count(3, 3), cover_count(4, 3)
    (8, 14)
    """
    return 2 * sum(math.comb(n - 1, k) for k in range(d))


# --------------------------------------------------------------------------------------
# Deep networks: the chained construction's capacity (capacity.constructions.yun_deep).


def deep_carries(depth_hidden: int, dy: int) -> list[int]:
    """Carried neurons c_l of hidden layer l = 1..L-1 in the chained deep construction.

    Two hidden layers need none; deeper nets carry the projection t (layers l <= L-3) and the
    dy running outputs (layers l >= 3).
    """
    if depth_hidden <= 2:
        return [0] * depth_hidden
    L = depth_hidden + 1
    return [(1 if l <= L - 3 else 0) + (dy if l >= 3 else 0) for l in range(1, L)]


def deep_plan(widths, dy: int = 1) -> tuple[list[int], list[int], int]:
    """(A_b, B_b for b = 1..L-2, capacity) maximising sum_b 4 A_b B_b under the width condition

    4 A_1 <= f_1,  4 B_(l-1) dy + 4 A_l <= f_l,  4 B_(L-2) dy <= f_(L-1),  f_l = d_l - c_l.

    Dynamic program over layers: the value of layer l as a function of the A it starts its block
    with; the block ending at layer l gets B = floor((f_l - 4 a_l) / (4 dy)).
    """
    import numpy as np

    w = [int(v) for v in widths]
    if len(w) < 2 or dy < 1 or min(w) < 1:
        return [], [], 0
    free = [wi - ci for wi, ci in zip(w, deep_carries(len(w), dy))]
    nb = len(w) - 1
    if min(free) < 0:
        return [0] * nb, [0] * nb, 0
    prev_vals = np.array([free[0] // 4], dtype=np.int64)  # A_1 = floor(f_1/4) is optimal
    prev_best = np.array([0], dtype=np.int64)
    choices = []
    for l in range(1, nb):
        f = free[l]
        a_l = np.arange(f // 4 + 1, dtype=np.int64)
        b_prev = (f - 4 * a_l) // (4 * dy)
        vals = np.empty(a_l.size, dtype=np.int64)
        arg = np.empty(a_l.size, dtype=np.int64)
        for s in range(0, a_l.size, 1024):
            m = prev_best[None, :] + 4 * prev_vals[None, :] * b_prev[s:s + 1024, None]
            j = np.argmax(m, axis=1)
            arg[s:s + 1024] = prev_vals[j]
            vals[s:s + 1024] = m[np.arange(m.shape[0]), j]
        choices.append((a_l, arg, b_prev))
        prev_vals, prev_best = a_l, vals
    b_last = free[-1] // (4 * dy)
    total = prev_best + 4 * prev_vals * b_last
    j = int(np.argmax(total))
    A, B = [0] * nb, [0] * nb
    A[nb - 1], B[nb - 1] = int(prev_vals[j]), int(b_last)
    for l in range(nb - 1, 0, -1):
        a_l, arg, b_prev = choices[l - 1]
        idx = int(np.searchsorted(a_l, A[l]))
        B[l - 1], A[l - 1] = int(b_prev[idx]), int(arg[idx])
    return A, B, int(total[j])


def deep_capacity(widths, dy: int = 1) -> int:
    """Points the chained deep construction memorizes with hidden widths d_1..d_{L-1} (L >= 3).

    >>> deep_capacity([40, 40])          # one block: the 3-layer capacity 4*floor(40/4)*floor(40/4)
    400
    >>> deep_capacity([21, 38, 42, 30, 17]) > 0
    True
    """
    return deep_plan(widths, dy)[2]


def hidden_parameters(widths) -> int:
    """Weights between consecutive hidden layers, sum_l d_l d_{l+1} (what W = Omega(N) counts)."""
    w = [int(v) for v in widths]
    return sum(a * b for a, b in zip(w[:-1], w[1:]))


def smallest_uniform_deep_width(n: int, depth_hidden: int, dy: int = 1) -> int:
    """Smallest w with deep_capacity([w] * depth_hidden, dy) >= n (capacity is monotone in w)."""
    from theory.errors import WidthError

    hi = 1
    while deep_capacity([hi] * depth_hidden, dy) < n:
        hi *= 2
        if hi > 1 << 24:
            raise WidthError(f"no uniform width up to 2^24 reaches N = {n} at {depth_hidden} hidden layers")
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if deep_capacity([mid] * depth_hidden, dy) >= n else (mid, hi)
    return hi


# --------------------------------------------------------------------------------------
# Reference lines of the phase diagrams (boundary values of N for an architecture).


def cover_capacity(dx: int) -> int:
    """Cover's linear capacity for random +-1 labels: 2 dx points."""
    return 2 * dx


def bits_per_label(labels: str, out_dim: int, tol: float) -> float:
    """log2(C) for C classes; log2(1/tol) for real labels fitted within +-tol."""
    return math.log2(out_dim) if labels == "classes" else math.log2(1.0 / tol)


def theory_lines(width: int, depth: int, dx: int, dy: int) -> dict:
    """Every boundary value of N for uniform hidden width ``width`` at ``depth`` layers.

    >>> theory_lines(4, 3, 2, 1)["yun_necessity"]
    38
    """
    params = mlp_parameter_count([dx] + [width] * (depth - 1) + [dy])
    out = dict(params=params, vc=vc_line(params, depth), cover=cover_capacity(dx))
    if depth == 3:
        out.update(yun_sufficiency=yun3_capacity(width, width, dy),
                   yun_necessity=necessity_threshold_3layer(width, width))
    if depth == 2:
        out.update(zhang=zhang_capacity(width), two_layer_necessity=necessity_threshold_2layer(width))
    return out
