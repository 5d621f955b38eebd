"""``capacity frontier``: measure every construction over N and draw the memorization frontier.

    capacity frontier [--figures-dir runs/frontier] [--quick] [--only zhang,vardi]

Writes ``frontier.png``, ``frontier.pdf``, ``frontier.csv`` (one row per construction and N:
measured parameters, neurons, bits per weight, verification levels, timings) and
``frontier_crossovers.csv`` (where measured curves cross).  ``--quick`` uses N in {10, 100,
1000} (under 2 minutes on a 2-core CPU); the default grid goes to N = 1e4 (Vardi 3e4).
See :mod:`capacity.experiments.frontier`.
"""

from __future__ import annotations

from capacity.errors import CapacityError


def register(subparsers) -> None:
    p = subparsers.add_parser("frontier", help="draw the memorization frontier (measured sizes vs N)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--figures-dir", default="runs/frontier",
                   help="output directory (default runs/frontier; 'capacity figures' writes the repository's figures/)")
    p.add_argument("--quick", action="store_true", help="N in {10, 100, 1000} only (< 2 minutes)")
    p.add_argument("--only", default=None, help="comma-separated construction names (default: all)")
    p.add_argument("--force", action="store_true", help="replace the frontier files already in --figures-dir "
                   "(default: refuse)")
    p.set_defaults(func=run)


def run(args) -> int:
    from capacity.experiments import frontier

    names = [s for s in args.only.split(",") if s] if args.only else None
    if names:
        unknown = [s for s in names if s not in frontier.SPECS]
        if unknown:
            raise CapacityError(f"--only: unknown construction(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(frontier.SPECS)}")
    from capacity.cli._common import output_dir

    output_dir(args.figures_dir, ["frontier.*", "frontier_crossovers.csv"], force=args.force, flag="--figures-dir")
    out = frontier.run(args.figures_dir, quick=args.quick, names=names)
    for r in out["rows"]:
        print(f"{r.construction:9s} N={r.n:>6d}  params={r.params:>8d}  neurons={r.neurons:>7d}  "
              f"bits={r.bits:>5d}  level={r.level}")
    for c in out["crossovers"]:
        print(f"crossover ({c['field']}): {c['a']} vs {c['b']} at N ≈ {c['n_cross']} ({c['between']}); "
              f"{c['smaller_after']} smaller after")
    for f in out["files"]:
        print(f"wrote {f}")
    return 0
