"""Vardi, Yehudai & Shamir (ICLR 2022): Õ(√N) parameters, width 12, bit extraction, exact integers.

**Theorem** (abstract; FODL notes; gadget sizes restated in Kim–Moon–Yun 2025 App. B;
constructions-survey.md §2.10).  N points with ‖x_i‖ <= r, ‖x_i - x_j‖ >= δ and labels in
[C] are memorized by a ReLU network of width 12 and depth Õ(√N), i.e. Õ(√N) parameters
(optimal up to logs by the VC bound); its weights need Õ(√N) bits, and large bit complexity
is necessary for any sub-linear parameter count.  r, 1/δ and C enter only through log
factors; the exact log terms and the projection-lemma constants are **UNCONFIRMED**.  The
depth-L variant (Õ(N/L) parameters for L <= √N) is **not implemented**: its widths and bit
counts could not be pinned down from the sources available (survey §8).

**Our construction** (the three phases of the paper; every gadget below is our own
RECONSTRUCTION at the lemma level of the restatement, built and verified in exact integers):

1. ``projection and quantization`` (:func:`projection_layer`): every float64 x is m 2^-e, so
   with e_x the common scale of the data and an integer direction a (best of ``trials``
   random vectors in [-2^10, 2^10]^dx by min gap / range), Z(x) = Σ_k a_k 2^{e_x} x_k - Z_min is
   a *distinct non-negative integer* at every data point (exactly, no rounding needed).  Codes
   ℓ_i = ⌊Z_i / 2^s⌋ with 2^s <= min gap are distinct; R = max ℓ + 1 needs b = ⌈log2 R⌉ bits
   (≈ log2(N² · spread/δ), the paper's log R).
2. ``group routing`` (:func:`routing_layers`): sort by Z, cut into m groups of n consecutive
   points (default n ≈ √(N/(b+2)), which balances depth m against n(b+2)).  Group j is the
   integer interval [lo_j, hi_j]; the trapezoid T_j = ReLU(Z-lo+1) - ReLU(Z-lo) - ReLU(Z-hi) +
   ReLU(Z-hi-1) is exactly 1 on it and 0 at every other data point, and one layer per group
   accumulates acc_U += U_j T_j, acc_W += W_j T_j (width 7), where U_j, W_j are big integers
   holding the group's codes (n·b bits) and labels (n·c bits, c = ⌈log2 C⌉).
3. ``bit extraction with Telgarsky's triangle map`` (:func:`extraction_layer`): for a K-bit
   stream U, V = 2U + 1 on the scale 2^{K+1} (the offset +1 = half an ulp removes ties) and one
   layer with units ReLU(V), ReLU(V - 2^K), ReLU(V - 2^K - 1) yields the triangle map
   Φ(V) = 2 ReLU(V) - 4 ReLU(V - 2^K) = 2^{K+1} φ(V / 2^{K+1}) and the bit g = 1[V > 2^K] =
   ReLU(V - 2^K) - ReLU(V - 2^K - 1).  The bits of φ's orbit are the *Gray code* of U, so we
   store U with binary digits B_k = G_1 ⊕ ... ⊕ G_k and read back G (the concatenated codes)
   directly.  Codes and labels are read in parallel (two streams), accumulating seg = 2 seg + g.
4. ``interval matching`` (:func:`match_layers`): with t = Z - 2^s seg_u, the trapezoid
   I = ReLU(t+1) - ReLU(t) - ReLU(t-2^s+1) + ReLU(t-2^s) is exactly 1 for the matching member
   and 0 for the others; then ReLU(seg_w - C (1 - I)) = I · label is added to the output.

Depth m + n (max(b, c) + 2) + 1 layers, maximum width 10, parameters Õ(√N) (dense width-<=10
layers), largest weight ≈ 2^{n·max(b,c)+1}: the Õ(√N)-bit weights of the theorem.  Labels must
be integer classes 0..C-1; the network outputs the class index as a real number.

**Representation.** Weights are Python ints: the network is an
:class:`capacity.networks.ExactMLPNet` (kind ``mlp-exact``), which NET.npz stores as exact
decimal strings with no float kernels.

**Certification**: the one exact engine evaluates the integer network at every data point;
``certified-exact`` iff every output equals the label (the class index) exactly.  Float64 checks
are per gadget only (tests), where values stay below 2^53.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from capacity.constructions._numbers import dyadic_ints
from capacity.constructions.base import Construction, register
from capacity.data import Dataset
from capacity.errors import CapacityError, GeneralPositionError, ShapeError, WidthError
from capacity.networks import ExactMLPNet, exact_bits

# ----------------------------------------------------------------------- a tiny layer algebra
# A "state" maps register names to affine expressions over the current layer's units:
# ({unit_index: coef}, const).  A layer is a list of (pre-activation expression over the
# previous layer's units) and the next state is written over the new units.


class Builder:
    """Accumulates ReLU layers as sparse affine maps with exact integer coefficients."""

    def __init__(self, n_inputs: int):
        self.n_in = n_inputs
        self.layers: list[list[tuple[dict, int]]] = []  # per layer: per unit (coefs, bias)
        self.width = n_inputs

    def emit(self, units: Sequence[tuple[dict, int]]) -> list[dict]:
        """Append a ReLU layer; returns single-unit expressions for the new units."""
        self.layers.append([(dict(c), int(b)) for c, b in units])
        self.width = len(units)
        return [({i: 1}, 0) for i in range(len(units))]

    def matrices(self, out: Sequence[tuple[dict, int]]):
        """Dense object matrices (in, out) and biases, the last layer linear (``out``)."""
        ks, bs = [], []
        fan_in = self.n_in
        for layer in self.layers + [list(out)]:
            k = np.zeros((fan_in, len(layer)), dtype=object)
            b = np.zeros(len(layer), dtype=object)
            for j, (c, bias) in enumerate(layer):
                for i, v in c.items():
                    k[i, j] = v
                b[j] = bias
            ks.append(k)
            bs.append(b)
            fan_in = len(layer)
        return ks, bs


def lin(*terms, const=0) -> tuple[dict, int]:
    """Sum of (coef, expr) pairs plus a constant, as one affine expression."""
    c: dict = {}
    k = const
    for coef, (e, e0) in terms:
        for i, v in e.items():
            c[i] = c.get(i, 0) + coef * v
        k += coef * e0
    return {i: v for i, v in c.items() if v != 0}, k


# ----------------------------------------------------------------------------- gadgets


def projection_layer(direction: Sequence[int], scale_bits: int, z_min: int, dx: int):
    """Unit expression for Z(x) = Σ a_k 2^scale x_k - z_min (the first layer's pre-activation)."""
    return ({k: int(a) << scale_bits for k, a in enumerate(direction) if a}, -int(z_min)), dx


def trapezoid_units(z: tuple[dict, int], lo: int, hi: int) -> list[tuple[dict, int]]:
    """4 units whose combination (+,-,-,+) is 1 for integer z in [lo, hi] and 0 outside [lo-1, hi+1]."""
    return [lin((1, z), const=-lo + 1), lin((1, z), const=-lo), lin((1, z), const=-hi), lin((1, z), const=-hi - 1)]


def trap_value(units: Sequence[tuple[dict, int]]) -> tuple[dict, int]:
    return lin((1, units[0]), (-1, units[1]), (-1, units[2]), (1, units[3]))


def routing_layers(b: Builder, z: tuple[dict, int], intervals, payloads):
    """One layer per group: carries Z and accumulates Σ_j payload_j · T_j(Z) (width 3 + 4).

    ``z`` is an expression over the current units (or the input layer's pre-activation when
    the builder has no layers yet).  Returns the state {Z, acc_0, acc_1, ...} after the last
    group as expressions (the last group's payload is added virtually).
    """
    n_acc = len(payloads[0])
    accs = [({}, 0)] * n_acc
    for j, ((lo, hi), pay) in enumerate(zip(intervals, payloads)):
        units = [z] + list(accs) + trapezoid_units(z, lo, hi)
        new = b.emit(units)
        z = new[0]
        t = trap_value(new[1 + n_acc:])
        accs = [lin((1, new[1 + a]), (int(pay[a]), t)) for a in range(n_acc)]
    return z, accs


def gray_encode(bits: Sequence[int]) -> int:
    """Integer U whose triangle-map orbit reads back ``bits`` (binary digits = prefix XORs, MSB first)."""
    u, p = 0, 0
    for g in bits:
        p ^= int(g)
        u = (u << 1) | p
    return u


def extraction_units(v: tuple[dict, int], k_bits: int):
    """Units for one triangle-map step on V (scale 2^{K+1}); returns (units, Φ(V) and bit as fns of new units)."""
    half = 1 << k_bits
    units = [v, lin((1, v), const=-half), lin((1, v), const=-half - 1)]

    def after(new):  # new = expressions for the three new units
        return lin((2, new[0]), (-4, new[1])), lin((1, new[1]), (-1, new[2]))

    return units, after


def match_units(z, seg_u, s_bits: int):
    """4 units: trapezoid on t = Z - 2^s seg_u, 1 iff t in [0, 2^s - 1] (integers)."""
    t = lin((1, z), (-(1 << s_bits), seg_u))
    return trapezoid_units(t, 0, (1 << s_bits) - 1)


# ---------------------------------------------------------------------------- the build


def _choose_direction(xi: np.ndarray, trials: int, seed: int):
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(max(1, trials)):
        a = [int(v) for v in rng.integers(-(1 << 10), (1 << 10) + 1, size=xi.shape[1])]
        if not any(a):
            continue
        z = xi.dot(np.array(a, dtype=object))
        zs = sorted(z.tolist())
        gaps = [q - p for p, q in zip(zs, zs[1:])]
        mg = min(gaps) if gaps else 1
        if mg <= 0:
            continue
        score = mg / max(zs[-1] - zs[0], 1)
        if best is None or score > best[0]:
            best = (score, a, z, mg)
    if best is None:
        raise GeneralPositionError(f"no integer direction among {trials} separates the projections of all points "
                                   "(inputs duplicated?)")
    return best[1], best[2], best[3]


def build(dataset: Dataset, widths=None, *, activation: str = "relu", seed: int = 0, group_size: int | None = None,
          trials: int = 8, **opts) -> Construction:
    """Vardi–Yehudai–Shamir style memorizer in exact integers (module docstring).

    Args:
      widths: None, or [w] / a list whose minimum is the allowed width (>= the built net's
        maximum width 10, else WidthError).  The depth is derived.
      group_size: members per group n (default ≈ √(N/(b+2))).
    """
    if activation != "relu":
        raise CapacityError(f"vardi is a ReLU construction; got activation {activation!r}")
    if opts:
        raise CapacityError(f"vardi: unknown options {sorted(opts)}")
    ds = dataset
    if not ds.is_classification:
        raise ShapeError("vardi memorizes labels in [C]: give integer class labels 0..C-1 (real labels would need "
                         "quantizing first)")
    t0 = time.perf_counter()
    n_pts, dx = ds.n, ds.dx
    n_classes = max(int(ds.y.max()) + 1, 2)
    c_bits = max(1, (n_classes - 1).bit_length())
    xi, e_x = dyadic_ints(ds.x)
    a, z_raw, min_gap = _choose_direction(xi, trials, seed)
    z_min = min(z_raw.tolist())
    z = [int(v) - z_min for v in z_raw.tolist()]
    s_bits = max(0, min_gap.bit_length() - 1)  # 2^s <= min gap
    codes = [v >> s_bits for v in z]
    b_bits = max(1, max(codes).bit_length())
    order = sorted(range(n_pts), key=lambda i: z[i])
    n_mem = group_size or max(1, round(math.sqrt(n_pts / (max(b_bits, c_bits) + 2))))
    groups = [order[i:i + n_mem] for i in range(0, n_pts, n_mem)]
    intervals, payloads = [], []
    for grp in groups:
        code_bits, label_bits = [], []
        for pos in range(n_mem):
            if pos < len(grp):
                i = grp[pos]
                code, label = codes[i], int(ds.y[i])
            else:  # padding member: label 0 adds nothing even if it matched
                code, label = 0, 0
            code_bits += [(code >> (b_bits - 1 - q)) & 1 for q in range(b_bits)]
            label_bits += [(label >> (c_bits - 1 - q)) & 1 for q in range(c_bits)]
        intervals.append((z[grp[0]], z[grp[-1]]))
        payloads.append((gray_encode(code_bits), gray_encode(label_bits)))
    k_u, k_w = n_mem * b_bits, n_mem * c_bits

    bld = Builder(dx)
    zexpr, _ = projection_layer(a, e_x, z_min, dx)
    zexpr, (acc_u, acc_w) = routing_layers(bld, zexpr, intervals, payloads)
    v_u = lin((2, acc_u), const=1)
    v_w = lin((2, acc_w), const=1)
    out = ({}, 0)
    steps = max(b_bits, c_bits)
    for _member in range(n_mem):
        seg_u, seg_w = None, None
        for q in range(steps):
            units = [zexpr, out]
            idx = {}
            for name, v, kb, active in (("u", v_u, k_u, q < b_bits), ("w", v_w, k_w, q < c_bits)):
                idx[name] = len(units)
                if active:
                    us, after_u = extraction_units(v, kb)
                    units += us
                else:
                    units.append(v)
            segs = {}
            for name, seg in (("u", seg_u), ("w", seg_w)):
                if seg is not None:
                    segs[name] = len(units)
                    units.append(seg)
            new = bld.emit(units)
            zexpr, out = new[0], new[1]
            for name, kb, active in (("u", k_u, q < b_bits), ("w", k_w, q < c_bits)):
                i0 = idx[name]
                prev_seg = new[segs[name]] if name in segs else ({}, 0)
                if active:
                    nv = lin((2, new[i0]), (-4, new[i0 + 1]))
                    bit = lin((1, new[i0 + 1]), (-1, new[i0 + 2]))
                    nseg = lin((2, prev_seg), (1, bit))
                else:
                    nv, nseg = new[i0], prev_seg
                if name == "u":
                    v_u, seg_u = nv, nseg
                else:
                    v_w, seg_w = nv, nseg
        # interval matching, then the gated label
        units = [zexpr, out, v_u, v_w, seg_w] + match_units(zexpr, seg_u, s_bits)
        new = bld.emit(units)
        zexpr, out, v_u, v_w, seg_w = new[:5]
        ind = trap_value(new[5:9])
        units = [zexpr, out, v_u, v_w, lin((1, seg_w), (n_classes, ind), const=-n_classes)]
        new = bld.emit(units)
        zexpr, out, v_u, v_w = new[:4]
        out = lin((1, out), (1, new[4]))
    kernels, biases = bld.matrices([out])
    max_width = max(k.shape[1] for k in kernels[:-1])
    if widths:
        if min(widths) < max_width:
            raise WidthError(f"vardi: our layout of the construction needs width {max_width} (the paper's bound is 12); "
                             f"got widths with minimum {min(widths)}. Use widths [{max_width}] or more")
    allw = [v for k in kernels for v in k.ravel().tolist() if v] + [v for bb in biases for v in bb.tolist() if v]
    bits = max(exact_bits(v) for v in allw)
    record = {
        "theorem": "vardi2022", "mechanism": "RECONSTRUCTED gadgets (module docstring)",
        "groups": len(groups), "group_size": n_mem, "code_bits_b": b_bits, "label_bits_c": c_bits,
        "classes": n_classes, "quantization_shift_s": s_bits, "input_scale_bits": e_x,
        "R": max(codes) + 1, "stream_bits_u": k_u, "stream_bits_w": k_w,
        "depth": len(kernels), "max_width": max_width, "max_weight_bits": bits,
        "direction": a, "depth_L_variant": "not implemented (sizes not pinned down by the sources)",
        "seconds": time.perf_counter() - t0,
    }
    # the network outputs the class index itself, not a one-hot vector
    return Construction("vardi", ExactMLPNet(kernels, biases, "relu", meta={"targets": "class-index"}), record)


register("vardi", build, "Vardi, Yehudai & Shamir 2022: O~(sqrt N) params, width <= 12, Gray-coded bit extraction "
         "in exact integers", theorem="vardi2022", normalize=False)  # already exact in any scale: integer inputs x 2^e
