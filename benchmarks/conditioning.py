"""Conditioning table of the yun3 construction against N (the README's table).

    .venv/bin/python benchmarks/conditioning.py --sizes 100,1000,10000,20000,100000 --csv figures/yun3_conditioning.csv

For each N: the smallest widths the theorem allows, Gaussian x in R^dx, uniform labels, built through
the registry exactly as ``capacity build --construction yun3 --random N --dx 16 --widths D1,D2`` does
(same data for the same seed); prints max residual (float64), rigorous bound, kink margin, max|W|,
span/min-gap, the exact residual of the stored float64 weights (``capacity.verification.certify``:
exact arithmetic, printed rounded up), and timings.
"""

from __future__ import annotations

import argparse
import csv
import os
import time

import capacity  # noqa: F401  (float64)
from capacity import data
from capacity import constructions
from capacity.verification import certify, verify
from theory.bounds import yun3_smallest_widths

FIELDS = ["n", "d1", "d2", "max_residual", "rigorous_bound", "exact_residual", "kink_margin", "rel_kink_margin", "max_abs_weight",
          "span_over_min_gap", "max_depth", "build_s", "verify_s", "exact_s"]


def row(n: int, dx: int, seed: int) -> dict:
    d1, d2 = yun3_smallest_widths(n)
    ds = data.generate("gaussian", n, dx, seed=seed)
    t0 = time.perf_counter()
    con = constructions.build("yun3", ds, (d1, d2), seed=seed)
    tb = time.perf_counter() - t0
    rep = verify(con.network(), ds)
    ex = certify(con.network(), ds)
    r = con.record
    return dict(n=n, d1=d1, d2=d2, max_residual=rep.max_residual, rigorous_bound=rep.certified_residual,
                exact_residual=ex.exact_residual_float, exact_s=ex.seconds,
                kink_margin=rep.kink_margin, rel_kink_margin=rep.rel_kink_margin, max_abs_weight=rep.max_abs_weight,
                span_over_min_gap=r["span_over_min_gap"], max_depth=r["max_depth"], build_s=tb, verify_s=rep.seconds)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,1000,10000,20000")
    p.add_argument("--dx", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", default=None, help="also write the rows to this CSV (atomically)")
    a = p.parse_args(argv)
    rows = []
    print(" | ".join(FIELDS))
    for n in (int(v) for v in a.sizes.split(",")):
        r = row(n, a.dx, a.seed)
        rows.append(r)
        print(" | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for k in FIELDS), flush=True)
    if a.csv:
        tmp = a.csv + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, a.csv)


if __name__ == "__main__":
    main()
