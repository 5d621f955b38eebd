"""Exercise 5: a small capacity phase diagram from a trained sweep, against the theory lines."""

from __future__ import annotations

import functools

import numpy as np

from capacity.exercises._core import Check, CheckFailed, Exercise, load_source, need, tally
from theory import bounds

WIDTHS = (2, 4, 8)
NS = (4, 8, 16)
SEEDS = 2
DX = 2
LR = 3e-2
STEPS = 2000
TOL = 1e-2

STATEMENT = rf"""
# Exercise 5: a capacity phase diagram from training

**Theorems** (`yun3-relu`, `yun-necessity-3layer`).  For two hidden layers of the same width
$w$ and scalar labels:

* *sufficiency*: every dataset of $N \le 4\lfloor w/4\rfloor^2$ distinct points is memorized
  by some network of these widths;
* *necessity*: if $N > 2w^2 + w + 2$, some dataset of $N$ points is memorized by none.

Training is a different question: does Adam *find* a memorizing network?  The empirical
capacity of a width is the largest $N$ of the grid at which at least half of the seeds
memorized (max residual below a tolerance).

**Tasks.**

1. `sufficiency(w)` and `necessity(w)`: the two lines ($N$ as a function of $w$; the necessity
   line is the largest $N$ the theorem does not exclude, $2w^2 + w + 2$).
2. `make_runs(widths, ns, seeds, dx, lr)`: the runs of the sweep as a list of
   `capacity.train.Run`, in the order *width, then N, then seed*: for seed `s` the data are
   `capacity.data.generate("gaussian", n, dx, 1, seed=s)` (use its `x` and `y`), hidden widths
   `(w, w)`, `init_seed = 1000 + s`, learning rate `lr`, `out_dim = 1`.  The checker trains them
   with `capacity.train.train_runs` (vmapped: every run in one compiled call, smaller datasets
   repeating their points up to the largest $N$;
   {STEPS} Adam steps, tolerance {TOL:g}) on the grid widths {WIDTHS}, N {NS}, {SEEDS} seeds, dx = {DX}.
3. `fraction_memorized(records)`: from records `{{"width", "n", "seed", "fitted"}}` the table
   `{{(width, n): fraction of seeds that fitted}}` (exact: use `Fraction`).
4. `empirical_capacity(table, ns)`: `{{width: largest n in ns with fraction >= 1/2}}` (0 if none).
5. `verdict(w, capacity)`: `"below sufficiency"` if capacity < sufficiency(w),
   `"above necessity"` if capacity > necessity(w), else `"between the lines"`.
"""

STUB = '''"""Exercise 5: a small trained phase diagram.  Fill in the functions."""
from fractions import Fraction


def sufficiency(w):
    raise NotImplementedError("sufficiency")


def necessity(w):
    raise NotImplementedError("necessity")


def make_runs(widths, ns, seeds, dx, lr):
    """[capacity.train.Run, ...] in the order width, N, seed."""
    raise NotImplementedError("make_runs")


def fraction_memorized(records):
    """{(width, n): Fraction of seeds with fitted True}."""
    raise NotImplementedError("fraction_memorized")


def empirical_capacity(table, ns):
    """{width: largest n in ns with fraction >= 1/2, or 0}."""
    raise NotImplementedError("empirical_capacity")


def verdict(w, capacity):
    raise NotImplementedError("verdict")
'''

SOLUTION = '''"""Exercise 5, reference solution."""
from fractions import Fraction

from capacity.data import generate
from capacity.train import Run


def sufficiency(w):
    return 4 * (w // 4) * (w // 4)


def necessity(w):
    return 2 * w * w + w + 2


def make_runs(widths, ns, seeds, dx, lr):
    runs = []
    for w in widths:
        for n in ns:
            for s in range(seeds):
                ds = generate("gaussian", n, dx, 1, seed=s)
                runs.append(Run(x=ds.x, y=ds.y, hidden=(w, w), init_seed=1000 + s, lr=lr, out_dim=1))
    return runs


def fraction_memorized(records):
    fitted, total = {}, {}
    for r in records:
        key = (r["width"], r["n"])
        total[key] = total.get(key, 0) + 1
        fitted[key] = fitted.get(key, 0) + (1 if r["fitted"] else 0)
    return {k: Fraction(fitted[k], total[k]) for k in total}


def empirical_capacity(table, ns):
    widths = sorted({w for w, _ in table})
    out = {}
    for w in widths:
        ok = [n for n in ns if (w, n) in table and table[(w, n)] >= Fraction(1, 2)]
        out[w] = max(ok) if ok else 0
    return out


def verdict(w, capacity):
    if capacity < sufficiency(w):
        return "below sufficiency"
    if capacity > necessity(w):
        return "above necessity"
    return "between the lines"
'''

HINTS = (
    "The lines come from theory.bounds: yun3_capacity(w, w) and necessity_threshold_3layer(w, w).",
    "Loop width, then N, then seed; generate the data with seed = s and initialise with init_seed = 1000 + s.",
    "A cell memorizes when at least half its seeds fitted: fraction >= 1/2, not > 1/2.  Count with Fraction.",
)


@functools.lru_cache(maxsize=None)
def _reference():
    return load_source(SOLUTION, "ex05_reference")


def check_lines(module):
    suf, nec = need(module, "sufficiency"), need(module, "necessity")
    items = []
    for w in range(1, 21):
        s, n = suf(w), nec(w)
        es, en = bounds.yun3_capacity(w, w), bounds.necessity_threshold_3layer(w, w)
        items.append((s == es, f"sufficiency({w}) = {s!r}, expected {es}"))
        items.append((n == en, f"necessity({w}) = {n!r}, expected {en}"))
    return tally(items)


def _runs_items(module, widths, ns, seeds, dx, lr):
    runs = need(module, "make_runs")(widths, ns, seeds, dx, lr)
    ref = _reference().make_runs(widths, ns, seeds, dx, lr)
    if len(runs) != len(ref):
        raise CheckFailed(f"make_runs returned {len(runs)} runs; the grid has {len(widths)} widths x {len(ns)} N x "
                          f"{seeds} seeds = {len(ref)}")
    items = []
    for i, (r, e) in enumerate(zip(runs, ref)):
        where = f"run {i} (width {e.hidden[0]}, N = {e.x.shape[0]}, seed {e.init_seed - 1000})"
        try:
            ok = (np.array_equal(np.asarray(r.x), e.x) and np.array_equal(np.asarray(r.y), e.y)
                  and tuple(r.hidden) == e.hidden and r.init_seed == e.init_seed and r.lr == e.lr
                  and r.out_dim == e.out_dim)
        except AttributeError as ex:
            raise CheckFailed(f"{where}: not a capacity.train.Run ({ex})") from None
        items.append((ok, f"{where}: got hidden {tuple(r.hidden)}, init_seed {r.init_seed}, lr {r.lr}, "
                          f"x of shape {np.shape(r.x)}{'' if np.shape(r.x) != e.x.shape or np.array_equal(r.x, e.x) else ' (different data: use generate(..., seed=s))'}"))
    return tally(items), runs


def check_runs(module):
    return _runs_items(module, (3, 5), (4, 6), 2, DX, LR)[0]


def train_records(runs):
    """Train the runs with capacity.train.train_runs in ONE vmapped call and return the sweep records.

    A compiled trainer needs one data shape, so a run with N < N_max points repeats its points
    cyclically up to N_max rows.  Fitting every row is the same as fitting every distinct point
    (a repeated point has the same label), so "fitted" keeps its meaning; only the loss weights
    of the repeated points change.  One compilation instead of one per N keeps the check fast.
    """
    import dataclasses

    import jax

    from capacity.train import TrainConfig, local_mesh, train_runs

    cfg = TrainConfig(optimizer="adam", max_steps=STEPS, chunk=500, tol=TOL)
    n_max = max(int(r.x.shape[0]) for r in runs)
    padded = [dataclasses.replace(r, x=np.resize(r.x, (n_max, r.x.shape[1])), y=np.resize(r.y, (n_max,) + r.y.shape[1:]))
              for r in runs]
    records = []
    mesh = local_mesh(jax.local_devices()[:1])  # a tiny batch: sharding it over many devices only adds overhead
    for r, out in zip(runs, train_runs(padded, cfg, mesh=mesh)):
        records.append({"width": int(r.hidden[0]), "n": int(r.x.shape[0]), "seed": int(r.init_seed) - 1000,
                        "fitted": bool(out["fitted"]), "residual": float(out["final_residual"])})
    return records


@functools.lru_cache(maxsize=4)
def _trained(key):
    return train_records(_reference().make_runs(WIDTHS, NS, SEEDS, DX, LR))


def synthetic_records(seed: int):
    rng = np.random.default_rng(seed)
    recs = []
    for w in (2, 3, 6):
        for n in (5, 10, 20, 40):
            for s in range(4):
                recs.append({"width": w, "n": n, "seed": s, "fitted": bool(rng.random() < 0.5)})
    return recs


def _analysis_items(module, records, ns, label):
    ref = _reference()
    frac_f, cap_f = need(module, "fraction_memorized"), need(module, "empirical_capacity")
    table = frac_f(records)
    exp_table = ref.fraction_memorized(records)
    items = []
    for key, v in exp_table.items():
        got = table.get(key) if isinstance(table, dict) else None
        items.append((got == v, f"{label}: fraction at (width {key[0]}, N = {key[1]}) = {got!r}, expected {v}"))
    caps = cap_f(exp_table, ns)
    for w, c in ref.empirical_capacity(exp_table, ns).items():
        got = caps.get(w) if isinstance(caps, dict) else None
        row = ", ".join(f"N={n}: {exp_table[(w, n)]}" for n in ns if (w, n) in exp_table)
        items.append((got == c, f"{label}: empirical capacity of width {w} = {got!r}, expected {c} (fractions {row})"))
    return items


def check_analysis(module):
    items = []
    for seed in (5501, 5502, 5503):
        items += _analysis_items(module, synthetic_records(seed), (5, 10, 20, 40), f"synthetic table (seed {seed})")
    return tally(items)


def check_verdict(module):
    f = need(module, "verdict")
    ref = _reference()
    items = []
    for w in (1, 3, 4, 8, 12):
        for cap in sorted({0, ref.sufficiency(w) - 1, ref.sufficiency(w), ref.necessity(w), ref.necessity(w) + 1}):
            if cap < 0:
                continue
            exp, got = ref.verdict(w, cap), f(w, cap)
            items.append((got == exp, f"verdict({w}, {cap}) = {got!r}, expected {exp!r}"))
    return tally(items)


def check_trained(module):
    """The student's runs, trained; their analysis of the records against the reference analysis."""
    score, runs = _runs_items(module, WIDTHS, NS, SEEDS, DX, LR)
    if not score.ok:
        raise CheckFailed(f"make_runs on the sweep grid: {score.message}")
    records = _trained("grid")
    items = _analysis_items(module, records, NS, "trained sweep")
    caps = _reference().empirical_capacity(_reference().fraction_memorized(records), NS)
    f = need(module, "verdict")
    for w, c in caps.items():
        exp, got = _reference().verdict(w, c), f(w, c)
        items.append((got == exp, f"trained sweep: width {w} measured capacity {c} (lines: sufficiency "
                                  f"{bounds.yun3_capacity(w, w)}, necessity {bounds.necessity_threshold_3layer(w, w)}): "
                                  f"verdict {got!r}, expected {exp!r}"))
    return tally(items)


def check_hidden_analysis(module):
    items = []
    for seed in (9801, 9802):
        items += _analysis_items(module, synthetic_records(seed), (10, 20), f"table (seed {seed})")
    return tally(items)


EXERCISE = Exercise(
    id="05-phase", number=5, title="A small capacity phase diagram from a trained sweep",
    topic="experiments", difficulty="medium", minutes=60, theorem="yun3-relu",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("sufficiency and necessity lines", 2, check_lines,
              "sufficiency 4*floor(w/4)^2; necessity 2w^2 + w + 2 (the largest N not excluded)."),
        Check("make_runs builds the sweep's runs", 2, check_runs,
              "order width, N, seed; data generate('gaussian', n, dx, 1, seed=s); init_seed = 1000 + s."),
        Check("fractions and empirical capacity", 3, check_analysis,
              "a cell counts when at least half of its seeds fitted (>= 1/2)."),
        Check("verdict against the lines", 1, check_verdict,
              "below sufficiency if capacity < sufficiency(w); above necessity if capacity > necessity(w)."),
        Check("trained sweep (vmapped, tiny): measured capacity vs the lines", 3, check_trained,
              "your runs are trained by capacity.train.train_runs; the analysis must match on its records."),
        Check("analysis on other grids", 1, check_hidden_analysis, "N values missing from a grid.", public=False),
    ),
    wrong_answers={
        "strict majority (> 1/2 instead of >= 1/2)": ("table[(w, n)] >= Fraction(1, 2)", "table[(w, n)] > Fraction(1, 2)"),
        "necessity line off by one": ("return 2 * w * w + w + 2", "return 2 * w * w + w + 1"),
        "same data for every seed": ("generate(\"gaussian\", n, dx, 1, seed=s)", "generate(\"gaussian\", n, dx, 1, seed=0)"),
        "float fractions with integer division": ("Fraction(fitted[k], total[k])", "fitted[k] // total[k]"),
    },
    functions=("sufficiency", "necessity", "make_runs", "fraction_memorized", "empirical_capacity", "verdict"),
)
