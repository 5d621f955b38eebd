"""Residual networks: parameters, THE residual forward pass, its bounded twin, the NNX module.

A residual network with input dimension dx, stream width D, ``nb`` blocks of ``k``
hidden ReLUs each and dy outputs computes

    h_0     = x @ W_in + b_in                          (input map, (dx, D) / (D,))
    h_{b+1} = h_b + relu(h_b @ U_b + s_b) @ V_b        (block b: U_b (D, k), s_b (k,), V_b (k, D))
    f(x)    = h_nb @ R + c                             (linear read-out, (D, dy) / (dy,))

(kernel layout (in, out), as for the MLP).  The hidden ReLUs are the
``nb * k`` units of the residual branches.

``NET.npz`` layout for ``kind = "residual"`` (``activation = "relu"``):

=================  ===============  ==========================================
array              shape            meaning
=================  ===============  ==========================================
``kernel_0``       (D, dy)          read-out R (the only entry of ``kernels``)
``bias_0``         (dy,)            read-out bias c
``res_in_kernel``  (dx, D)          input map W_in
``res_in_bias``    (D,)             input bias b_in
``res_U``          (nb, D, k)       branch input kernels, stacked over blocks
``res_s``          (nb, k)          branch biases
``res_V``          (nb, k, D)       branch output kernels
=================  ===============  ==========================================

plus the usual ``activation``, ``kind`` and ``meta``.  ``nb = 0`` (no blocks) is allowed.
The plain MLP format is unchanged; a plain loader that ignores ``kind`` would read a
residual file as the read-out alone, so always check ``kind``.

The bounded pass (:func:`residual_forward_bounded`) carries a **rigorous** a-priori rounding
bound and the kink margins.  With γ_n = n u / (1 - n u), u = 2^-53, and e the running bound on
|ĥ - h| (h in exact arithmetic with the stored weights):

* input map / read-out / branch pre-activation z = h @ W + b (fan-in n):
  |ẑ - z| <= e |W| + γ_{n+1} (|ĥ| |W| + |b|) (+ underflow terms), computed with two matmuls
  (ĥ W and (e + γ|ĥ|) |W|) by :func:`capacity.networks._rounding.affine_bound`, whose docstring
  has the proof (Claims 1-2) and the arithmetic model (gradual underflow or flush-to-zero,
  denormals-are-zero allowed: XLA on CPU does both); e = 0 at the input map;
* ReLU is 1-Lipschitz, so |â - a| <= e_a with e_a = |ẑ - z|'s bound, and e_a = 0 where ẑ < -bound
  (then z < 0 too and â = a = 0; Claim 3 there);
* the update ĥ' = fl(ĥ + fl(â V)): the dot product of length k has error <= γ_k |â| |V| (plus
  underflow terms), the addition one more rounding, and γ_k + u (1 + γ_k) <= γ_{k+1}, so

      |ĥ' - h'| <= e + e_a |V| + γ_{k+1} (|ĥ| + â |V|) (+ underflow terms).

  This is computed as fl(fl(fl(q_a A_V) + r_h) κ + G) with q_a = fl(e_a + fl(g â)),
  r_h = fl(e + fl(g |ĥ|)), g >= γ_{k+1}, κ = fl(1 + 2 γ_{k+5}) and A_V, G of V
  (:func:`capacity.networks._rounding.propagated_bound`): two matmuls (â V, q_a A_V).  Every
  path into the sum passes through at most k + 3 roundings of non-negative numbers and the
  absolute losses are those of Claim 2 with n = k, so Claim 2's argument applies word for word.

(Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1, any summation order, with or
without FMA.)  Assumptions: IEEE binary round-to-nearest, no fast-math.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from capacity.errors import ShapeError
from capacity.networks._rounding import (HIGHEST, activation_error, affine_bound, bound_operands,
                                        cache_rows, gamma_up, map_chunks, propagated_bound, relative_margin,
                                        unit_roundoff)

#: NET.npz array names of the residual kind, in :class:`ResidualParams` order (read-out excluded).
ARRAY_NAMES = ("res_in_kernel", "res_in_bias", "res_U", "res_s", "res_V")


class ResidualParams(NamedTuple):
    """The arrays of a residual network (a pytree; see the module docstring)."""

    w_in: jax.Array  # (dx, D)
    b_in: jax.Array  # (D,)
    u: jax.Array  # (nb, D, k)
    s: jax.Array  # (nb, k)
    v: jax.Array  # (nb, k, D)
    r: jax.Array  # (D, dy)
    c: jax.Array  # (dy,)

    @property
    def dims(self) -> tuple[int, int, int, int, int]:
        """(dx, D, nb, k, dy)."""
        return (int(self.w_in.shape[0]), int(self.w_in.shape[1]), int(self.u.shape[0]),
                int(self.u.shape[2]), int(self.r.shape[1]))

    @property
    def hidden_relus(self) -> int:
        return int(self.u.shape[0] * self.u.shape[2])


def check_params(p: ResidualParams) -> ResidualParams:
    """Validate shapes; returns float64 NumPy copies (object arrays of exact numbers stay exact:
    such a network is evaluated by the exact engine only).  Raises :class:`ShapeError`."""
    exact = any(np.asarray(t).dtype == object for t in p)
    a = [np.asarray(t, dtype=object if exact else np.float64) for t in p]
    w_in, b_in, u, s, v, r, c = a
    if w_in.ndim != 2:
        raise ShapeError(f"res_in_kernel must be (dx, D); got shape {w_in.shape}")
    dx, d = w_in.shape
    if u.ndim != 3 or u.shape[1] != d:
        raise ShapeError(f"res_U must be (nb, D={d}, k); got shape {u.shape}")
    nb, _, k = u.shape
    if r.ndim != 2 or r.shape[0] != d:
        raise ShapeError(f"the read-out kernel_0 must be (D={d}, dy); got shape {r.shape}")
    expected = {"res_in_bias": (b_in, (d,)), "res_s": (s, (nb, k)), "res_V": (v, (nb, k, d)),
                "read-out bias_0": (c, (r.shape[1],))}
    for name, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ShapeError(f"{name} must have shape {shape} for D={d}, nb={nb}, k={k}; got {arr.shape}")
    return ResidualParams(*a)


# --------------------------------------------------------------------------- forward


def residual_apply(p: ResidualParams, x):
    """Pure forward pass f(x) for x of shape (m, dx); blocks run under ``lax.scan``."""
    h = jnp.matmul(x, p.w_in, precision=HIGHEST) + p.b_in[None, :]

    def block(h, ub):
        u, s, v = ub
        a = jax.nn.relu(jnp.matmul(h, u, precision=HIGHEST) + s[None, :])
        return h + jnp.matmul(a, v, precision=HIGHEST), None

    h, _ = jax.lax.scan(block, h, (p.u, p.s, p.v))
    return jnp.matmul(h, p.r, precision=HIGHEST) + p.c[None, :]


def _checked_chunk(p: ResidualParams, ops, x, u: float):
    ops_in, ops_u, ops_v, ops_r = ops
    dtype = x.dtype
    h, e, _ = affine_bound(x, None, p.w_in, p.b_in, u, ops=ops_in)  # x is stored exactly: no e term
    k = p.u.shape[2]
    g_upd = gamma_up(k + 1, u)
    margin0 = jnp.full(x.shape[:1], jnp.inf, dtype)

    def block(carry, usv):
        h, e, margin, rel = carry
        uu, s, v, op_u, op_v = usv
        z, ez, _ = affine_bound(h, e, uu, s, u, ops=op_u)
        dist = jnp.abs(z)
        margin = jnp.minimum(margin, jnp.min(dist, axis=-1, initial=jnp.inf))
        rel = jnp.minimum(rel, relative_margin(dist, ez, uu.shape[0], u))  # ez >= guard > 0
        a = jax.nn.relu(z)
        ea = activation_error(z, ez, "relu")
        h_new = h + jnp.matmul(a, v, precision=HIGHEST)
        # e + e_a|V| + γ_{k+1}(|ĥ| + â|V|) as fl(fl(q_a A_V + r_h) κ + G), two matmuls (module docstring)
        e_new = propagated_bound(ea + g_upd * a, op_v, e + g_upd * jnp.abs(h), k, u)
        return (h_new, e_new, margin, rel), None

    (h, e, margin, rel), _ = jax.lax.scan(block, (h, e, margin0, margin0), (p.u, p.s, p.v, ops_u, ops_v))
    out, bound, _ = affine_bound(h, e, p.r, p.c, u, ops=ops_r)
    return out, bound, margin, rel


@functools.partial(jax.jit, static_argnames=("chunk",))
def residual_forward_bounded(p: ResidualParams, x, chunk: int = 4096):
    """Chunked, jitted forward pass with rigorous bounds (module docstring).

    ``chunk`` caps the rows per step (:func:`capacity.networks._rounding.cache_rows` may take
    fewer).  Returns out (N, dy), bound (N, dy), margin (N,) and rel_margin (N,): the smallest
    |pre-activation| of any branch ReLU at each point, absolute and relative to a scale
    S >= |ĥ||U| + |s| (reported, not certified: never larger than relative to |ĥ||U| + |s| itself,
    up to the rounding of the division; inf when there are no blocks).
    """
    u = unit_roundoff(x.dtype)
    stacked = jax.vmap(lambda w: bound_operands(w, u))  # per block, once, outside the chunk loop
    ops = (bound_operands(p.w_in, u), stacked(p.u), stacked(p.v), bound_operands(p.r, u))
    rows = cache_rows(chunk, max(p.w_in.shape + p.u.shape[1:] + p.r.shape))
    return map_chunks(lambda xc: _checked_chunk(p, ops, xc, u), x, rows)


# ------------------------------------------------------------------------ NNX module


class ResNet(nnx.Module):
    """A residual ReLU network holding float64 ``nnx.Param`` arrays (layout: module docstring).

    Example:
      >>> import numpy as np
      >>> from capacity.networks import ResNet, ResidualParams
      >>> p = ResidualParams(np.eye(2), np.zeros(2), np.ones((1, 2, 1)), np.zeros((1, 1)),
      ...                    np.ones((1, 1, 2)), np.eye(2)[:, :1], np.zeros(1))
      >>> float(ResNet(p)(np.array([[1.0, 2.0]]))[0, 0])   # h = x + relu(3) * (1, 1)
      4.0
    """

    def __init__(self, params: ResidualParams, dtype=jnp.float64):
        p = check_params(params)
        self.w_in, self.b_in, self.u, self.s, self.v, self.r, self.c = (
            nnx.Param(jnp.asarray(a, dtype=dtype)) for a in p)

    @classmethod
    def random(cls, dx: int, d: int, nb: int, k: int, dy: int, *, rngs: nnx.Rngs, dtype=jnp.float64):
        """He-initialised network; the input map is [I | 0] when D >= dx (random otherwise)."""
        w_in = np.eye(dx, d) if d >= dx else np.asarray(jax.random.normal(rngs.params(), (dx, d), dtype)) / np.sqrt(dx)
        u = jax.random.normal(rngs.params(), (nb, d, k), dtype) * np.sqrt(2.0 / d)
        v = jax.random.normal(rngs.params(), (nb, k, d), dtype) * np.sqrt(1.0 / (k * max(nb, 1)))
        r = jax.random.normal(rngs.params(), (d, dy), dtype) * np.sqrt(1.0 / d)
        return cls(ResidualParams(w_in, np.zeros(d), u, np.zeros((nb, k)), v, r, np.zeros(dy)), dtype=dtype)

    def params(self) -> ResidualParams:
        return ResidualParams(*(t[...] for t in (self.w_in, self.b_in, self.u, self.s, self.v, self.r, self.c)))

    def arrays(self) -> ResidualParams:
        """The parameters as NumPy arrays."""
        return ResidualParams(*(np.asarray(a) for a in self.params()))

    def __call__(self, x):
        return residual_apply(self.params(), x)
