"""The memorization frontier: measured sizes of every construction built and verified here, against N.

For each construction and N, :func:`measure` builds the network on random data, verifies it
(float64 verifier with rigorous bound, and the construction's exact tier where it is
registered and affordable) and measures, *from the built arrays*:

* ``params``: distinct non-zero parameters (non-zero kernel entries with identical columns of a
  layer counted once, as Zhang's shared projection, plus non-zero biases); ``params_dense`` and
  ``params_nonzero`` are in the CSV too;
* ``neurons``: hidden units (residual nets: hidden ReLUs of all blocks);
* ``bits``: bits per weight = the largest significand of any weight (float64: significant bits
  used, <= 53; exact integers: bit length of the odd part), and ``fixed_point_bits`` =
  log2(max|w| / finest grid), the width of a common fixed-point format holding all weights.

Only rows whose level is not ``failed`` are drawn (:mod:`capacity.plots.frontier`).  :func:`crossovers` finds where measured curves cross (log-log
interpolation between grid points).

Data: Gaussian inputs in ℝ^10; real labels in [-1, 1] (zhang, bubeck, yun3), two classes
(baum), four classes (hardt-ma on unit-normalised inputs, vardi).  Regenerate with
``capacity frontier [--quick] [--figures-dir figures]``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys

import numpy as np

from capacity.plots.frontier import atomic_csv as _atomic_csv, draw

DX = 10
FULL_NS = [10, 30, 100, 300, 1000, 3000, 10000]
QUICK_NS = [10, 100, 1000]
SPECS = {  # name: (labels, full grid, quick grid, exact tier up to N)
    "zhang": ("real", FULL_NS, QUICK_NS, 10**9),
    "baum": ("classes2", FULL_NS, QUICK_NS, 10**9),
    "bubeck": ("real", FULL_NS, QUICK_NS, 10**9),
    "yun3": ("real", FULL_NS, QUICK_NS, 10**9),  # exact tier: about 15 s at N = 1e4
    "hardt-ma": ("classes4-sphere", FULL_NS, QUICK_NS, 2000),
    # Vardi's ~1000-layer integer networks: the exact engine (dense modular products per layer) takes
    # minutes beyond N = 3000 on 2 cores, so the grid stops there (the earlier sparse evaluator reached 3e4)
    "vardi": ("classes4", [n for n in FULL_NS if n <= 3000], QUICK_NS, 10**9),
}
REBUILD_MAX = 10**4  # the rational rebuild (long denominators: canonical-rational path) is certified up to this N
RANK = {"certified-exact": 3, "certified-bound": 2, "measured": 1, "failed": 0}
COLUMNS = ["construction", "n", "dx", "params", "params_nonzero", "params_dense", "neurons", "depth", "bits",
           "fixed_point_bits", "max_abs_weight", "level", "float_level", "exact_level", "float_residual",
           "exact_residual", "build_s", "verify_s", "certify_s"]


@dataclasses.dataclass
class Row:
    construction: str
    n: int
    dx: int
    params: int
    params_nonzero: int
    params_dense: int
    neurons: int
    depth: int
    bits: int
    fixed_point_bits: int
    max_abs_weight: float
    level: str
    float_level: str
    exact_level: str
    float_residual: float
    exact_residual: float
    build_s: float
    verify_s: float
    certify_s: float


def dataset_for(labels: str, n: int, seed: int = 0):
    from capacity.data import generate, make_dataset

    if labels == "real":
        return generate("gaussian", n, DX, seed=seed)
    classes = int(labels[len("classes"):].split("-")[0])
    ds = generate("gaussian", n, DX, seed=seed, classes=classes)
    if labels.endswith("sphere"):
        ds = make_dataset(ds.x / np.linalg.norm(ds.x, axis=1, keepdims=True), ds.y)
    return ds


def _odd_bits(v) -> int:
    v = abs(int(v))
    if v == 0:
        return 0
    return (v >> ((v & -v).bit_length() - 1)).bit_length()


def _sizes(net):
    """(arrays_2d, arrays_1d, neurons, depth) of a built network, by kind."""
    from capacity.networks import ResidualNet

    a2, a1 = net.weight_arrays()
    if isinstance(net, ResidualNet):
        _, _, nb, k, _ = net.params.dims
        return a2, a1, nb * k, 2 * nb + 2
    neurons = sum(int(np.shape(k)[1]) for k in a2[:-1])
    return a2, a1, neurons, len(a2)


def bits_of(arrays) -> tuple[int, int, float]:
    """(max significand bits, fixed-point bits, max |w|) over float64 or exact-integer arrays."""
    from capacity.networks import float_significand_bits

    if any(np.asarray(a).dtype == object for a in arrays):
        vals = [int(v) for a in arrays for v in np.asarray(a).ravel().tolist() if v]
        sig = max((_odd_bits(v) for v in vals), default=0)
        mx = max((abs(v) for v in vals), default=0)
        return sig, mx.bit_length(), float(mx) if mx.bit_length() < 1024 else math.inf
    sig = max(float_significand_bits(a) for a in arrays)
    allw = np.concatenate([np.abs(np.asarray(a, np.float64).ravel()) for a in arrays])
    nz = allw[allw > 0]
    if not nz.size:
        return 0, 0, 0.0
    m, e = np.frexp(nz)  # nz = m 2^e exactly, m in [0.5, 1)
    mant = (m * 2.0**53).astype(np.uint64)
    tz = np.zeros(mant.shape, np.int64)
    for _ in range(53):  # trailing zeros of each significand
        z = (mant & np.uint64(1)) == 0
        if not z.any():
            break
        tz += z
        mant = np.where(z, mant >> np.uint64(1), mant)
    lowest = int(np.min(e - 53 + tz))  # finest power-of-two grid any weight needs
    return sig, int(e.max() - lowest), float(nz.max())


def measure(name: str, n: int, *, seed: int = 0, exact_max: int = 10**9, tol: float = 1e-6) -> Row:
    """Build construction ``name`` on N random points, verify (exactly when N <= exact_max), measure its size."""
    from capacity.networks import count_parameters
    from capacity.workflow import build_and_check
    from theory.bounds import yun3_smallest_widths

    labels = SPECS[name][0] if name in SPECS else "real"
    ds = dataset_for(labels, n, seed)
    widths = list(yun3_smallest_widths(n)) if name == "yun3" else None
    # the saved network is always certified exactly (fast); the rational rebuild only up to REBUILD_MAX
    checked = build_and_check(name, ds, widths, seed=seed, tol=tol, certify_exactly=n <= exact_max,
                              certify_construction=n <= REBUILD_MAX)
    rep = checked.report
    float_level = "n/a" if rep.dtype == "exact" else rep.float_level
    float_res = rep.max_residual if rep.dtype != "exact" else math.nan
    ex = checked.construction_exact or checked.file_exact
    exact_level, exact_res, certify_s = ("n/a", math.nan, 0.0) if ex is None else (
        ex.level, ex.exact_residual_float, ex.seconds)
    level = max((lv for lv in (float_level, exact_level) if lv in RANK), key=RANK.get, default="failed")
    a2, a1, neurons, depth = _sizes(checked.network)
    counts = count_parameters(a2, a1)
    sig, fixed, mx = bits_of(a2 + a1)
    return Row(name, n, ds.dx, counts["distinct"], counts["nonzero"], counts["dense"], neurons, depth, sig, fixed,
               mx, level, float_level, exact_level, float(float_res), float(exact_res), checked.build_seconds,
               rep.float_seconds, certify_s)


def crossovers(rows: list[Row], field: str = "params") -> list[dict]:
    """N where two constructions' measured ``field`` curves cross (log-log interpolation)."""
    by = {}
    for r in rows:
        if r.level != "failed":
            by.setdefault(r.construction, {})[r.n] = getattr(r, field)
    names = sorted(by)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ns = sorted(set(by[a]) & set(by[b]))
            diff = [math.log(by[a][n]) - math.log(by[b][n]) for n in ns]
            for k in range(1, len(ns)):
                if diff[k - 1] == 0 or diff[k - 1] * diff[k] < 0:
                    t = diff[k - 1] / (diff[k - 1] - diff[k]) if diff[k - 1] != diff[k] else 0.0
                    n_x = math.exp(math.log(ns[k - 1]) + t * (math.log(ns[k]) - math.log(ns[k - 1])))
                    smaller = a if diff[k] < 0 else b
                    out.append({"field": field, "a": a, "b": b, "n_cross": round(n_x), "between": f"{ns[k-1]}-{ns[k]}",
                                "smaller_after": smaller})
    return out


def run(figures_dir: str = "figures", quick: bool = False, names: list[str] | None = None, log=sys.stderr) -> dict:
    """Measure every construction over its N grid, write the CSVs and the figure; returns a summary."""
    from tqdm import tqdm

    from capacity.constructions import names as registered

    os.makedirs(figures_dir, exist_ok=True)
    avail = set(registered())
    todo = []
    for name in names or list(SPECS):
        if name not in avail:
            print(f"frontier: construction {name!r} is not registered yet; skipped", file=log)
            continue
        labels, full, qk, exact_max = SPECS[name]
        todo += [(name, n, exact_max) for n in (qk if quick else full)]
    rows: list[Row] = []
    stem = os.path.join(figures_dir, "frontier")
    for name, n, exact_max in tqdm(todo, desc="frontier", file=log):
        try:
            rows.append(measure(name, n, exact_max=exact_max))
        except Exception as e:  # a construction that cannot build is reported, not fatal
            print(f"frontier: {name} at N={n} failed to build/verify: {type(e).__name__}: {e}", file=log)
        # progress goes to a side file: an interrupted run must not replace a finished frontier.csv
        _atomic_csv(stem + ".partial.csv", COLUMNS, [[getattr(r, c) for c in COLUMNS] for r in rows])
    _atomic_csv(stem + ".csv", COLUMNS, [[getattr(r, c) for c in COLUMNS] for r in rows])
    if os.path.exists(stem + ".partial.csv"):
        os.remove(stem + ".partial.csv")
    cross = crossovers(rows, "params") + crossovers(rows, "neurons")
    _atomic_csv(stem + "_crossovers.csv", ["field", "a", "b", "n_cross", "between", "smaller_after"],
                [[c[k] for k in ("field", "a", "b", "n_cross", "between", "smaller_after")] for c in cross])
    draw(rows, stem, dx=DX, label_kinds={name: spec[0] for name, spec in SPECS.items()})
    return {"rows": rows, "crossovers": cross, "files": [stem + ext for ext in (".png", ".pdf", ".csv", "_crossovers.csv")]}
