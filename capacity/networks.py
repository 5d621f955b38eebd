"""Networks: the pure forward pass, Flax NNX modules, and the ``NET.npz`` format.

Convention (one place for it): a fully connected network with L layers has
kernels ``kernel_l`` of shape (in, out) and biases ``bias_l`` of shape (out,),
l = 0..L-1, and computes

    f(x) = act(... act(x @ kernel_0 + bias_0) ...) @ kernel_{L-1} + bias_{L-1}

with ``act`` = ReLU (``"relu"``) or hard-tanh ``max(-1, min(1, t))`` (``"hardtanh"``).
This is Flax's ``nnx.Linear`` layout (kernel (in, out)).

``NET.npz`` stores exactly these arrays plus ``activation`` (a string) and ``meta``
(a JSON string: construction, widths, N, seed, versions, certification, ...).
A residual network (``kind = "residual"``, see :mod:`capacity.resnet` when present)
adds its own documented arrays; the plain MLP format never changes.

NumPy loader::

    f = np.load("NET.npz"); L = sum(k.startswith("kernel_") for k in f.files)
    h = x
    for l in range(L): h = h @ f[f"kernel_{l}"] + f[f"bias_{l}"]; h = np.maximum(h, 0) if l < L - 1 else h
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from capacity.errors import DataFileError, ShapeError

ACTIVATIONS = ("relu", "hardtanh")


def activation_fn(name: str):
    """The elementwise activation by name (jnp-compatible)."""
    if name == "relu":
        return jax.nn.relu
    if name == "hardtanh":
        return lambda t: jnp.clip(t, -1.0, 1.0)
    raise ShapeError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def add_bias(z, b):
    """z + b with the bias broadcast explicitly over leading axes (no implicit rank promotion)."""
    return z + jnp.reshape(b, (1,) * (z.ndim - 1) + tuple(jnp.shape(b)))


def mlp_apply(kernels: Sequence, biases: Sequence, x, activation: str = "relu"):
    """Pure forward pass f(x) for x of shape (..., in); float64 stays float64.

    Matmuls use ``precision="highest"`` so float32 on GPU is not silently TF32.
    """
    act = activation_fn(activation)
    h = x
    n = len(kernels)
    for i, (w, b) in enumerate(zip(kernels, biases)):
        h = add_bias(jnp.matmul(h, w, precision=jax.lax.Precision.HIGHEST), b)
        if i < n - 1:
            h = act(h)
    return h


def mlp_preactivations(kernels: Sequence, biases: Sequence, x, activation: str = "relu"):
    """List of hidden pre-activations (one (..., width) array per hidden layer)."""
    act = activation_fn(activation)
    h = x
    pre = []
    for w, b in zip(kernels[:-1], biases[:-1]):
        z = add_bias(jnp.matmul(h, w, precision=jax.lax.Precision.HIGHEST), b)
        pre.append(z)
        h = act(z)
    return pre


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
        if len(kernels) != len(biases) or not kernels:
            raise ShapeError("an MLP needs as many biases as kernels, and at least one layer")
        activation_fn(activation)
        for i, (w, b) in enumerate(zip(kernels, biases)):
            if np.ndim(w) != 2 or np.shape(b) != (np.shape(w)[1],):
                raise ShapeError(f"layer {i}: kernel must be (in, out) and bias (out,); got {np.shape(w)} and {np.shape(b)}")
            if i and np.shape(kernels[i - 1])[1] != np.shape(w)[0]:
                raise ShapeError(f"layer {i}: kernel input size {np.shape(w)[0]} != previous output size {np.shape(kernels[i - 1])[1]}")
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


# ------------------------------------------------------------------------ NET.npz


@dataclasses.dataclass
class NetFile:
    """Contents of a ``NET.npz``: plain arrays plus metadata."""

    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str = "relu"
    meta: dict = dataclasses.field(default_factory=dict)
    kind: str = "mlp"
    extra: dict = dataclasses.field(default_factory=dict)  # arrays of other kinds (e.g. residual)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.kernels[0].shape[0],) + tuple(k.shape[1] for k in self.kernels)

    def module(self) -> MLP:
        if self.kind != "mlp":
            raise ShapeError(f"this NET.npz is of kind {self.kind!r}, not a plain MLP")
        return MLP(self.kernels, self.biases, self.activation)


def versions() -> dict:
    """Library versions, recorded in every file we write."""
    import flax
    import optax

    from capacity import __version__

    return {"relu-capacity": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__}


def save_net(path: str | os.PathLike, net: NetFile) -> None:
    """Write ``NET.npz`` atomically (a crash never leaves a half-written file)."""
    path = os.fspath(path)
    arrays = {}
    for i, (w, b) in enumerate(zip(net.kernels, net.biases)):
        arrays[f"kernel_{i}"] = np.asarray(w, dtype=np.float64)
        arrays[f"bias_{i}"] = np.asarray(b, dtype=np.float64)
    for k, v in net.extra.items():
        arrays[k] = np.asarray(v)
    meta = dict(net.meta)
    meta.setdefault("versions", versions())
    arrays["activation"] = np.array(net.activation)
    arrays["kind"] = np.array(net.kind)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True, default=json_default))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def json_default(o):
    """JSON encoder fallback for NumPy scalars and arrays (other objects as str)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def load_net(path: str | os.PathLike) -> NetFile:
    """Read ``NET.npz``; raises :class:`DataFileError` with the reason when it cannot."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            files = set(f.files)
            n_layers = sum(1 for k in files if k.startswith("kernel_"))
            if n_layers == 0:
                raise DataFileError(f"{path}: no kernel_0 array; a NET.npz needs kernel_0..kernel_(L-1) and bias_0..bias_(L-1)")
            kernels, biases = [], []
            for i in range(n_layers):
                if f"kernel_{i}" not in files or f"bias_{i}" not in files:
                    raise DataFileError(f"{path}: layer {i} is missing kernel_{i} or bias_{i}")
                kernels.append(np.asarray(f[f"kernel_{i}"], dtype=np.float64))
                biases.append(np.asarray(f[f"bias_{i}"], dtype=np.float64))
            activation = str(f["activation"]) if "activation" in files else "relu"
            kind = str(f["kind"]) if "kind" in files else "mlp"
            meta = json.loads(str(f["meta"])) if "meta" in files else {}
            known = {"activation", "kind", "meta"} | {f"kernel_{i}" for i in range(n_layers)} | {f"bias_{i}" for i in range(n_layers)}
            extra = {k: np.asarray(f[k]) for k in files - known}
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, json.JSONDecodeError) as e:
        if isinstance(e, DataFileError):
            raise
        raise DataFileError(f"{path}: not a readable NET.npz ({e})") from None
    if activation not in ACTIVATIONS:
        raise DataFileError(f"{path}: unknown activation {activation!r}")
    net = NetFile(kernels, biases, activation, meta, kind, extra)
    for i in range(1, n_layers):
        if kernels[i - 1].shape[1] != kernels[i].shape[0]:
            raise DataFileError(f"{path}: kernel_{i} expects {kernels[i].shape[0]} inputs but layer {i - 1} has {kernels[i - 1].shape[1]} outputs")
    return net
