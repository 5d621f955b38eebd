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
