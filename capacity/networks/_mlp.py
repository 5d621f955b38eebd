"""The fully connected network: THE forward pass, its rigorous bounded twin, and the NNX module.

Convention (one place for it): a fully connected network with L layers has
kernels ``kernel_l`` of shape (in, out) and biases ``bias_l`` of shape (out,),
l = 0..L-1, and computes

    f(x) = act(... act(x @ kernel_0 + bias_0) ...) @ kernel_{L-1} + bias_{L-1}

with ``act`` = ReLU (``"relu"``) or hard-tanh ``max(-1, min(1, t))`` (``"hardtanh"``).
This is Flax's ``nnx.Linear`` layout (kernel (in, out)).

Training, SGD, piece counting and verification all call :func:`mlp_apply`; there is no other
MLP forward pass in the code base.  :func:`mlp_forward_bounded` is the same pass carrying a
rigorous rounding-error bound (:mod:`capacity.networks._rounding`) and the kink margins.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from capacity.errors import ShapeError
from capacity.networks._rounding import (HIGHEST, activation_error, add_bias, affine_bound, bound_operands, cache_rows,
                                        map_chunks, relative_margin, unit_roundoff)

ACTIVATIONS = ("relu", "hardtanh")


def activation_fn(name: str):
    """The elementwise activation by name (jnp-compatible)."""
    if name == "relu":
        return jax.nn.relu
    if name == "hardtanh":
        return lambda t: jnp.clip(t, -1.0, 1.0)
    raise ShapeError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def check_layers(kernels, biases) -> None:
    """Raise :class:`ShapeError` unless the kernels (in, out) and biases (out,) chain up."""
    if len(kernels) != len(biases) or not kernels:
        raise ShapeError("a network needs as many biases as kernels, and at least one layer")
    for i, (w, b) in enumerate(zip(kernels, biases)):
        if np.ndim(w) != 2 or np.shape(b) != (np.shape(w)[1],):
            raise ShapeError(f"layer {i}: kernel must be (in, out) and bias (out,); got {np.shape(w)} and {np.shape(b)}")
        if i and np.shape(kernels[i - 1])[1] != np.shape(w)[0]:
            raise ShapeError(f"layer {i}: kernel_{i} expects {np.shape(w)[0]} inputs but layer {i - 1} has "
                             f"{np.shape(kernels[i - 1])[1]} outputs")


def mlp_apply(kernels: Sequence, biases: Sequence, x, activation: str = "relu"):
    """Pure forward pass f(x) for x of shape (..., in); float64 stays float64.

    Matmuls use ``precision="highest"`` so float32 on GPU is not silently TF32.
    """
    return _forward(kernels, biases, x, activation)[0]


def mlp_preactivations(kernels: Sequence, biases: Sequence, x, activation: str = "relu"):
    """List of hidden pre-activations (one (..., width) array per hidden layer)."""
    return _forward(kernels, biases, x, activation)[1]


def _forward(kernels, biases, x, activation):
    act = activation_fn(activation)
    h = x
    pre = []
    n = len(kernels)
    for i, (w, b) in enumerate(zip(kernels, biases)):
        h = add_bias(jnp.matmul(h, w, precision=HIGHEST), b)
        if i < n - 1:
            pre.append(h)
            h = act(h)
    return h, pre


def kink_distance(z, activation: str):
    """Distance of pre-activations from the activation's kink(s): 0 for ReLU, ±1 for hard-tanh."""
    if activation == "relu":
        return jnp.abs(z)
    return jnp.minimum(jnp.abs(z - 1.0), jnp.abs(z + 1.0))


def _bounded_chunk(kernels, biases, ops, x, activation: str, u: float):
    act = activation_fn(activation)
    h, e = x, None  # the input is stored exactly: no propagated term at the first layer
    margin = jnp.full(x.shape[:1], jnp.inf, x.dtype)
    rel = jnp.full(x.shape[:1], jnp.inf, x.dtype)
    n_layers = len(kernels)
    for i, (w, b, op) in enumerate(zip(kernels, biases, ops)):
        # after a ReLU, ĥ >= 0: |ĥ| = ĥ (the input x and hard-tanh outputs can be negative)
        z, bound, _ = affine_bound(h, e, w, b, u, nonneg=i > 0 and activation == "relu", ops=op)
        if i < n_layers - 1:
            dist = kink_distance(z, activation)
            margin = jnp.minimum(margin, jnp.min(dist, axis=-1))
            rel = jnp.minimum(rel, relative_margin(dist, bound, w.shape[0], u))  # bound >= guard > 0
            e = activation_error(z, bound, activation)
            h = act(z)
        else:
            h, e = z, bound
    return h, e, margin, rel


@functools.partial(jax.jit, static_argnames=("activation", "chunk"))
def mlp_forward_bounded(kernels, biases, x, activation: str = "relu", chunk: int = 4096):
    """:func:`mlp_apply` with a rigorous bound on its rounding error, chunked and jit-compiled.

    Per layer two matmul-equivalents: ĥ W (the output, computed exactly as :func:`mlp_apply`
    computes it) and q A with q = e + γ|ĥ| (the bound); the proof is in
    :mod:`capacity.networks._rounding`.  Units certainly on a flat piece of the activation
    (ReLU off, hard-tanh saturated) pass on a zero error.

    Args:
      kernels, biases: sequences of (in, out) / (out,) arrays.
      x: (N, dx) inputs.
      chunk: at most this many rows per step (fewer if a cache-sized step is smaller:
        :func:`capacity.networks._rounding.cache_rows`); memory is O(chunk x max width).

    Returns:
      out (N, dy); bound (N, dy) with |out - f(x)| <= bound, f the same stored weights in exact
      arithmetic; margin (N,) the smallest distance of any hidden pre-activation from a kink;
      rel_margin (N,) that distance relative to a scale S >= |ĥ||W| + |b| (the scale at which
      rounding acts): reported, not certified, never larger than the distance over |ĥ||W| + |b|
      itself (equal up to O(n u) at the first layer, smaller where propagated error dominates;
      :func:`capacity.networks._rounding.relative_margin`).
    """
    u = unit_roundoff(x.dtype)
    ops = [bound_operands(w, u) for w in kernels]  # once, outside the chunk loop
    rows = cache_rows(chunk, max(max(w.shape) for w in kernels))
    return map_chunks(lambda xc: _bounded_chunk(kernels, biases, ops, xc, activation, u), x, rows)


class MLP(nnx.Module):
    """A fully connected ReLU / hard-tanh network holding float64 ``nnx.Param`` weights.

    Build it from given arrays (e.g. a construction's output) or randomly with
    :meth:`random`.  Its parameters are ordinary ``nnx.Param`` leaves, so
    ``nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)`` works as-is.

    Example:
      >>> import numpy as np
      >>> from capacity.networks import MLP
      >>> net = MLP([np.eye(2), np.ones((2, 1))], [np.zeros(2), np.zeros(1)])
      >>> float(net(np.array([[1.0, -2.0]]))[0, 0])
      1.0
    """

    def __init__(self, kernels: Sequence, biases: Sequence, activation: str = "relu", dtype=jnp.float64):
        check_layers(kernels, biases)
        activation_fn(activation)
        self.kernels = nnx.List([nnx.Param(jnp.asarray(w, dtype=dtype)) for w in kernels])
        self.biases = nnx.List([nnx.Param(jnp.asarray(b, dtype=dtype)) for b in biases])
        self.activation = activation

    @classmethod
    def random(cls, widths: Sequence[int], *, rngs: nnx.Rngs, activation: str = "relu", dtype=jnp.float64):
        """He-initialised network with layer sizes ``widths`` = (dx, d1, ..., dy)."""
        kernels, biases = [], []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            key = rngs.params()
            kernels.append(jax.random.normal(key, (a, b), dtype=dtype) * jnp.sqrt(2.0 / a).astype(dtype))
            biases.append(jnp.zeros((b,), dtype=dtype))
        return cls(kernels, biases, activation=activation, dtype=dtype)

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.kernels[0].shape[0]),) + tuple(int(k.shape[1]) for k in self.kernels)

    def arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(kernels, biases) as NumPy arrays."""
        return [np.asarray(k[...]) for k in self.kernels], [np.asarray(b[...]) for b in self.biases]

    def __call__(self, x):
        return mlp_apply([k[...] for k in self.kernels], [b[...] for b in self.biases], x, self.activation)
