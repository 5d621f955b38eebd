"""``capacity build``: construct a memorizing network, verify it, optionally certify it exactly."""

from __future__ import annotations

import os
import sys
import time

from capacity.commands.common import LongStep, emit, int_list, positive_int, require
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
    p.add_argument("--family", default="gaussian", help="--random family: gaussian, ball, clustered, line, grid")
    p.add_argument("--classes", type=positive_int, default=None, help="--random class labels 0..K-1 instead of real labels")
    p.add_argument("--widths", type=int_list, default=[], metavar="D1,D2[,...]",
                   help="hidden widths (required by most constructions; the error message names the smallest "
                        "that would do; yun-resnet chooses one block per chunk when omitted)")
    p.add_argument("--activation", choices=("relu", "hardtanh"), default="relu")
    p.add_argument("--seed", type=int, default=0, help="seed for random data and for the construction's choices")
    p.add_argument("--certify", action="store_true", help="also run the exact rational tier (certified-exact)")
    p.add_argument("--tol", type=float, default=None, help="interpolation tolerance (default 1e-6)")
    p.add_argument("--rescale-labels", action="store_true",
                   help="divide labels outside [-1, 1] by max|y|; the factor is folded into the output layer")
    p.add_argument("--out", metavar="NET.npz", default="NET.npz", help="where to write the network (default NET.npz)")
    p.add_argument("--save-data", metavar="DATA.npz", default=None,
                   help="where to write a --random dataset (default: beside --out as NAME.data.npz)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def exact_only_report(con, ds, tol):
    """A Report for a network that only exact arithmetic can evaluate (filled in by the exact tier)."""
    import math

    from capacity.verify import Report

    rep = Report(n=ds.n, widths=tuple(int(w) for w in con.widths), activation=con.activation, dtype="exact",
                 tol=tol, max_residual=math.nan, certified_residual=math.nan, max_bound=math.nan,
                 kink_margin=math.nan, rel_kink_margin=math.nan, max_abs_weight=math.nan, min_abs_weight=math.nan,
                 level="failed", seconds=0.0)
    rep.notes.append("weights exceed float64: no float check; the level comes from exact arithmetic alone")
    bits = con.record.get("max_weight_bits") or con.record.get("bits_per_weight_max")
    if bits:
        rep.notes.append(f"largest weight needs {bits} bits")
    return rep


def _float_check(con, net, ds, tol):
    """The float64 verification appropriate to the network's kind."""
    from capacity.errors import CapacityError
    from capacity.verify import verify_network

    if con.kind == "mlp-exact":
        return exact_only_report(con, ds, tol)
    if con.kind == "mlp":
        return verify_network(net, ds, tol=tol)
    if con.kind == "residual":
        from capacity import resnet

        return resnet.verify_residual(net, ds, tol=tol)
    raise CapacityError(f"no verifier for networks of kind {con.kind!r}")


def _load_dataset(args):
    from capacity import data

    if args.data:
        return data.load_npz(args.data, rescale=args.rescale_labels)
    ds = data.generate(args.family, args.random, args.dx, args.dy, seed=args.seed, classes=args.classes)
    return ds


def run(args) -> int:
    from capacity import constructions, data
    from capacity.networks import save_net, versions
    from capacity.verify import DEFAULT_TOL

    tol = DEFAULT_TOL if args.tol is None else args.tol
    require(tol > 0, f"--tol must be positive; got {tol}")
    entry = constructions.get(args.construction)
    ds = _load_dataset(args)
    t0 = time.perf_counter()
    with LongStep(f"building {args.construction} for N = {ds.n} points (dx = {ds.dx}) at widths "
                  f"{','.join(map(str, args.widths))} ..."):
        try:
            con = entry.build(ds, args.widths, activation=args.activation, seed=args.seed)
        except DataError as e:
            if args.random and args.classes is None and "class" in str(e):
                raise DataError(f"{e} (with --random, add --classes K for class labels)") from None
            raise
    t_build = time.perf_counter() - t0
    meta = {"widths": list(con.widths), "n": ds.n, "seed": args.seed, "versions": versions(),
            "data": args.data or {"family": args.family, "n": args.random, "dx": args.dx, "dy": args.dy,
                                   "classes": args.classes, "seed": args.seed}}
    net = con.net_file(meta)
    exact_only = con.kind == "mlp-exact"
    if exact_only and not args.certify:
        print("this construction's weights exceed float64: running the exact tier (as with --certify)",
              file=sys.stderr, flush=True)
        args.certify = True
    with LongStep(f"built in {t_build:.2f} s; verifying {ds.n} points in float64 ..."):
        rep = _float_check(con, net, ds, tol)
    exact = None
    if args.certify:
        require(entry.certify is not None, f"construction {args.construction!r} has no exact tier; drop --certify")
        print("certifying in exact rational arithmetic ...", file=sys.stderr, flush=True)
        from capacity.certify import as_exact_result

        exact = as_exact_result(entry.certify(ds, args.widths, activation=args.activation, seed=args.seed,
                                              float_build=con, construction=con, tol=tol))
        rep.exact_residual = exact.exact_residual
        rep.notes.extend(exact.notes)
        if exact.level == "certified-exact":
            rep.level = "certified-exact"
            rep.notes.append("certified-exact by the construction's exact tier (its method is stated above)")
        elif exact.level == "certified-bound" and (rep.level != "failed" or exact_only):
            rep.level = "certified-bound"
            rep.notes.append(f"exact evaluation: residual {exact.exact_residual} <= tol")
        if exact_only:
            rep.max_residual = rep.certified_residual = exact.exact_residual_float
        elif exact.level == "failed":
            rep.level = "failed"
            rep.notes.append("the exact tier does NOT confirm interpolation: this is a bug, please report it")
    meta["certification"] = {"level": rep.level, "float": rep.as_dict(), "exact": exact.as_dict() if exact else None}
    rec = {k: v for k, v in con.record.items() if not k.startswith("_")}
    meta["record"] = rec
    net.meta.update(meta)
    net.meta["record"] = rec
    save_net(args.out, net)
    if not args.data:
        data_path = args.save_data or (os.path.splitext(args.out)[0] + ".data.npz")
        data.save_npz(data_path, ds)
        rep.notes.append(f"random dataset saved to {data_path} (verify with: capacity verify --net {args.out} --data {data_path})")
    rep.notes.append(f"network saved to {args.out}")
    lines = [f"construction        {args.construction}  (build {t_build:.2f} s)"]
    cap = rec.get("capacity")
    if cap is not None:
        thm = rec.get("theorem", entry.theorem)
        if cap >= ds.n:
            lines.append(f"condition           capacity {cap} >= N = {ds.n}  (theorem {thm})")
        else:
            lines.append(f"condition           worst-case capacity {cap} < N = {ds.n} (theorem {thm}): these widths "
                         "do not guarantee every dataset of this size; this particular dataset fits them")
    for key, label in (("span_over_min_gap", "span/min-gap"), ("max_depth", "max layer-2 depth")):
        if key in rec:
            lines.append(f"{label:<20}{rec[key]:.3e}")
    lines += rep.lines()
    emit(lines, {"report": rep.as_dict(), "record": rec}, args.json)
    return 0 if rep.passed else 1
