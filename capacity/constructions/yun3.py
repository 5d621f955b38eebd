r"""The tight 3-layer memorizer of Yun, Sra & Jadbabaie (NeurIPS 2019), well conditioned.

Theorem (3-layer ReLU, regression).  Let x_1..x_N in R^dx be pairwise distinct and
y_1..y_N in [-1, 1]^dy.  If a network with two hidden ReLU layers of widths d1, d2 has

.. math::  4 \lfloor d_1/4 \rfloor \lfloor d_2/(4 d_y) \rfloor \ge N,

then some weights give f(x_i) = y_i for every i.  No general position is needed.
Hard-tanh variant (both hidden layers hard-tanh): 4 \lfloor d_1/2 \rfloor \lfloor d_2/(2 d_y) \rfloor \ge N.

Provenance (see ``../shared/reference/yun2019-digest.md`` and :mod:`theory.registry`):
the scaling d1 d2 >= 4 N dy and "two layers of 2 sqrt(N) suffice" are confirmed by
secondary sources [S1], [A]; the exact floor form is UNCONFIRMED typography; the
hard-tanh formula is UNCONFIRMED.  The weights below are our own (RECONSTRUCTED)
construction: it meets the stated bound exactly, but the paper's appendix may set
its weights differently.

Construction (names as in the code)
-----------------------------------
1. *Projection.*  Choose a direction ``u`` (best of ``trials`` random directions by
   min gap / span) so that the projections t_i = u.x_i are distinct; sort them.
2. *Groups.*  ``A = d1 // 4`` groups of ``G = 4B`` consecutive sorted points, ``B = d2 // (4 dy)``
   (the last group is padded with virtual points of label 0 when N < 4AB).  Group j has a
   first half F_j and a second half S_j of 2B points each.
3. *Layer 1 (4 ReLUs per group).*  A kink before the block, then per group j kinks at the
   midpoints of the largest gap inside F_j, of the middle gap (between F_j and S_j), of the
   largest gap inside S_j and of the gap to the next group (the last group of a "deep" block
   trades its S kink for one after the block).  Unit k computes relu(alpha_k (t - kink_k)),
   alpha_k the power of two within a factor 2 of 1/(its neighbouring piece length).
4. *Layer 2 (2B hard-tanh neurons per output, 2 ReLUs each).*  Neuron n has shape
   sigma_n = +1 (Lambda) for even n and -1 (V) for odd n, and owns the nested pair
   p = F_j[n], q = S_j[2B-1-n] in *every* group.  Its pre-activation z_n is any continuous
   piecewise-linear function of t with the kinks above; it must equal y at p and q, be
   <= -1 - mu (times sigma_n) at the group's points outside [p, q] and >= 1 + mu strictly
   inside.  The middle kink puts the rise at p and the fall at q on different pieces, the kink
   between groups separates q_j from p_{j+1}, so these constraints are always feasible; the
   two kinks at the largest gaps of the halves are free, and let a line stop before a large
   gap instead of carrying a depth of (large gap)/(tiny gap) across it.  Among all feasible
   functions :func:`_optimise_values` takes, by a linear program over the neuron's values at the
   kinks, the one minimising sum_k reach_k |slope change at kink k|, the terms that cancel when
   the network is evaluated in floating point.  The equalities at p and q are then re-imposed
   exactly (left to right, one per piece).  There is no *chain*: in the digest's one-sided-ramp
   reconstruction the value leaving group j is the value entering group j+1, so a neuron's depth
   is a product of per-group factors (max|W| 1e10 at N = 1000); here every kink value is free.
5. *Output.*  f_r = sum_n phi(z_n) - 1 with phi = hard-tanh = relu(z+1) - relu(z-1) - 1.
   At a point of level m in a group, the neurons of outer levels are saturated at +sigma,
   inner ones at -sigma, and by the alternation those other 2B - 1 neurons sum to exactly
   +1; the owner contributes y.  Hence f = y exactly (in exact arithmetic).

Conditioning (measured, see README): the float64 residual tracks eps * span * (sum of slope
changes), i.e. span/min-gap of the projection, which is why the projection is refined
(:func:`refine_projection`).  The *stored* weights are better than their float64 evaluation:
layer 2 is rounded with compensation at the exact projections (:mod:`._compensated`), so the
function the saved file defines, evaluated exactly, fits far closer (N = 1e5: 5.7e-10 against
1.5e-6 for the float64 forward pass and 1.6e-6 for independently rounded weights).  Clustered data (tight clusters far apart, where projections cannot
help) is handled by the free kinks at the largest gaps: an earlier version with kinks paired in
the middle and between-group gaps reached 4e-5 on such data; this one stays near 1e-10 there.

Exact tier (:func:`exact_network`): the *same* code runs on exact rationals, reusing the float
build's free choices (projection, kink values) and re-imposing the equalities exactly; the
network is then evaluated exactly by the one exact engine (:func:`capacity.verification.certify`).
Gadgets: the projection (:mod:`._projection`) and the 1-D block (:mod:`._block1d`) are shared with
the other one-projection constructions; the hard-tanh variant lives in :mod:`.yun3_hardtanh`.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from capacity.constructions._block1d import Block1D, block_1d, check_block_widths
from capacity.constructions._compensated import dot_residual
from capacity.constructions._numbers import const as _const, to_exact
from capacity.constructions._projection import sorted_problem
from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError
from capacity.networks import ExactMLPNet, MLPNet


def _assemble(u, blk: Block1D, d1: int, d2: int, scale, exact: bool):
    """Layer arrays of the full MLP from the projection and the block (unused units switched off)."""
    a, cbias = blk.layer1_affine()
    K, H2 = blk.w2.shape
    dy = blk.w3.shape[1]
    zero = _const(0.0, a) if exact else 0.0
    dt = object if exact else np.float64
    k1 = np.full((u.shape[0], d1), zero, dtype=dt)
    k1[:, :K] = np.asarray(u, dtype=dt)[:, None] * a[None, :]
    b1 = np.full((d1,), _const(-1.0, a) if exact else -1.0, dtype=dt)  # idle units: pre-activation -1
    b1[:K] = cbias
    k2 = np.full((d1, d2), zero, dtype=dt)
    k2[:K, :H2] = blk.w2
    b2 = np.full((d2,), _const(-1.0, a) if exact else -1.0, dtype=dt)
    b2[:H2] = blk.b2
    k3 = np.full((d2, dy), zero, dtype=dt)
    k3[:H2] = blk.w3 * scale
    b3 = blk.b3 * scale
    return [k1, k2, k3], [b1, b2, b3]


def build(dataset: Dataset, widths: Sequence[int], *, activation: str = "relu", seed: int = 0,
          trials: int = 64, mu: float = 1.0) -> Construction:
    """Build the 3-layer memorizer for ``dataset`` at hidden widths ``widths = (d1, d2)``.

    Args:
      dataset: distinct inputs, real labels in [-1, 1]^dy (use ``rescale_labels`` otherwise).
      widths: (d1, d2) with 4*floor(d1/4)*floor(d2/(4 dy)) >= N (ReLU).
      activation: "relu" (the theorem) or "hardtanh" (the hard-tanh variant).
      seed: seeds the choice of projection; same inputs give identical weights.
      trials: random directions tried for the projection.
      mu: saturation margin beyond the hard-tanh corners (the layer-2 kink margin off own points).

    Returns:
      Construction with float64 kernels (dx, d1), (d1, d2), (d2, dy) and a record of its choices.
    """
    if dataset.is_classification:
        raise CapacityError("yun3 fits real labels; for class labels use --construction yun-classify "
                            "(or one-hot labels as a real (N, classes) array)")
    if activation != "relu":
        raise CapacityError(f"this is the ReLU builder of yun3; got activation {activation!r} (the hard-tanh "
                            "variant is registered by capacity.constructions.yun3_hardtanh)")
    n, dy = dataset.n, dataset.dy
    A, B = check_block_widths(n, widths, dy, activation)
    t0 = time.perf_counter()
    u, t, order = sorted_problem(dataset, seed, trials)
    ts = t[order]
    if n > 1 and np.min(np.diff(ts)) <= 0:
        raise CapacityError("projected inputs coincide in float64; the inputs are too close to separate "
                            "at this precision (rescale or deduplicate them)")
    t_lo = dot_residual(dataset.x[order], u, ts)
    blk = block_1d(ts, dataset.y[order], A, B, mu=mu, t_lo=t_lo)
    kernels, biases = _assemble(u, blk, int(widths[0]), int(widths[1]), dataset.label_scale, exact=False)
    gaps = np.diff(ts) if n > 1 else np.array([1.0])
    record = {
        "theorem": "yun3-relu",
        "n": n, "dx": dataset.dx, "dy": dy, "widths": [int(w) for w in widths],
        "groups_A": A, "pairs_B": B, "capacity": 4 * A * B, "virtual_points": blk.info["virtual_points"],
        "seed": seed, "projection_trials": trials, "mu": mu,
        "projection": [float(v) for v in u],
        "span": float(ts[-1] - ts[0]), "min_gap": float(gaps.min()),
        "span_over_min_gap": float((ts[-1] - ts[0]) / gaps.min()) if n > 1 else 1.0,
        "label_scale": float(dataset.label_scale),
        "build_seconds": time.perf_counter() - t0,
        **{k: v for k, v in blk.info.items() if k not in ("virtual_points", "slopes")},
    }
    record["_slopes"] = blk.info["slopes"]  # free choices reused by the exact tier (not saved)
    return Construction("yun3", MLPNet(kernels, biases, "relu"), record)


def exact_network(dataset: Dataset, widths: Sequence[int], float_build: Construction, *, mu: float = 1.0,
                  **_options) -> ExactMLPNet:
    """The same construction carried out in exact rational arithmetic.

    The free choices (projection u, which gaps hold the free kinks, and each neuron's kink
    values from the float build's LP) are taken from ``float_build`` and converted exactly;
    everything that must hold *exactly* (projections, kink positions, the label equalities, every
    weight) is recomputed in rationals from the exact data.
    """
    A, B = check_block_widths(dataset.n, widths, dataset.dy, "relu")
    fb = float_build
    u = to_exact(np.asarray(fb.record["projection"]))
    xq = to_exact(dataset.x)
    t = xq @ u
    order = sorted(range(dataset.n), key=lambda i: t[i])
    ts = np.array([t[i] for i in order], dtype=object)
    if any(not (ts[i + 1] > ts[i]) for i in range(len(ts) - 1)):
        raise CapacityError("two inputs have the same exact projection; rebuild with another --seed")
    ys = to_exact(dataset.y[order])
    blk = block_1d(ts, ys, A, B, mu=mu, slopes=fb.record.get("_slopes"))
    scale = to_exact(np.array(dataset.label_scale))[()]
    kernels, biases = _assemble(u, blk, int(widths[0]), int(widths[1]), scale, exact=True)
    return ExactMLPNet(kernels, biases, "relu")


register("yun3", build, "Yun-Sra-Jadbabaie tight 3-layer memorizer (chain-free, well-conditioned reconstruction)",
         theorem="yun3-relu", exact=exact_network)
