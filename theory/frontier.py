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

Only rows whose level is not ``failed`` are drawn.  Theory on top: the VC lower bound
(W >= √N, constants dropped: VC dim O(W²) must reach N), Yun et al.'s necessity for
3-layer nets (2 d1 d2 + d2 + 2 >= N: about N/2 weights and √(2N) neurons), and the 53-bit
float64 significand.  :func:`crossovers` finds where measured curves cross (log-log
interpolation between grid points).

Data: Gaussian inputs in ℝ^10; real labels in [-1, 1] (zhang, bubeck, yun3), two classes
(baum), four classes (hardt-ma on unit-normalised inputs, vardi).  Regenerate with
``capacity frontier [--quick] [--figures-dir figures]``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys
import time

import numpy as np

DX = 10
FULL_NS = [10, 30, 100, 300, 1000, 3000, 10000]
QUICK_NS = [10, 100, 1000]
SPECS = {  # name: (labels, full grid, quick grid, exact tier up to N)
    "zhang": ("real", FULL_NS, QUICK_NS, 10**9),
    "baum": ("classes2", FULL_NS, QUICK_NS, 10**9),
    "bubeck": ("real", FULL_NS, QUICK_NS, 10**9),
    "yun3": ("real", FULL_NS, QUICK_NS, 10**9),  # exact tier: about 15 s at N = 1e4
    "hardt-ma": ("classes4-sphere", FULL_NS, QUICK_NS, 2000),
    "vardi": ("classes4", FULL_NS + [30000], QUICK_NS, 10**9),
}
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


def _sizes(c):
    """(arrays_2d, arrays_1d, neurons, depth) of a built construction, by kind."""
    if c.kind == "residual":
        e = c.extra
        u, s, v = e["res_U"], e["res_s"], e["res_V"]
        a2 = [e["res_in_kernel"]] + list(u) + list(v) + list(c.kernels)
        a1 = [e["res_in_bias"]] + list(s) + list(c.biases)
        return a2, a1, int(u.shape[0] * u.shape[2]), 2 * int(u.shape[0]) + 2
    neurons = sum(int(np.shape(k)[1]) for k in c.kernels[:-1])
    return list(c.kernels), list(c.biases), neurons, len(c.kernels)


def bits_of(arrays) -> tuple[int, int, float]:
    """(max significand bits, fixed-point bits, max |w|) over float64 or exact-integer arrays."""
    from capacity.constructions._exact import float_significand_bits

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
    """Build construction ``name`` on N random points, verify, and measure its size."""
    from capacity.constructions import get
    from capacity.constructions._exact import count_parameters

    labels = SPECS[name][0] if name in SPECS else "real"
    ds = dataset_for(labels, n, seed)
    entry = get(name)
    widths = None
    if name == "yun3":
        from theory.bounds import yun3_smallest_widths

        widths = list(yun3_smallest_widths(n))
    t0 = time.perf_counter()
    c = entry.build(ds, widths, seed=seed)
    build_s = time.perf_counter() - t0
    float_level, float_res, verify_s = "n/a", math.nan, 0.0
    if c.kind == "mlp":
        from capacity.verify import verify_network

        rep = verify_network(c.net_file(), ds, tol=tol)
        float_level, float_res, verify_s = rep.level, rep.max_residual, rep.seconds
    elif c.kind == "residual":
        from capacity.resnet import verify_residual

        rep = verify_residual(c.net_file(), ds, tol=tol)
        float_level, float_res, verify_s = rep.level, rep.max_residual, rep.seconds
    exact_level, exact_res, certify_s = "n/a", math.nan, 0.0
    if entry.certify is not None and n <= exact_max:
        cert = entry.certify(ds, widths, construction=c, tol=tol)
        exact_level, exact_res, certify_s = cert.level, cert.exact_residual_float, cert.seconds
    level = max((lv for lv in (float_level, exact_level) if lv in RANK), key=RANK.get, default="failed")
    a2, a1, neurons, depth = _sizes(c)
    counts = count_parameters(a2, a1)
    sig, fixed, mx = bits_of(a2 + a1)
    return Row(name, n, ds.dx, counts["distinct"], counts["nonzero"], counts["dense"], neurons, depth, sig, fixed,
               mx, level, float_level, exact_level, float(float_res), float(exact_res), build_s, verify_s, certify_s)


def yun_necessity(n: int) -> tuple[int, int]:
    """(weights d1 d2 + d2, neurons d1 + d2) of the smallest (d1, d2) with 2 d1 d2 + d2 + 2 >= N (by neurons)."""
    best = None
    for d1 in range(1, max(2, int(math.isqrt(n)) + 3)):
        d2 = max(1, math.ceil((n - 2) / (2 * d1 + 1)))
        key = (d1 + d2, d1 * d2 + d2)
        best = key if best is None or key < best else best
    return best[1], best[0]


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


def _atomic_csv(path: str, header: list[str], rows: list[list]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


def draw(rows: list[Row], path_stem: str) -> None:
    """frontier.png/.pdf with three log-log panels and the theory lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.level != "failed"]
    names = sorted({r.construction for r in ok})
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    markers = dict(zip(names, "osD^vP*X"))
    for ax, field, ylabel in zip(axes, ("params", "neurons", "bits"),
                                 ("parameters (distinct non-zero)", "hidden neurons", "bits per weight (max significand)")):
        for name in names:
            pts = sorted((r.n, getattr(r, field)) for r in ok if r.construction == name)
            if pts:
                ax.plot(*zip(*pts), marker=markers[name], label=name)
        all_n = sorted({r.n for r in ok})
        if all_n:
            ns = np.geomspace(min(all_n), max(all_n), 50)
            if field == "params":
                ax.plot(ns, np.sqrt(ns), "k--", lw=1, label="VC lower bound √N (constants dropped)")
                ax.plot(ns, [yun_necessity(int(v))[0] for v in ns], "k:", lw=1.5,
                        label="Yun necessity, 3-layer (2d₁d₂+d₂+2 ≥ N)")
            elif field == "neurons":
                ax.plot(ns, [yun_necessity(int(v))[1] for v in ns], "k:", lw=1.5,
                        label="Yun necessity, 3-layer: min d₁+d₂")
            else:
                ax.axhline(53, color="k", ls="--", lw=1, label="float64 significand (53 bits)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (points memorized)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Memorization frontier: sizes measured from built and verified networks "
                 f"(Gaussian data in R^{DX}; every point passed its verification tier)")
    fig.tight_layout()
    for ext in ("png", "pdf"):
        tmp = f"{path_stem}.tmp.{ext}"
        fig.savefig(tmp, dpi=130)
        os.replace(tmp, f"{path_stem}.{ext}")
    plt.close(fig)


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
    draw(rows, stem)
    return {"rows": rows, "crossovers": cross, "files": [stem + ext for ext in (".png", ".pdf", ".csv", "_crossovers.csv")]}
