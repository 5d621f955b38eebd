"""Exercise 8: the float precision frontier of the tight construction, explained by eps * span / min-gap."""

from __future__ import annotations

import functools

import numpy as np

from capacity.exercises._core import Check, Exercise, load_source, need, tally

NS = (8, 32, 128, 512)
DX = 4
TOL = {"float32": 1e-4, "float64": 1e-11}
PAD_WIDTHS = (48, 48)  # >= yun3_smallest_widths(max(NS)) = (44, 48)
SEED = 8201  # one fresh dataset per N, shared by the public checks (builds are the slow part)
BAND = 10.0  # measured / predicted must lie in [1/BAND, BAND]

STATEMENT = r"""
# Exercise 8: the float precision frontier

**Theorem** (`yun3-relu`).  Two hidden layers with $4\lfloor d_1/4\rfloor\lfloor d_2/4\rfloor \ge N$
memorize any $N$ distinct points **in exact arithmetic**.  In floating point the construction
(`capacity.constructions.build("yun3", ...)`) projects the data to a line, $t_i = u^\top x_i$,
and its slopes scale like $1/\min_i(t_{(i+1)} - t_{(i)})$ while its values span
$t_{(N)} - t_{(1)}$; the rounding error of the forward pass is then about

$$ \text{residual} \approx c\,\varepsilon\,\frac{\text{span}}{\text{min gap}}, \qquad
   \varepsilon = 2^{-23}\ (\text{float32}),\ 2^{-52}\ (\text{float64}), $$

with a modest constant $c$.  As $N$ grows the ratio span/min-gap grows (about $N^2$ for random
projections), so verification at a fixed tolerance fails beyond some $N$: the *frontier*.

**Tasks.**

1. `span_over_min_gap(t)`: span / smallest gap of the sorted values `t`.
2. `max_residual(kernels, biases, x, y, dtype)`: cast weights **and** data to `dtype`
   (`np.float32` or `np.float64`), evaluate with `capacity.networks.mlp_apply`, and return
   $\max_i |f(x_i) - y_i|$ as a Python float.
3. `predicted_residual(dtype, ratio)`: $\varepsilon(\text{dtype})\cdot$ ratio (machine epsilon of
   the dtype, `np.finfo(dtype).eps`).
4. `frontier(ns, residuals, tol)`: the largest `N` of the increasing grid `ns` such that the
   residual is $\le$ `tol` at that `N` and at every smaller `N` of the grid (0 if the first fails).

The checker builds the tight construction on fresh Gaussian data (dx = @DX@, N in @NS@) and
checks your residuals against its own measurements, your predictions against the measurements
(within a factor @BAND@), and your frontiers for float32 (tol @TOL32@) and
float64 (tol @TOL64@).
""".replace("@DX@", str(DX)).replace("@NS@", str(NS)).replace("@BAND@", f"{BAND:g}")
STATEMENT = STATEMENT.replace("@TOL32@", f"{TOL['float32']:g}").replace("@TOL64@", f"{TOL['float64']:g}")

STUB = '''"""Exercise 8: the float precision frontier.  Fill in the four functions."""
import jax.numpy as jnp
import numpy as np

from capacity.networks import mlp_apply


def span_over_min_gap(t):
    raise NotImplementedError("span_over_min_gap")


def max_residual(kernels, biases, x, y, dtype):
    """max_i |f(x_i) - y_i| with weights and inputs cast to dtype."""
    raise NotImplementedError("max_residual")


def predicted_residual(dtype, ratio):
    raise NotImplementedError("predicted_residual")


def frontier(ns, residuals, tol):
    """Largest N (increasing grid ns) passing tol there and at every smaller N; 0 if none."""
    raise NotImplementedError("frontier")
'''

SOLUTION = '''"""Exercise 8, reference solution."""
import jax.numpy as jnp
import numpy as np

from capacity.networks import mlp_apply


def span_over_min_gap(t):
    ts = np.sort(np.asarray(t, dtype=np.float64))
    return float((ts[-1] - ts[0]) / np.min(np.diff(ts)))


def max_residual(kernels, biases, x, y, dtype):
    ks = [jnp.asarray(k, dtype) for k in kernels]
    bs = [jnp.asarray(b, dtype) for b in biases]
    out = mlp_apply(ks, bs, jnp.asarray(x, dtype))
    res = np.asarray(out, dtype=np.float64).reshape(-1) - np.asarray(y, dtype=np.float64).reshape(-1)
    return float(np.max(np.abs(res)))


def predicted_residual(dtype, ratio):
    return float(np.finfo(dtype).eps) * ratio


def frontier(ns, residuals, tol):
    best = 0
    for n, r in zip(ns, residuals):
        if r > tol:
            break
        best = n
    return best
'''

HINTS = (
    "span / min gap: sort first, then (t[-1] - t[0]) / min(diff(t)).  Machine epsilon: np.finfo(dtype).eps.",
    "Cast every kernel, every bias and x to the dtype: one float64 array left in the product promotes the whole "
    "computation to float64 and hides the float32 error.",
    "frontier: walk the grid in order and stop at the first N whose residual exceeds tol; return the last N "
    "that passed (not the one that failed).",
)


@functools.lru_cache(maxsize=None)
def _reference():
    return load_source(SOLUTION, "ex08_reference")


@functools.lru_cache(maxsize=16)
def problem(n: int, seed: int):
    """(kernels, biases, x, y, projections t) of the tight yun3 construction on fresh Gaussian data.

    Every network is padded with idle hidden units (zero weights in and out: exactly the same
    function, the extra terms are exact zeros) to the widths of the largest N, and x, y repeat
    their rows up to max(NS) (the maximum residual over the rows is unchanged), so that all
    networks share one shape and JAX compiles the forward pass once per dtype.  ``t`` holds the
    N real projections only.
    """
    from capacity.constructions import build
    from capacity.data import generate, make_dataset
    from theory.bounds import yun3_smallest_widths

    raw = generate("gaussian", n, DX, 1, seed=seed)
    # inputs exactly representable in float32: the float32 residual then measures the network's
    # rounding alone, not the rounding of the inputs
    ds = make_dataset(raw.x.astype(np.float32).astype(np.float64), raw.y)
    con = build("yun3", ds, list(yun3_smallest_widths(n)))
    t = ds.x @ np.asarray(con.record["projection"])
    sizes = (DX, *PAD_WIDTHS, 1)
    ks, bs = [], []
    for k, b, (a, c) in zip(con.kernels, con.biases, zip(sizes[:-1], sizes[1:])):
        kp = np.zeros((a, c))
        kp[: k.shape[0], : k.shape[1]] = k
        bp = np.zeros(c)
        bp[: b.shape[0]] = b
        ks.append(kp), bs.append(bp)
    m = max(NS)
    return ks, bs, np.resize(ds.x, (m, DX)), np.resize(ds.y[:, 0], m), t


@functools.lru_cache(maxsize=16)
def measured(n: int, seed: int, dtype_name: str) -> float:
    ks, bs, x, y, _ = problem(n, seed)
    return _reference().max_residual(ks, bs, x, y, np.dtype(dtype_name))


def check_ratio(module):
    f = need(module, "span_over_min_gap")
    rng = np.random.default_rng(8101)
    items = []
    for trial in range(5):
        t = rng.standard_normal(10 + 20 * trial)
        exp = _reference().span_over_min_gap(t)
        got = float(f(t.copy()))
        items.append((abs(got - exp) <= 8 * np.finfo(np.float64).eps * exp,
                      f"random values, trial {trial} (seed 8101): span/min-gap = {got:.10g}, expected {exp:.10g}"))
    return tally(items)


def check_predicted(module):
    f = need(module, "predicted_residual")
    items = []
    for dt in (np.float32, np.float64):
        for ratio in (1.0, 123.5, 7.5e4):
            exp = float(np.finfo(dt).eps) * ratio
            got = float(f(dt, ratio))
            items.append((abs(got - exp) <= 2 * np.finfo(np.float64).eps * exp,
                          f"predicted_residual({dt.__name__}, {ratio:g}) = {got:.6g}, expected {exp:.6g}"))
    return tally(items)


def check_residuals(module):
    f = need(module, "max_residual")
    items = []
    seed = SEED
    for n in NS[:3]:
        ks, bs, x, y, _ = problem(n, seed)
        for name in ("float32", "float64"):
            exp = measured(n, seed, name)
            got = float(f(ks, bs, x, y, np.dtype(name)))
            ok = exp / 4 <= got <= 4 * exp
            items.append((ok, f"N = {n}, {name} (data seed {seed}): max residual {got:.3g}, the checker measures "
                              f"{exp:.3g} (must agree within a factor 4; cast weights, biases and x)"))
    return tally(items)


def check_explained(module):
    """Your prediction eps * span/min-gap against the measured residual, per N and dtype."""
    ratio_f, pred_f = need(module, "span_over_min_gap"), need(module, "predicted_residual")
    items = []
    seed = SEED
    for n in NS:
        t = problem(n, seed)[4]
        ratio = float(ratio_f(t))
        for name in ("float32", "float64"):
            meas = measured(n, seed, name)
            pred = float(pred_f(np.dtype(name), ratio))
            q = meas / pred if pred > 0 else np.inf
            items.append((1 / BAND <= q <= BAND, f"N = {n}, {name} (data seed {seed}): measured {meas:.3g}, "
                                                 f"predicted {pred:.3g}: ratio {q:.3g} outside [1/{BAND:g}, {BAND:g}]"))
    return tally(items)


def check_frontier(module):
    f = need(module, "frontier")
    items = []
    seed = SEED
    for name in ("float32", "float64"):
        res = [measured(n, seed, name) for n in NS]
        exp = _reference().frontier(NS, res, TOL[name])
        got = f(list(NS), res, TOL[name])
        items.append((got == exp, f"{name} frontier at tol {TOL[name]:g} (data seed {seed}; residuals "
                                  f"{', '.join(f'N={n}: {r:.2g}' for n, r in zip(NS, res))}): got {got!r}, expected {exp}"))
    synthetic = [((4, 8, 16), (1e-9, 1e-7, 1e-5), 1e-6, 8), ((4, 8, 16), (1e-3, 1e-9, 1e-9), 1e-6, 0),
                 ((4, 8, 16), (1e-9, 1e-9, 1e-9), 1e-6, 16), ((4, 8, 16), (1e-9, 1e-5, 1e-9), 1e-6, 4),
                 ((10, 20), (1e-6, 2e-6), 1e-6, 10)]
    for ns, res, tol, exp in synthetic:
        got = f(list(ns), list(res), tol)
        items.append((got == exp, f"frontier({list(ns)}, {list(res)}, tol={tol:g}) = {got!r}, expected {exp}"))
    return tally(items)


def check_hidden_other_seed(module):
    ratio_f, pred_f = need(module, "span_over_min_gap"), need(module, "predicted_residual")
    items = []
    for n in NS[:2]:
        t = problem(n, 9991)[4]
        exp = _reference().span_over_min_gap(t)
        got = float(ratio_f(t))
        items.append((abs(got - exp) <= 8 * np.finfo(np.float64).eps * exp, f"N = {n}: span/min-gap {got:.6g} vs {exp:.6g}"))
        items.append((float(pred_f(np.dtype("float32"), exp)) == float(np.finfo(np.float32).eps) * exp,
                      "float32 prediction"))
    return tally(items)


EXERCISE = Exercise(
    id="08-frontier", number=8, title="The float precision frontier: eps * span / min-gap",
    topic="numerics", difficulty="medium", minutes=60, theorem="yun3-relu",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("span / min gap of the projections", 1, check_ratio, "sort before taking the gaps."),
        Check("predicted residual eps(dtype) * ratio", 1, check_predicted,
              "np.finfo(dtype).eps: 2^-23 for float32, 2^-52 for float64."),
        Check("measured residual in float32 and float64", 3, check_residuals,
              "cast kernels, biases and x to the dtype before mlp_apply; compare in float64 afterwards."),
        Check("measurement explained by eps * span / min-gap", 2, check_explained,
              "use the projection's span/min-gap and the dtype's own epsilon."),
        Check("frontier: largest N still passing", 2, check_frontier,
              "return the last N that passed, and stop at the first failure."),
        Check("another dataset", 1, check_hidden_other_seed, "same formulas on other data.", public=False),
    ),
    wrong_answers={
        "float64 epsilon for every dtype": ("np.finfo(dtype).eps) * ratio", "np.finfo(np.float64).eps) * ratio"),
        "only x cast (weights stay float64: the product is promoted to float64)": (
            "out = mlp_apply(ks, bs, jnp.asarray(x, dtype))", "out = mlp_apply(kernels, biases, jnp.asarray(x, dtype))"),
        "frontier returns the first failing N": ("        if r > tol:\n            break\n        best = n",
                                                 "        best = n\n        if r > tol:\n            break"),
        "gaps of the unsorted values": ("ts = np.sort(np.asarray(t, dtype=np.float64))",
                                        "ts = np.asarray(t, dtype=np.float64)"),
    },
    functions=("span_over_min_gap", "max_residual", "predicted_residual", "frontier"),
)
