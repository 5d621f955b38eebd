"""``capacity sgd``: mini-batch SGD started near a memorizing minimum, against the linearized theory.

The quick default (trained 5-24-24-1 net on 32 Gaussian points, 6 radii x 4 directions x
2 batch seeds, 5000 steps) runs in well under a minute on a laptop CPU.  The SGD theorem
of Yun, Sra & Jadbabaie is known only in outline (UNCONFIRMED details): see docs/sgd.md.
"""

from __future__ import annotations

import sys
import time

from capacity.cli._common import emit, float_list, force_flag, int_list, output_dir, positive_int, require


def register(sub) -> None:
    p = sub.add_parser("sgd", help="SGD near a memorizing global minimum vs the linearized (Gauss-Newton) theory",
                       description="Perturb a memorizing minimum θ* by radius ρ in random directions, run mini-batch "
                       "SGD (all trajectories vmapped in one compiled lax.scan), and compare with the linearized "
                       "prediction.  Reports per ρ: min risk / initial risk, activation-pattern flips, agreement.")
    p.add_argument("--minimum", choices=("trained", "constructed"), default="trained",
                   help="θ* from training an over-parameterized net (Adam + Levenberg-Marquardt to risk <= 1e-20) "
                   "or from the yun3 construction (labels shrunk into (-1,1))")
    p.add_argument("--widths", type=int_list, default=[24, 24], help="hidden widths (default 24,24)")
    p.add_argument("--n", type=positive_int, default=32, help="number of data points (default 32)")
    p.add_argument("--dx", type=positive_int, default=5, help="input dimension (default 5)")
    p.add_argument("--family", default="gaussian", help="data family of capacity.data.generate (default gaussian)")
    p.add_argument("--data", default=None, help="DATA.npz to use instead of generated data")
    p.add_argument("--radii", type=float_list, default=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
                   help="perturbation radii ρ (the provable no-flip radius is always added)")
    p.add_argument("--directions", type=positive_int, default=4, help="random directions per radius (default 4)")
    p.add_argument("--seeds", type=positive_int, default=2, help="batch-sampling seeds per direction (default 2)")
    p.add_argument("--steps", type=positive_int, default=5000, help="SGD steps T (default 5000)")
    p.add_argument("--batch", type=positive_int, default=4, help="mini-batch size B (default 4)")
    p.add_argument("--lr", type=float, default=None,
                   help="constant step η (default: the fastest mean-square-stable η of the linearized SGD on a "
                   "sqrt(2) grid)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, training, directions and batches")
    p.add_argument("--candidates", type=positive_int, default=3,
                   help="trained minimum: train this many seeds, keep the largest kink margin (default 3)")
    p.add_argument("--label-shrink", type=float, default=0.9, help="constructed minimum: label factor in (0,1)")
    p.add_argument("--out", default=None, help="directory for sgd.npz and sgd_summary.json")
    p.add_argument("--figures-dir", default=None, help="directory for the figures (PNG, PDF, CSV)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    force_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from capacity.data import generate, load_npz
    from capacity.experiments.minima import constructed_minimum, local_geometry, trained_minimum
    from capacity.experiments.sgd import run_experiment, save_experiment

    require(all(r > 0 and np.isfinite(r) for r in args.radii), f"radii must be positive and finite; got {args.radii}")
    require(args.lr is None or (args.lr > 0 and np.isfinite(args.lr)), f"--lr must be positive; got {args.lr}")
    if args.out:
        output_dir(args.out, ["sgd.npz", "sgd_summary.json"], force=args.force, flag="--out")
    if args.figures_dir:
        output_dir(args.figures_dir, ["sgd_*"], force=args.force, flag="--figures-dir")
    t0 = time.perf_counter()
    ds = load_npz(args.data) if args.data else generate(args.family, args.n, args.dx, seed=args.seed)
    require(args.batch <= ds.n, f"--batch {args.batch} exceeds the number of points N = {ds.n}; use --batch <= {ds.n}")
    print(f"[sgd] finding θ* ({args.minimum}) ...", file=sys.stderr, flush=True)
    if args.minimum == "trained":
        m = trained_minimum(ds, args.widths, seed=args.seed, candidates=args.candidates)
    else:
        m = constructed_minimum(ds, args.widths, label_shrink=args.label_shrink, seed=args.seed)
    geom = local_geometry(m)
    require(geom.kink_margin > 0, "the minimum has kink margin 0 (a pre-activation sits exactly on a kink), so no "
            "fixed-pattern ball exists; use --minimum trained, or a --label-shrink < 1")
    radii = sorted(set(args.radii) | {geom.no_flip_radius})
    print(f"[sgd] {len(radii) * args.directions * args.seeds} trajectories x {args.steps} steps ...",
          file=sys.stderr, flush=True)
    exp = run_experiment(m, radii, directions=args.directions, seeds=args.seeds, steps=args.steps,
                         batch=args.batch, lr=args.lr, seed=args.seed, geometry=geom)
    exp.seconds["total"] = time.perf_counter() - t0
    lines = exp.report_lines()
    lines.append(f"ρ_safe = {geom.no_flip_radius:.3e} is included in the radii (row where ρ equals it)")
    if args.out:
        lines.append(f"wrote {save_experiment(exp, args.out)}")
    if args.figures_dir:
        from capacity.plots.sgd import plot

        for path in plot(exp, args.figures_dir):
            lines.append(f"wrote {path}")
    emit(lines, {"rows": exp.summary(), "seconds": exp.seconds, "kink_margin": geom.kink_margin,
                 "no_flip_radius": geom.no_flip_radius, "lr": exp.config.lr}, args.json)
    return 0
