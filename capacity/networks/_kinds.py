"""The typed network kinds and the one ``NET.npz`` reader/writer.

Three kinds, one protocol.  Every kind has ``kind`` (its name in NET.npz), ``widths``,
``activation``, ``meta`` (JSON-able dict), ``apply(x)`` (its forward pass),
``forward_bounded(x, chunk)`` (the same pass with a rigorous rounding bound and kink margins:
``out, bound, margin, rel_margin``), ``exact_params()`` (the weights as exact numbers for the
exact engine) and ``weight_arrays()`` (every kernel-like and bias-like array, for sizes and
dynamic range).

===============  ===================================  =====================================
kind             class                                forward pass
===============  ===================================  =====================================
``mlp``          :class:`MLPNet` (float64)            :func:`capacity.networks.mlp_apply`
``residual``     :class:`ResidualNet` (float64)       :func:`capacity.networks.residual_apply`
``mlp-exact``    :class:`ExactMLPNet` (integers /     exact evaluation (weights beyond float64,
                 rationals, e.g. Vardi's big ints)    e.g. 751-bit integers)
===============  ===================================  =====================================

``NET.npz`` layout.  ``kind`` (string), ``activation`` (string), ``meta`` (a JSON object), and

* ``mlp``: ``kernel_0..kernel_{L-1}`` (in, out) and ``bias_0..bias_{L-1}`` (out,), float64;
  f(x) = act(... act(x @ kernel_0 + bias_0) ...) @ kernel_{L-1} + bias_{L-1}.  NumPy loader::

      f = np.load("NET.npz"); L = sum(k.startswith("kernel_") for k in f.files); h = x
      for l in range(L): h = h @ f[f"kernel_{l}"] + f[f"bias_{l}"]; h = np.maximum(h, 0) if l < L - 1 else h

* ``residual``: the read-out in ``kernel_0``/``bias_0`` plus ``res_in_kernel``, ``res_in_bias``,
  ``res_U``, ``res_s``, ``res_V`` (layout in :mod:`capacity.networks._residual`);
* ``mlp-exact``: ``exact_kernel_l`` / ``exact_bias_l`` as arrays of decimal integer strings
  (the integer kind: Vardi et al.'s weights); there are no float kernels, so a plain loader
  cannot mistake the file for a float network.  (A rational exact network is certified in
  memory; only integer exact networks are saved.)
"""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction
from typing import ClassVar, Union

import jax.numpy as jnp
import numpy as np

from capacity._files import atomic_save_npz, int_strings, json_dumps_standard, json_object, read_npz, text_member
from capacity.errors import DataFileError, ShapeError
from capacity.networks._mlp import ACTIVATIONS, MLP, activation_fn, check_layers, mlp_apply, mlp_forward_bounded
from capacity.networks._residual import ARRAY_NAMES, ResidualParams, ResNet, check_params, residual_apply, \
    residual_forward_bounded


@dataclasses.dataclass
class MLPNet:
    """A fully connected ReLU / hard-tanh network with float64 weights (kernel (in, out))."""

    kernels: list
    biases: list
    activation: str = "relu"
    meta: dict = dataclasses.field(default_factory=dict)
    kind: ClassVar[str] = "mlp"

    def __post_init__(self):
        self.kernels = [np.asarray(k, dtype=np.float64) for k in self.kernels]
        self.biases = [np.asarray(b, dtype=np.float64) for b in self.biases]
        check_layers(self.kernels, self.biases)
        activation_fn(self.activation)

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.kernels[0].shape[0]),) + tuple(int(k.shape[1]) for k in self.kernels)

    def apply(self, x):
        return mlp_apply([jnp.asarray(k) for k in self.kernels], [jnp.asarray(b) for b in self.biases], x,
                         self.activation)

    def forward_bounded(self, x, chunk: int = 4096):
        return mlp_forward_bounded([jnp.asarray(k) for k in self.kernels], [jnp.asarray(b) for b in self.biases],
                                   jnp.asarray(x, jnp.float64), self.activation, chunk)

    def exact_params(self):
        """(kernels, biases): float64 numbers are dyadic rationals, so the stored arrays are exact."""
        return self.kernels, self.biases

    def weight_arrays(self) -> tuple[list, list]:
        return list(self.kernels), list(self.biases)

    def module(self) -> MLP:
        """The network as a Flax NNX module with float64 ``nnx.Param`` weights."""
        return MLP(self.kernels, self.biases, self.activation)

    def _arrays(self) -> dict:
        out = {}
        for i, (w, b) in enumerate(zip(self.kernels, self.biases)):
            out[f"kernel_{i}"], out[f"bias_{i}"] = w, b
        return out


@dataclasses.dataclass
class ResidualNet:
    """A residual ReLU network (layout: :mod:`capacity.networks._residual`)."""

    params: ResidualParams
    meta: dict = dataclasses.field(default_factory=dict)
    kind: ClassVar[str] = "residual"
    activation: ClassVar[str] = "relu"

    def __post_init__(self):
        self.params = check_params(self.params)

    @property
    def is_exact(self) -> bool:
        """True for exact (object-array) weights: only the exact engine evaluates those."""
        return self.params.w_in.dtype == object

    def _float_params(self) -> ResidualParams:
        if self.is_exact:
            raise ShapeError("this residual network has exact rational weights: evaluate it with "
                             "capacity.verification.certify (the exact engine), not in float64")
        return ResidualParams(*(jnp.asarray(a) for a in self.params))

    @property
    def widths(self) -> tuple[int, ...]:
        """(dx, D, dy); the block structure is in :attr:`ResidualParams.dims`."""
        dx, d, _, _, dy = self.params.dims
        return (dx, d, dy)

    def apply(self, x):
        return residual_apply(self._float_params(), x)

    def forward_bounded(self, x, chunk: int = 4096):
        return residual_forward_bounded(self._float_params(), jnp.asarray(x, jnp.float64), chunk)

    def exact_params(self) -> ResidualParams:
        return self.params

    def weight_arrays(self) -> tuple[list, list]:
        p = self.params
        return [p.w_in, p.u, p.v, p.r], [p.b_in, p.s, p.c]

    def module(self) -> ResNet:
        return ResNet(self.params)

    def as_mlp(self) -> MLPNet:
        """The same function as a plain ReLU MLP (exactly, in exact arithmetic): the stream h is carried
        as (relu(h), relu(-h)), each block becomes two layers.

        Layers: x -> (relu(h0), relu(-h0)) with h0 = x W_in + b_in; per block, (p, q) -> (p, q,
        relu((p - q) U + s)) -> (relu(h'), relu(-h')) with h' = p - q + a V; read-out (p - q) R + c.
        Every weight is a stored weight, its negative, 0 or 1, so no rounding enters.  Used where an
        algorithm is written for MLPs (linear pieces on a line); its extra units switch where a stream
        coordinate changes sign, so activation regions (raw pieces) may be finer than the residual
        network's, while the linear pieces of f are the same.
        """
        if self.is_exact:
            raise ShapeError("as_mlp needs float64 weights; this residual network has exact rational weights")
        w_in, b_in, U, S, V, R, c = self.params
        d = w_in.shape[1]
        eye, zero = np.eye(d), np.zeros((d, d))
        kernels = [np.concatenate([w_in, -w_in], axis=1)]
        biases = [np.concatenate([b_in, -b_in])]
        for u, s_b, v in zip(U, S, V):
            k = u.shape[1]
            kernels.append(np.block([[eye, zero, u], [zero, eye, -u]]))
            biases.append(np.concatenate([np.zeros(2 * d), s_b]))
            kernels.append(np.concatenate([np.block([[eye, -eye], [-eye, eye]]), np.concatenate([v, -v], axis=1)], axis=0))
            biases.append(np.zeros(2 * d))
            del k
        kernels.append(np.concatenate([R, -R], axis=0))
        biases.append(np.asarray(c, np.float64))
        return MLPNet(kernels, biases, "relu", dict(self.meta, converted_from="residual"))

    def _arrays(self) -> dict:
        p = self.params
        out = dict(zip(ARRAY_NAMES, (p.w_in, p.b_in, p.u, p.s, p.v)))
        out["kernel_0"], out["bias_0"] = p.r, p.c
        return out


def _exact_number(v):
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else v
    if hasattr(v, "p") and hasattr(v, "q"):  # flint.fmpq
        q = Fraction(int(v.p), int(v.q))
        return q.numerator if q.denominator == 1 else q
    if isinstance(v, float):
        return _exact_number(Fraction(v))
    raise ShapeError(f"an exact network holds integers or rationals; got {type(v).__name__}")


def _exact_array(a) -> np.ndarray:
    a = np.asarray(a, dtype=object)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = _exact_number(v)
    return out


@dataclasses.dataclass
class ExactMLPNet:
    """A fully connected network whose weights are exact integers / rationals (object arrays).

    Only exact arithmetic evaluates it faithfully: :meth:`apply` and :meth:`forward_bounded`
    evaluate it exactly and round the outputs to float64 (bound: half an ulp of each output).
    """

    kernels: list
    biases: list
    activation: str = "relu"
    meta: dict = dataclasses.field(default_factory=dict)
    kind: ClassVar[str] = "mlp-exact"

    def __post_init__(self):
        self.kernels = [_exact_array(k) for k in self.kernels]
        self.biases = [_exact_array(b) for b in self.biases]
        check_layers(self.kernels, self.biases)
        activation_fn(self.activation)

    @property
    def widths(self) -> tuple[int, ...]:
        return (int(self.kernels[0].shape[0]),) + tuple(int(k.shape[1]) for k in self.kernels)

    def exact_params(self):
        return self.kernels, self.biases

    def apply(self, x):
        from capacity.exact import exact_outputs

        rows = exact_outputs(self.kernels, self.biases, np.asarray(x, np.float64), self.activation)
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float64)

    def forward_bounded(self, x, chunk: int = 4096):
        from capacity.exact import exact_outputs

        rows = exact_outputs(self.kernels, self.biases, np.asarray(x, np.float64), self.activation)
        out = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
        bound = np.spacing(np.abs(out)) / 2.0  # round-to-nearest of the exact value
        nan = np.full(out.shape[:1], np.nan)  # kink distances: the exact engine's certificate reports them
        return out, bound, nan, nan

    def weight_arrays(self) -> tuple[list, list]:
        return list(self.kernels), list(self.biases)

    def _arrays(self) -> dict:
        if any(isinstance(v, Fraction) for a in self.kernels + self.biases for v in a.ravel().tolist()):
            raise ShapeError("only exact networks with integer weights are saved (NET.npz kind 'mlp-exact'); this "
                             "one has rational weights: certify it in memory (capacity.certify)")
        out = {}
        for i, (w, b) in enumerate(zip(self.kernels, self.biases)):
            out[f"exact_kernel_{i}"] = np.array([str(v) for v in w.ravel().tolist()], dtype=str).reshape(w.shape)
            out[f"exact_bias_{i}"] = np.array([str(v) for v in b.tolist()], dtype=str)
        return out


Network = Union[MLPNet, ResidualNet, ExactMLPNet]
KINDS = {cls.kind: cls for cls in (MLPNet, ResidualNet, ExactMLPNet)}


# ------------------------------------------------------------------------ NET.npz


def versions() -> dict:
    """Library versions, recorded in every file we write."""
    import flax
    import jax
    import optax

    from capacity._version import __version__

    return {"relu-capacity": __version__, "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__}


def json_default(o):
    """JSON encoder fallback for NumPy scalars and arrays, Fractions (as strings) and other objects."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def meta_json(meta: dict) -> str:
    """``meta`` as standard JSON text (non-finite floats become null; the one encoder for NET.npz)."""
    return json_dumps_standard(meta, default=json_default)


def save_net(path: str | os.PathLike, net: Network) -> None:
    """Write ``NET.npz`` for any kind, atomically (a crash never leaves a half-written file or a
    temporary file).  Callers that must not overwrite check first with
    :func:`capacity._files.check_output_path` (the CLI does)."""
    arrays = net._arrays()
    meta = dict(net.meta)
    meta.setdefault("versions", versions())
    arrays["activation"] = np.array(net.activation)
    arrays["kind"] = np.array(net.kind)
    arrays["meta"] = np.array(meta_json(meta))
    atomic_save_npz(path, arrays)


#: NET.npz members and their kinds (:func:`capacity._files.read_npz`); anything else is refused
NET_MEMBERS = {"kernel_{i}": "real", "bias_{i}": "real", "exact_kernel_{i}": "intstr", "exact_bias_{i}": "intstr",
               "activation": "text", "kind": "text", "meta": "text",
               **{name: "real" for name in ARRAY_NAMES}}
#: types of the meta fields the toolkit reads (others are kept as they are)
META_FIELDS = {"construction": str, "widths": list, "n": int, "seed": int, "record": dict, "certification": dict,
               "versions": dict, "data": (str, dict), "targets": str}


def load_net(path: str | os.PathLike, *, max_bytes: int | None = None) -> Network:
    """Read ``NET.npz`` of any kind, validated before use; raises :class:`DataFileError` (or
    :class:`capacity.errors.FileLimitError`) saying what is wrong and where.

    Sizes are checked against the memory cap before anything is allocated, nothing is unpickled,
    weights must be finite (the first non-finite weight is named), exact weights must be decimal
    integers of bounded length, and ``meta`` must be a JSON object with fields of the right types.
    """
    path = os.fspath(path)
    arrays = read_npz(path, allowed=NET_MEMBERS, max_bytes=max_bytes, unknown="error", what="NET.npz")
    kind = text_member(arrays, "kind", path=path, default="mlp", choices=tuple(KINDS))
    activation = text_member(arrays, "activation", path=path, default="relu", choices=ACTIVATIONS)
    meta = json_object(text_member(arrays, "meta", path=path, default="{}"), path=path, fields=META_FIELDS)
    if meta.get("targets", "one-hot") not in ("one-hot", "class-index"):
        raise DataFileError(f"{path}: meta field 'targets' must be 'one-hot' or 'class-index'; got {meta['targets']!r}")
    prefix = "exact_" if kind == "mlp-exact" else ""
    n_layers = sum(1 for k in arrays if k.startswith(prefix + "kernel_"))
    if n_layers == 0:
        raise DataFileError(f"{path}: no {prefix}kernel_0 array; a NET.npz of kind {kind!r} needs "
                            f"{prefix}kernel_0..{prefix}kernel_(L-1) and {prefix}bias_0..{prefix}bias_(L-1)")
    other = "" if prefix else "exact_"
    if any(k.startswith(other + "kernel_") or k.startswith(other + "bias_") for k in arrays):
        raise DataFileError(f"{path}: a NET.npz of kind {kind!r} holds {'exact' if other else 'float'} weights too; "
                            "one file holds one kind of weights")
    kernels, biases = [], []
    for i in range(n_layers):
        kn, bn = f"{prefix}kernel_{i}", f"{prefix}bias_{i}"
        if kn not in arrays or bn not in arrays:
            raise DataFileError(f"{path}: layer {i} is missing {kn} or {bn}")
        if kind == "mlp-exact":
            kernels.append(int_strings(arrays[kn], path=path, key=kn))
            biases.append(int_strings(arrays[bn], path=path, key=bn))
        else:
            kernels.append(_finite(arrays[kn], kn, path))
            biases.append(_finite(arrays[bn], bn, path))
    try:
        if kind == "mlp":
            return MLPNet(kernels, biases, activation, meta)
        if kind == "mlp-exact":
            return ExactMLPNet(kernels, biases, activation, meta)
        missing = [k for k in ARRAY_NAMES if k not in arrays]
        if missing:
            raise DataFileError(f"{path}: a residual NET.npz needs arrays {', '.join(missing)} "
                                "(layout: capacity.networks._residual)")
        if n_layers != 1:
            raise DataFileError(f"{path}: a residual NET.npz has exactly one kernel (the read-out); got {n_layers}")
        if activation != "relu":
            raise DataFileError(f"{path}: residual networks use activation 'relu'; got {activation!r}")
        p = ResidualParams(*(_finite(arrays[k], k, path) for k in ARRAY_NAMES), kernels[0], biases[0])
        return ResidualNet(p, meta)
    except ShapeError as e:
        if isinstance(e, DataFileError):
            raise
        raise DataFileError(f"{path}: {e}") from None


def _finite(a: np.ndarray, name: str, path: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataFileError(f"{path}: {name}{list(idx)} is {a[idx]} ({int(bad.sum())} non-finite weights); "
                            "weights must be finite numbers")
    return a
