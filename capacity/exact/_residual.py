"""Exact evaluation of residual networks (``kind = "residual"``) on integer residues.

    h_0 = x W_in + b_in;   h <- h + relu(h U_b + s_b) V_b  (b = 1..nb);   f = h R + c.

With h = H / E_h, a block's branch pre-activation is Z = H U' + E_h s' over E_z = E_h L_U
(as in :mod:`capacity.exact._modular`), the branch output relu(Z) V' / (E_z L_V), and the update
H <- H L_U L_V + relu(Z) V' over E_h L_U L_V: integer matrix products and an exact sign test.
Magnitudes are bounded by the float pass's rigorous bounds (float64 networks) or by exact bit-size
propagation, signs read from the float pass where it is certain and from the mixed-radix digits
elsewhere (as in :mod:`capacity.exact._modular`).

U below is the unit roundoff.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from capacity.exact._modular import (Layer, affine, bound_from_float, candidates_min, extreme_abs_exact,
                                    hybrid_signs)
from capacity.exact._numbers import Pow2Table, Scaled, int_mod, mod_sym, prime_list, primes_needed

U = 2.0**-53


class ResidualNet:
    def __init__(self, w_in, b_in, U, s, V, R, c):
        U, s, V = np.asarray(U), np.asarray(s), np.asarray(V)
        self.inp = Layer(w_in, b_in)
        self.blocks = []
        for b in range(U.shape[0]):
            lu = Layer(U[b], s[b])
            kv = np.asarray(V[b])
            lv = Layer(kv, np.zeros(kv.shape[1], dtype=kv.dtype))
            self.blocks.append((lu, lv))
        self.out = Layer(R, c)
        self.fan_max = max([self.inp.n, self.out.n] + [max(lu.n, lv.n) for lu, lv in self.blocks])


def residual_chunk(net: ResidualNet, x_s: Scaled, y_s: Scaled, pow2: Pow2Table, fp=None, yf=None):
    """(exact max |f - y| over the chunk, exact min |branch pre-activation| or None).

    ``fp``: a :class:`capacity.exact._filter.ResidualFloatPass` of the chunk (float64 networks), whose
    rigorous bounds size the primes, decide most signs and select the candidates for the extremes;
    without it the sizes come from exact bit-size propagation and every sign from the digits.
    """
    # ---- bounds of every integer whose sign or value is needed: branch pre-activations, residual
    hb = net.inp.n * x_s.max_abs() * net.inp.kmax + x_s.denom * net.inp.bmax
    eh = x_s.denom * net.inp.L
    zbounds = []
    for bi_, (lu, lv) in enumerate(net.blocks):
        zb = lu.n * hb * lu.kmax + eh * lu.bmax
        if fp is not None:
            fb = bound_from_float(fp.z[bi_], fp.e[bi_], eh * lu.L)
            if fb >= 0:
                zb = min(zb, fb)
        zbounds.append(zb)
        hb = hb * lu.L * lv.L + lv.n * zb * lv.kmax
        eh = eh * lu.L * lv.L
    fb_ = net.out.n * hb * net.out.kmax + eh * net.out.bmax
    ef = eh * net.out.L
    rb = fb_ * y_s.denom + y_s.max_abs() * ef
    if fp is not None and yf is not None:
        d = np.abs(fp.out - yf) + fp.e_out
        if d.size:
            m = float(np.max(d)) * (1 + 8 * U) + 2.0**-1022
            if math.isfinite(m):
                rb = min(rb, int(math.ceil(Fraction(m) * ef * y_s.denom)))
    big = max(zbounds + [rb, 1])
    need = 4
    allp = prime_list(net.fan_max + 1, need)
    while math.prod(int(p) for p in allp.tolist()) <= 2 * big + 1:
        need *= 2
        allp = prime_list(net.fan_max + 1, need)
    primes = allp[:primes_needed(big, allp)]

    hr = x_s.residues(primes, pow2)
    hr, eh = affine(hr, x_s.denom, net.inp, primes, pow2)
    kink = None
    for bi_, (lu, lv) in enumerate(net.blocks):
        z, ez = affine(hr, eh, lu, primes, pow2)
        pz = primes[:primes_needed(zbounds[bi_], primes)]
        zf = fp.z[bi_] if fp is not None else None
        efl = fp.e[bi_] if fp is not None else None
        sg = hybrid_signs(z, pz, zf, efl)
        cand = candidates_min(np.abs(zf), efl) if zf is not None else None
        m = extreme_abs_exact(z, pz, cand, largest=False)
        if m is not None:
            kq = Fraction(m, ez)
            kink = kq if kink is None else min(kink, kq)
        z *= (sg > 0)[None]
        av, _ = affine(z, ez, lv, primes, pow2)  # A V' (zero bias)
        scale = int_mod(lu.L * lv.L, primes)[:, None, None]
        hr = mod_sym(hr * scale + av, primes)
        eh = eh * lu.L * lv.L
    f, ef = affine(hr, eh, net.out, primes, pow2)
    yr = y_s.residues(primes, pow2)
    r = mod_sym(f * int_mod(y_s.denom, primes)[:, None, None] - yr * int_mod(ef, primes)[:, None, None], primes)
    pr = primes[:primes_needed(rb, primes)]
    nonzero = np.any(r[:len(pr)] != 0, axis=0)
    cand = nonzero
    if fp is not None and yf is not None and nonzero.any():
        with np.errstate(invalid="ignore", over="ignore"):
            rf = np.abs(fp.out - yf)
            lo = np.maximum(rf - fp.e_out, 0.0) * (1 - 8 * U)
            hi = (rf + fp.e_out) * (1 + 8 * U) + 2.0**-1022
        lo = np.where(nonzero & np.isfinite(lo), lo, 0.0)
        hi = np.where(np.isfinite(hi), hi, np.inf)
        cand = nonzero & (hi >= lo.max())
    mx = extreme_abs_exact(r, pr, cand, largest=True) if nonzero.any() else 0
    return Fraction(mx or 0, ef * y_s.denom), kink
