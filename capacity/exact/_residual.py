"""Exact evaluation of residual networks (``kind = "residual"``) on integer residues.

    h_0 = x W_in + b_in;   h <- h + relu(h U_b + s_b) V_b  (b = 1..nb);   f = h R + c.

With h = H / E_h, a block's branch pre-activation is Z = H U' + E_h s' over E_z = E_h L_U
(as in :mod:`capacity.exact._modular`), the branch output relu(Z) V' / (E_z L_V), and the update
H <- H L_U L_V + relu(Z) V' over E_h L_U L_V: integer matrix products and an exact sign test.
Magnitudes are bounded by exact bit-size propagation, signs read from the mixed-radix digits.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from capacity.exact._modular import Layer, affine, exact_signs, extreme_abs_exact
from capacity.exact._numbers import Pow2Table, Scaled, int_mod, mod_sym, prime_list, primes_needed


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


def residual_chunk(net: ResidualNet, x_s: Scaled, y_s: Scaled, pow2: Pow2Table):
    """(exact max |f - y| over the chunk, exact min |branch pre-activation| or None)."""
    # ---- bit bounds for every quantity
    hb = net.inp.n * x_s.max_abs() * net.inp.kmax + x_s.denom * net.inp.bmax
    eh = x_s.denom * net.inp.L
    bounds = [hb]
    for lu, lv in net.blocks:
        zb = lu.n * hb * lu.kmax + eh * lu.bmax
        bounds.append(zb)
        hb = hb * lu.L * lv.L + lv.n * zb * lv.kmax
        eh = eh * lu.L * lv.L
        bounds.append(hb)
    fb = net.out.n * hb * net.out.kmax + eh * net.out.bmax
    ef = eh * net.out.L
    rb = fb * y_s.denom + y_s.max_abs() * ef
    bounds += [fb, rb]
    big = max(bounds)
    need = 4
    allp = prime_list(net.fan_max + 1, need)
    while math.prod(int(p) for p in allp.tolist()) <= 2 * big + 1:
        need *= 2
        allp = prime_list(net.fan_max + 1, need)
    primes = allp[:primes_needed(big, allp)]

    hr = x_s.residues(primes, pow2)
    hr, eh = affine(hr, x_s.denom, net.inp, primes, pow2)
    kink = None
    bi = 1
    for lu, lv in net.blocks:
        z, ez = affine(hr, eh, lu, primes, pow2)
        pz = primes[:primes_needed(bounds[bi], primes)]
        bi += 2
        sg = exact_signs(z[:len(pz)], pz)
        a = np.where(sg[None] > 0, z, 0.0)
        m = extreme_abs_exact(z, pz, None, largest=False)
        if m is not None:
            kq = Fraction(m, ez)
            kink = kq if kink is None else min(kink, kq)
        av, _ = affine(a, ez, lv, primes, pow2)  # A V' (zero bias)
        scale = int_mod(lu.L * lv.L, primes)[:, None, None]
        hr = mod_sym(hr * scale + av, primes)
        eh = eh * lu.L * lv.L
    f, ef = affine(hr, eh, net.out, primes, pow2)
    yr = y_s.residues(primes, pow2)
    r = mod_sym(f * int_mod(y_s.denom, primes)[:, None, None] - yr * int_mod(ef, primes)[:, None, None], primes)
    pr = primes[:primes_needed(rb, primes)]
    mx = extreme_abs_exact(r, pr, None, largest=True) or 0
    return Fraction(mx, ef * y_s.denom), kink
