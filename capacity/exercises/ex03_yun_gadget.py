"""Exercise 3: Yun et al.'s group gadget on sorted 1-D data, checked exactly in rationals."""

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
)

STATEMENT = r"""
# Exercise 3: Yun et al.'s group gadget, exactly

**Theorem** (`yun3-relu`, Yun, Sra & Jadbabaie 2019).  Two hidden ReLU layers of widths
$d_1, d_2$ with $4\lfloor d_1/4\rfloor\lfloor d_2/4\rfloor \ge N$ memorize any $N$ distinct
points with labels in $[-1, 1]$.  After projecting to a line it is enough to do it for
sorted scalars $t_1 < \dots < t_N$ with $A = \lfloor d_1/4\rfloor$ groups and
$B = \lfloor d_2/4\rfloor$ pairs.

**The gadget** (a reconstruction of the paper's construction; the toolkit's own, better
conditioned version is `capacity.constructions.yun3`).  Pad the data to
$M = 4AB$ points (extra points to the right, label 0) and cut it into $A$ groups of $4B$
consecutive points, each with a first half $F_j$ and a second half $S_j$ of $2B$ points.
With the cuts $\ell_j$ (before $F_j$), $c_j$ (between the halves) and $r_j$ (after $S_j$),
at midpoints between neighbours:

* **layer 1** (4 ReLUs per group): two ramps,
  $g^1_j = \phi(\alpha_j(t - \tfrac{\ell_j + c_j}{2})) + 1$ rising from 0 to 2 across $F_j$ and
  $g^2_j = \phi(-\beta_j(t - \tfrac{c_j + r_j}{2})) - 1$ falling from 0 to $-2$ across $S_j$,
  with $\alpha_j = 2/(c_j - \ell_j)$, $\beta_j = 2/(r_j - c_j)$ and the hard-tanh
  $\phi(s) = \mathrm{relu}(s + 1) - \mathrm{relu}(s - 1) - 1$;
* **layer 2** ($2B$ hard-tanh neurons = $4B$ ReLUs): neuron $n$ has shape
  $\sigma_n = (-1)^n$ and owns, in every group, the nested pair $p = F_j[n]$,
  $q = S_j[2B - 1 - n]$; its pre-activation $z_n = \hat c + \sum_j (w^1_j g^1_j + w^2_j g^2_j)$
  passes through $y_p$ at $p$ and $y_q$ at $q$, is saturated ($\sigma_n z_n \ge 1$) strictly
  between them and ($\sigma_n z_n \le -1$) outside;
* **output**: $f = \sum_n \phi(z_n) - 1$.  At any data point the $2B - 1$ neurons that do not
  own it sum to exactly $+1$, so $f = y$ there.

Solve the $w$'s group by group from the left (the offset $o_j$ inherited from the groups to the
left is known), and choose the bias $\hat c$ (sign $-\sigma_n$, doubling its size) until every
saturation condition holds.

**Task.** `yun_block(t, y, A, B)` returns `(kernels, biases)` of the ReLU network
$1 \to 4A \to 4B \to 1$ (kernels of shape (in, out), lists of lists) with $f(t_i) = y_i$
**exactly** for sorted `Fraction` inputs `t` and labels `y` in $[-1,1]$, `len(t) <= 4AB`.
The checker evaluates your weights exactly (the toolkit's exact engine) on fresh random data.
"""

STUB = '''"""Exercise 3: Yun et al.'s group gadget on sorted 1-D data.  Fill in yun_block."""
from fractions import Fraction


def yun_block(t, y, A, B):
    """(kernels, biases) of a ReLU net 1 -> 4A -> 4B -> 1 with f(t[i]) == y[i] exactly.

    t: strictly increasing Fractions (len(t) <= 4*A*B); y: Fractions in [-1, 1].
    kernels[l] has shape (in, out) as a list of lists; biases[l] is a list.
    """
    raise NotImplementedError("yun_block")
'''

SOLUTION = '''"""Exercise 3, reference solution: the digest's one-sided-ramp reconstruction, in exact rationals."""
from fractions import Fraction

KAPPA = Fraction(5, 2)  # steepness that saturates every non-owned point of a group


def yun_block(t, y, A, B):
    t = [Fraction(v) for v in t]
    y = [Fraction(v) for v in y]
    N, H, G, M = len(t), 2 * B, 4 * B, 4 * A * B
    gap = (t[-1] - t[0]) / (N - 1) if N > 1 else Fraction(1)
    ts = t + [t[-1] + gap * k for k in range(1, M - N + 1)]  # padding, label 0
    ys = y + [Fraction(0)] * (M - N)
    cut = [ts[0] - gap] + [(ts[i] + ts[i + 1]) / 2 for i in range(M - 1)] + [ts[-1] + gap]
    w1_row, b1, ramps = [], [], []
    for j in range(A):  # 4 ReLUs per group: two ramps
        l, c, r = cut[j * G], cut[j * G + H], cut[(j + 1) * G]
        al, be = 2 / (c - l), 2 / (r - c)
        for w, b0 in ((al, -al * (l + c) / 2), (-be, be * (c + r) / 2)):
            w1_row += [w, w]
            b1 += [b0 + 1, b0 - 1]
        ramps.append((al, l, c, be, r))

    def run(n, ct):
        o, out = ct, []
        for j in range(A):
            al, l, c, be, r = ramps[j]
            p, q = j * G + n, j * G + G - 1 - n  # nested pairing
            a = al * (ts[p] - (l + c) / 2)
            b = -be * (ts[q] - (c + r) / 2)
            w1 = (ys[p] - o) / (1 + a)
            w2 = (2 * w1 + o - ys[q]) / (1 - b)
            out.append((w1, w2, o))
            o = o + 2 * (w1 - w2)
        return out, o

    def feasible(n, sig, ct):
        out, o_end = run(n, ct)
        if sig * ct > -1 or sig * o_end > -1:
            return False
        for j, (w1, w2, o) in enumerate(out):
            al, l, c, be, r = ramps[j]
            g_f = min(ts[j * G + k + 1] - ts[j * G + k] for k in range(H - 1)) if H > 1 else Fraction(1)
            g_s = min(ts[j * G + H + k + 1] - ts[j * G + H + k] for k in range(H - 1)) if H > 1 else Fraction(1)
            if sig * w1 * al * g_f < KAPPA or sig * w2 * be * g_s < KAPPA or sig * (2 * w1 + o) < 1:
                return False
        return True

    cols, b2 = [], []
    for n in range(H):
        sig = 1 if n % 2 == 0 else -1  # Lambda / V shapes alternate
        ct = Fraction(-sig)
        while not feasible(n, sig, ct):
            ct *= 2
        out, _ = run(n, ct)
        w = [Fraction(0)] * (4 * A)
        bias = ct
        for j, (w1, w2, _) in enumerate(out):
            w[4 * j] += w1
            w[4 * j + 1] -= w1
            w[4 * j + 2] += w2
            w[4 * j + 3] -= w2
            bias -= 2 * w2
        cols += [w, w]  # hard-tanh = two ReLUs with biases +1 and -1
        b2 += [bias + 1, bias - 1]
    k0 = [w1_row]
    k1 = [[cols[m][i] for m in range(2 * H)] for i in range(4 * A)]
    k2 = [[Fraction(1)], [Fraction(-1)]] * H
    b3 = [Fraction(-1 - H)]
    return [k0, k1, k2], [b1, b2, b3]
'''

HINTS = (
    "Build it in four steps: pad and cut; layer 1 (two ramps per group, each ramp = two ReLUs with the same weight "
    "and biases +1 / -1); layer 2 one neuron at a time; output weights +1, -1 per hard-tanh and bias -1 - 2B.",
    "For neuron n and group j: on F_j, z = o_j + w1 (a + 1) with a the ramp value in (-1, 1) at the point; on S_j, "
    "z = o_j + 2 w1 + w2 (b - 1).  Forcing z(p) = y_p and z(q) = y_q gives w1 = (y_p - o_j)/(1 + a_p), "
    "w2 = (2 w1 + o_j - y_q)/(1 - b_q), and the next offset o_(j+1) = o_j + 2 (w1 - w2).",
    "Choose c-hat = -sigma_n and double it until: sigma*w1*alpha*(min gap in F) >= 5/2, the same for w2, beta and S, "
    "sigma*(2 w1 + o_j) >= 1 in every group, and sigma*c-hat <= -1, sigma*o_A <= -1.  The constant -2 of the "
    "falling ramp goes into the bias: bias = c-hat - 2 * sum_j w2_j.  Keep everything a Fraction.",
)


def make_data(seed: int, n: int, *, clustered: bool = False, extreme: bool = False):
    rng = np.random.default_rng(seed)
    vals = set()
    while len(vals) < n:
        if clustered:  # tight clusters far apart
            centre = int(rng.integers(0, 4)) * 1000
            vals.add(Fraction(centre) + Fraction(int(rng.integers(0, 50)), 997))
        else:
            vals.add(Fraction(int(rng.integers(-200, 201)), int(rng.integers(1, 13))))
    t = sorted(vals)
    if extreme:
        y = [Fraction(int(v)) for v in rng.choice([-1, 1], size=n)]
    else:
        y = [Fraction(int(v), 16) for v in rng.integers(-16, 17, size=n)]
    return t, y


def _shapes(ks, bs, A, B):
    want = [(1, 4 * A), (4 * A, 4 * B), (4 * B, 1)]
    if len(ks) != 3 or len(bs) != 3:
        raise CheckFailed(f"return 3 kernels and 3 biases (layers 1 -> 4A -> 4B -> 1); got {len(ks)} and {len(bs)}")
    for l, (k, b) in enumerate(zip(ks, bs)):
        shape = np.shape(np.asarray(k, dtype=object))
        if shape != want[l] or len(b) != want[l][1]:
            raise CheckFailed(f"layer {l}: kernel shape {shape}, bias length {len(b)}; expected kernel {want[l]} "
                              f"and bias {want[l][1]} (A = {A}, B = {B})")


def _fit(module, cases):
    f = need(module, "yun_block")
    items = []
    for seed, n, A, B, kw in cases:
        t, y = make_data(seed, n, **kw)
        ks, bs = f(list(t), list(y), A, B)
        _shapes(ks, bs, A, B)
        out = [row[0] for row in exact_outputs(ks, bs, [[v] for v in t])]
        items += [(ok, msg.replace("(data seed", f"(A = {A}, B = {B}, data seed")) for ok, msg in
                  point_items(out, y, seed=seed)]
    return tally(items)


def check_widths(module):
    f = need(module, "yun_block")
    t, y = make_data(3100, 8)
    _shapes(*f(t, y, 2, 1), 2, 1)
    return None


def check_one_group(module):
    return _fit(module, [(3201, 4, 1, 1, {}), (3202, 8, 1, 2, {})])


def check_groups(module):
    return _fit(module, [(3301, 8, 2, 1, {}), (3302, 16, 2, 2, {}), (3303, 18, 3, 2, {})])


def check_padding_and_corners(module):
    return _fit(module, [(3401, 13, 2, 2, {}), (3402, 12, 2, 2, {"extreme": True}), (3403, 1, 1, 1, {})])


def check_hidden_clustered(module):
    return _fit(module, [(9501, 24, 3, 2, {"clustered": True})])


def check_hidden_larger(module):
    return _fit(module, [(9601, 34, 3, 3, {}), (9602, 20, 5, 1, {"extreme": True})])


EXERCISE = Exercise(
    id="03-yun-gadget", number=3, title="Yun et al.'s group gadget on sorted 1-D data, exactly",
    topic="constructions", difficulty="hard", minutes=120, theorem="yun3-relu",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("widths 1 -> 4A -> 4B -> 1", 1, check_widths,
              "kernel shapes (1, 4A), (4A, 4B), (4B, 1); biases of lengths 4A, 4B, 1."),
        Check("exact fit, one group", 3, check_one_group,
              "within a group the other 2B - 1 hard-tanh neurons must sum to +1 at every point: alternate "
              "sigma_n and nest the pairs (p = F[n], q = S[2B - 1 - n])."),
        Check("exact fit, several groups (fresh data)", 4, check_groups,
              "carry the offset o_j from group to group: o_(j+1) = o_j + 2 (w1 - w2)."),
        Check("exact fit with padding, labels +-1, and N = 1", 2, check_padding_and_corners,
              "pad to 4AB points with label 0 to the right; saturation is sigma*z >= 1, so labels +-1 are fine."),
        Check("exact fit, clustered data", 2, check_hidden_clustered, "gaps differ by orders of magnitude.",
              public=False),
        Check("exact fit, larger A and B", 2, check_hidden_larger, "more groups and pairs.", public=False),
    ),
    wrong_answers={
        "sign error in the falling ramp": ("(-be, be * (c + r) / 2)", "(be, -be * (c + r) / 2)"),
        "output bias off by one (-2B instead of -1 - 2B)": ("b3 = [Fraction(-1 - H)]", "b3 = [Fraction(-H)]"),
        "pairs not nested (q = S[n])": ("p, q = j * G + n, j * G + G - 1 - n", "p, q = j * G + n, j * G + H + n"),
        "floats instead of exact rationals": ("    t = [Fraction(v) for v in t]\n    y = [Fraction(v) for v in y]",
                                              "    t = [float(v) for v in t]\n    y = [float(v) for v in y]"),
    },
    functions=("yun_block",),
)
