"""``capacity phase``: run (or resume) a capacity sweep and draw its phase diagrams.

    capacity phase --mode trained --preset quick [--out runs/phase-trained-quick] [--resume] [--figures-dir OUT/figures]

Presets (:data:`capacity.sweep.PRESETS`):

* ``quick``: what the README runs.  Measured on the shared 2-core development CPU
  (jax 0.10.1, other agents running): trained 96 cells (depths 2-3, widths 2-24,
  N 4-128, 4 seeds x 3 Adam learning rates, up to 3000 steps) in 20 s at load
  average 2.5 and 78 s at load average 5; constructive 112 cells (Zhang at depth 2,
  yun3 at depth 3, widths 4-128, N 8-512) in 42-60 s.
* ``paper``: the full grid.  Trained: 4 families x {real, classes} x depths 2-4 x 11
  widths (2-64) x 10 N (4-2048) = 2,640 cells, 8 seeds x 4 learning rates = 84,480
  runs of up to 20,000 Adam steps, in 240 compiled calls (widths padded to 64).
  Expected time on one H100 (f64): about 0.3-1 h -- an ESTIMATE from the FLOP count
  (1.9e16 flops if no batch stops early, at 5-20 TFLOP/s f64) plus a latency floor of
  about 4 min; it has not been measured (no GPU was available when this was written).
  Constructive: 1,040 cells x 8 seeds; the builds run on the host CPU (about 0.5 s per
  yun3 build at N = 1024-4096), so expect tens of minutes whatever the accelerator.
* ``smoke``: a few seconds; used by the tests (SIGKILL and resume).

Finished cells are never recomputed: rerunning the same command continues where it
stopped.  ``--resume`` says that you expect a store to be there (an error if not).
Multi-host: ``--coordinator HOST:PORT --num-processes P --process-id I`` on each host.
"""

from __future__ import annotations

import os
import sys
import time

from capacity.cli._common import force_flag, output_dir, positive_int
from capacity.errors import CapacityError

def register(subparsers) -> None:
    p = subparsers.add_parser("phase", help="capacity phase diagrams: sweep (constructive or trained) and draw",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("constructive", "trained"), default="trained")
    p.add_argument("--preset", choices=("smoke", "quick", "paper"), default="quick")
    p.add_argument("--out", default=None, help="store directory (default runs/phase-MODE-PRESET)")
    p.add_argument("--resume", action="store_true", help="require an existing store in --out and continue it")
    p.add_argument("--figures-dir", default=None,
                   help="where PNG/PDF/CSV go (default OUT/figures; only 'capacity figures' writes the repository's "
                        "figures/)")
    p.add_argument("--no-figures", action="store_true", help="only run the sweep")
    p.add_argument("--construction", default=None,
                   help="registry name for --mode constructive at every depth (default: zhang at depth 2, yun3 at 3)")
    p.add_argument("--max-batches", type=positive_int, default=None, help="stop after this many batches")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0 (multi-host)")
    p.add_argument("--num-processes", type=positive_int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    force_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from capacity import sweep
    from capacity.plots import phase

    if args.coordinator or args.num_processes:
        if not (args.coordinator and args.num_processes and args.process_id is not None):
            raise CapacityError("multi-host needs --coordinator HOST:PORT, --num-processes and --process-id together")
        sweep.init_distributed(args.coordinator, args.num_processes, args.process_id)
    spec = sweep.spec_for(args.mode, args.preset, construction=args.construction)
    out = args.out or os.path.join("runs", f"phase-{args.mode}-{args.preset}")
    if args.resume and not _store_exists(out):
        raise CapacityError(f"--resume: no results*.jsonl store in {out}; run without --resume to start one")
    figures_dir = args.figures_dir or os.path.join(out, "figures")
    if not args.no_figures:
        output_dir(figures_dir, [f"phase_{args.mode}_*", f"bits_per_param_{args.mode}_*"], force=args.force,
                   flag="--figures-dir")
    t0 = time.perf_counter()
    records = sweep.run_sweep(spec, out, progress=not args.no_progress, max_batches=args.max_batches)
    keys = {c.key for c in sweep.cells(spec)}
    mine = [r for r in records if r.key in keys]
    print(f"{len(mine)}/{len(keys)} cells in {out} ({time.perf_counter() - t0:.1f} s this run)")
    if not args.no_figures and sweep.is_main_process() and mine:
        paths = phase.draw_all(mine, figures_dir)
        for p in paths:
            print(f"wrote {p}")
    sys.stdout.flush()
    return 0


def _store_exists(out: str) -> bool:
    import glob

    return bool(glob.glob(os.path.join(out, "results*.jsonl")))


def main(argv=None) -> int:
    """``python -m capacity.cli.phase ...``: this command alone (same options, same exit codes)."""
    from capacity.cli import _Parser

    parser = _Parser(prog="capacity")
    register(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(["phase", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except CapacityError as e:
        sys.stderr.write(f"capacity phase: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("capacity phase: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
