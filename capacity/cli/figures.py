"""``capacity figures``: regenerate every figure in figures/ with one command."""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    p = sub.add_parser("figures", help="regenerate every figure (phase diagrams, SGD, frontier)",
                       description="Run the figure-producing commands in turn: capacity phase (constructive and "
                                   "trained), capacity sgd, capacity frontier. Each writes PNG, PDF and CSV into "
                                   "--figures-dir. Sweeps resume from their stores under --runs.")
    p.add_argument("--preset", choices=("quick", "cpu", "paper"), default="cpu",
                   help="quick: smallest grids (about 2 minutes on 2 CPU cores); cpu (default, what figures/ holds): "
                        "quick phase grids, the full frontier (about 8 minutes); paper: the paper phase grids "
                        "(hours; meant for a GPU)")
    p.add_argument("--quick", action="store_const", dest="preset", const="quick", help="same as --preset quick")
    p.add_argument("--figures-dir", default="figures")
    p.add_argument("--runs", default="runs", help="where the sweep stores live (resumable)")
    p.add_argument("--only", default=None, help="comma-separated subset of: phase-constructive, phase-trained, sgd, frontier")
    p.set_defaults(func=run)


def jobs(args) -> dict:
    preset = "paper" if args.preset == "paper" else "quick"
    fd = args.figures_dir
    return {
        "phase-constructive": ["phase", "--mode", "constructive", "--preset", preset, "--figures-dir", fd,
                               "--out", f"{args.runs}/phase-constructive-{preset}", "--force"],
        "phase-trained": ["phase", "--mode", "trained", "--preset", preset, "--figures-dir", fd,
                          "--out", f"{args.runs}/phase-trained-{preset}", "--force"],
        "sgd": ["sgd", "--figures-dir", fd, "--out", f"{args.runs}/sgd", "--force"],
        "frontier": ["frontier", "--figures-dir", fd, "--force"] + (["--quick"] if args.preset == "quick" else []),
    }


def run(args) -> int:
    from capacity.cli import main
    from capacity.errors import CapacityError

    all_jobs = jobs(args)
    names = list(all_jobs) if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [n for n in names if n not in all_jobs]
    if unknown:
        raise CapacityError(f"unknown figure job(s) {unknown}; choose from {', '.join(all_jobs)}")
    worst = 0
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name}: capacity {' '.join(all_jobs[name])}", file=sys.stderr, flush=True)
        code = main(all_jobs[name])
        print(f"== {name}: exit {code} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        worst = max(worst, code)
    return worst
