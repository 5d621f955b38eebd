"""``capacity memorization MEASURE``: the literature's memorization measures on small trained MLPs.

Registered in the ``capacity`` command by :mod:`capacity.cli` (``COMMAND_MODULES``).
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from capacity.errors import CapacityError

# MEASURE name on the command line -> module (issue 13's items, in its order)
MEASURES = {
    "randomization": "capacity.experiments.memorization.randomization",
    "feldman-zhang": "capacity.experiments.memorization.feldman_zhang",
    "early-learning": "capacity.experiments.memorization.early_learning",
    "grokking": "capacity.experiments.memorization.grokking",
    "generative": "capacity.experiments.memorization.generative",
    "layermem": "capacity.experiments.memorization.layermem",
    "information": "capacity.experiments.memorization.information",
}


def measure_module(name: str):
    if name not in MEASURES:
        raise CapacityError(f"unknown measure {name!r}; choose one of {', '.join(MEASURES)}")
    return importlib.import_module(MEASURES[name])


def register(sub) -> None:
    p = sub.add_parser(
        "memorization", help="memorization measures of trained networks (randomization, Feldman-Zhang, ...)",
        description="Train many small MLPs at once (jit + vmap + lax.scan, float32) and compute one of the "
                    "literature's memorization measures on scikit-learn's digits (bundled, no download) or on "
                    "the paper's synthetic setting.  Writes CSV files and PNG figures into --out and prints a "
                    "summary.  Measures: randomization (Zhang et al. 2017, Arpit et al. 2017), feldman-zhang "
                    "(memorization/influence estimates and C-scores), early-learning (Liu et al. 2020: linear "
                    "model and the ELR loss), grokking (Power et al. 2022, modular addition), generative (van den "
                    "Burg & Williams 2021, K-fold memorization score of Gaussian KDEs), layermem (Wang et al. 2024: "
                    "LayerMem/UnitMem of a small contrastive encoder), information (Bansal et al. 2022: neuron "
                    "entropy and pairwise mutual information).  Exit 0 on "
                    "success, 2 on bad input.")
    p.add_argument("measure", choices=list(MEASURES), metavar="MEASURE",
                   help="one of: " + ", ".join(MEASURES))
    p.add_argument("--preset", choices=("quick", "full"), default="quick",
                   help="default quick: a few minutes on a 2-core CPU; full: the larger run whose cost the "
                        "measure's module docstring documents (hours on CPU, minutes on a GPU)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default runs/memorization/<measure>-<timestamp>); existing outputs "
                        "are never overwritten")
    p.add_argument("--seed", type=int, default=0, help="seed for the data split, label noise and initialisation "
                                                       "(default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr (default: shown)")
    p.set_defaults(func=run)


def run(args) -> int:
    from capacity.experiments.memorization import _common as C

    mod = measure_module(args.measure)
    out = args.out or C.default_out_dir(args.measure)
    C.prepare_out_dir(out, mod.OUTPUTS)
    t0 = time.perf_counter()
    lines = mod.run(args.preset, out, seed=args.seed, progress=not args.no_progress)
    for line in lines:
        print(line)
    print(f"{args.measure} ({args.preset}) finished in {C.fmt_seconds(time.perf_counter() - t0)}; "
          f"outputs in {os.path.abspath(out)}: {', '.join(mod.OUTPUTS)}")
    sys.stdout.flush()
    return 0
