"""``capacity build``: construct a memorizing network, verify it, optionally certify it exactly."""

from __future__ import annotations

import math
import os
import sys

from capacity.cli._common import LongStep, emit, force_flag, int_list, positive_int, require
from capacity.errors import DataError


def register(sub) -> None:
    p = sub.add_parser(
        "build", help="build an explicit memorizing network and verify it",
        description="Build the named construction for a dataset (a DATA.npz or a random one), verify it in "
                    "float64 with a rigorous rounding bound, optionally certify it in exact rational arithmetic, "
                    "and save NET.npz.  Exit 0 if it interpolates within tol, 1 if not, 2 on bad input.")
    p.add_argument("--construction", default="yun3", help="construction name (default yun3; see 'capacity theorems')")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="DATA.npz", help="dataset file with arrays x (N, dx) and y (N,) or (N, dy)")
    src.add_argument("--random", metavar="N", type=positive_int, help="generate N random points instead")
    p.add_argument("--dx", type=positive_int, default=8, help="input dimension for --random (default 8)")
    p.add_argument("--dy", type=positive_int, default=1, help="output dimension for --random (default 1)")
    p.add_argument("--family", default="gaussian", help="--random family: gaussian (default), ball, sphere (unit norm: hardt-ma), clustered, line, grid")
    p.add_argument("--classes", type=positive_int, default=None, help="--random class labels 0..K-1 instead of real labels")
    p.add_argument("--widths", type=int_list, default=[], metavar="D1,D2[,...]",
                   help="hidden widths (required by most constructions; the error message names the smallest "
                        "that would do; yun-resnet chooses one block per chunk when omitted)")
    p.add_argument("--activation", choices=("relu", "hardtanh"), default="relu")
    p.add_argument("--seed", type=int, default=0, help="seed for random data and for the construction's choices")
    p.add_argument("--certify", action="store_true",
                   help="also evaluate exactly the saved network and the construction carried out in rationals")
    p.add_argument("--tol", type=float, default=None, help="interpolation tolerance, a finite positive number "
                   "(default 1e-6)")
    p.add_argument("--rescale-labels", action="store_true",
                   help="divide labels outside [-1, 1] by the smallest power of two >= max|y| (exact); the factor "
                        "is folded into the output layer (default: refuse such labels)")
    p.add_argument("--out", metavar="NET.npz", default="NET.npz", help="where to write the network (default NET.npz)")
    p.add_argument("--save-data", metavar="DATA.npz", default=None,
                   help="where to write a --random dataset (default: beside --out as NAME.data.npz)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    force_flag(p)
    p.set_defaults(func=run)


def _load_dataset(args):
    from capacity import data

    if args.data:
        return data.load_npz(args.data, rescale=args.rescale_labels)
    return data.generate(args.family, args.random, args.dx, args.dy, seed=args.seed, classes=args.classes)


def exact_lines(checked) -> list[str]:
    """What each exact evaluation certified, labelled as what it is."""
    out = []
    fe, ce = checked.file_exact, checked.construction_exact
    if fe is not None:
        out.append(f"saved network       {fe.level}  (exact evaluation of the stored weights: residual "
                   f"{fe.exact_residual}, {fe.seconds:.2f} s)")
    if ce is not None:
        out.append(f"construction        {ce.level}  (the construction in exact rationals: residual "
                   f"{ce.exact_residual}, {ce.seconds:.2f} s)")
    return out


DEFAULT_TOL = 1e-6  # capacity.verification.DEFAULT_TOL (checked in the tests), without importing JAX here


def run(args) -> int:
    from capacity import _files, _resources

    tol = DEFAULT_TOL if args.tol is None else args.tol
    require(math.isfinite(tol) and tol > 0, f"--tol must be a finite positive number; got {tol}")
    # outputs are checked before any work: never an input, a device or a directory, never silently replaced
    _files.check_output_path(args.out, inputs=[args.data], force=args.force, flag="--out")
    data_path = None
    if not args.data:
        data_path = args.save_data or (os.path.splitext(args.out)[0] + ".data.npz")
        if os.path.abspath(data_path) == os.path.abspath(args.out):
            raise DataError(f"--save-data {data_path} is the --out file too: the dataset would replace the network; "
                            "choose another --save-data")
        _files.check_output_path(data_path, inputs=[args.out], force=args.force, flag="--save-data")
        n, dx, dy = args.random, args.dx, (args.classes or args.dy)
        _resources.require_fits(_resources.build_estimate(args.construction, n, dx, dy, args.widths,
                                                          activation=args.activation))
    # only now the heavy imports (JAX, the constructions): a refused request answers at once
    from capacity import data
    from capacity.networks import save_net
    from capacity.workflow import build_and_check

    ds = _load_dataset(args)
    out_dim = ds.dy if not ds.is_classification else int(ds.y.max()) + 1
    est = _resources.build_estimate(args.construction, ds.n, ds.dx, out_dim, args.widths, activation=args.activation)
    if args.widths:
        sizes = (ds.dx, *args.widths, out_dim)
        est = _resources.then(est, _resources.verify_estimate(sizes, ds.n))
        if args.certify:
            est = _resources.then(est, _resources.exact_estimate(sizes, ds.n, rank_one=args.construction in
                                                                 ("yun3", "yun-deep")))
    _resources.require_fits(est)
    meta = {"n": ds.n, "seed": args.seed,
            "data": args.data or {"family": args.family, "n": args.random, "dx": args.dx, "dy": args.dy,
                                  "classes": args.classes, "seed": args.seed}}

    def say(msg):
        print(msg + " ...", file=sys.stderr, flush=True)

    with LongStep(f"building {args.construction} for N = {ds.n} points (dx = {ds.dx}) at widths "
                  f"{','.join(map(str, args.widths))} ..."):
        try:
            checked = build_and_check(args.construction, ds, args.widths, activation=args.activation, seed=args.seed,
                                      tol=tol, certify_exactly=args.certify, meta=meta,
                                      progress=say if args.certify else None)
        except DataError as e:
            if args.random and args.classes is None and "class" in str(e):
                raise DataError(f"{e} (with --random, add --classes K for class labels)") from None
            raise
    rep, con, net = checked.report, checked.construction, checked.network
    net.meta["widths"] = list(con.widths)
    net.meta["certification"] = checked.certification()
    save_net(args.out, net)
    if data_path is not None:
        data.save_npz(data_path, ds)
        rep.notes.append(f"random dataset saved to {data_path} (verify with: capacity verify --net {args.out} "
                         f"--data {data_path})")
    rep.notes.append(f"network saved to {args.out}")
    rec = net.meta["record"]
    lines = [f"construction        {args.construction}  (build {checked.build_seconds:.2f} s)"]
    cap = rec.get("capacity")
    if cap is not None:
        thm = rec.get("theorem", constructions_theorem(args.construction, args.activation))
        if cap >= ds.n:
            lines.append(f"condition           capacity {cap} >= N = {ds.n}  (theorem {thm})")
        else:
            lines.append(f"condition           worst-case capacity {cap} < N = {ds.n} (theorem {thm}): these widths "
                         "do not guarantee every dataset of this size; this particular dataset fits them")
    for key, label in (("span_over_min_gap", "span/min-gap"), ("max_depth", "max layer-2 depth")):
        if key in rec:
            lines.append(f"{label:<20}{rec[key]:.3e}")
    lines += rep.lines() + exact_lines(checked)
    emit(lines, {"report": rep.as_dict(), "record": rec, "certification": net.meta["certification"]}, args.json)
    if checked.construction_exact is not None and checked.construction_exact.level == "failed":
        return 1
    return 0 if rep.passed else 1


def constructions_theorem(name: str, activation: str) -> str:
    from capacity import constructions

    return constructions.get(name, activation).theorem
