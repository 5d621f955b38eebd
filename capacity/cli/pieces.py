"""``capacity pieces`` (linear pieces of a network on a line) and ``capacity lower-bound`` (certificate).

``capacity pieces --net NET.npz [--direction a,b,...] [--origin a,b,...] [--interval LO,HI] [--exact]``
``capacity lower-bound --widths D1[,D2] --n N [--train] [--seeds S] [--steps T]``: exit 0 when the
impossibility certificate applies, 1 when it does not, 2 on bad input.
"""

from __future__ import annotations

import numpy as np

from capacity.cli._common import emit, float_list, int_list, positive_int
from capacity.errors import CapacityError


def register(subparsers) -> None:
    p = subparsers.add_parser("pieces", help="count the linear pieces of a network along a line",
                              description="Exact enumeration of the linear pieces of a ReLU/hard-tanh MLP restricted "
                                          "to the line origin + s*direction.")
    p.add_argument("--net", required=True, help="NET.npz (plain MLP)")
    p.add_argument("--direction", type=float_list, default=None,
                   help="direction d (default: seeded random Gaussian; e_1 when dx = 1)")
    p.add_argument("--origin", type=float_list, default=None, help="origin x0 (default 0)")
    p.add_argument("--interval", type=float_list, default=None, help="LO,HI restricts s (default all of R)")
    p.add_argument("--exact", action="store_true", help="exact rational arithmetic (slower)")
    p.add_argument("--seed", type=int, default=0, help="seed of the default random direction")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_pieces)

    lb = subparsers.add_parser("lower-bound", help="impossibility certificate for the alternating dataset",
                               description="Certify that the alternating dataset x_i = i, y_i = (-1)^i cannot be "
                                           "fit when 2*d1*d2 + d2 + 2 < N (or d1 + 2 < N for one hidden layer). "
                                           "Exit 0 = certified, 1 = certificate does not apply, 2 = bad input.")
    lb.add_argument("--widths", type=int_list, required=True, help="D1 or D1,D2")
    lb.add_argument("--n", type=positive_int, required=True)
    lb.add_argument("--train", action="store_true",
                    help="also train nets below/above the necessity line and at yun3 widths (about 10-60 s)")
    lb.add_argument("--seeds", type=positive_int, default=8)
    lb.add_argument("--steps", type=positive_int, default=6000)
    lb.add_argument("--json", action="store_true")
    lb.set_defaults(func=run_lower_bound)


def run_pieces(args) -> int:
    from capacity.networks import load_net
    from capacity.pieces import count_pieces

    net = load_net(args.net)
    note = None
    if net.kind == "residual":
        net = net.as_mlp()
        note = ("residual network: counted through its exact MLP form (the stream carried as relu(h), relu(-h)); "
                "raw pieces include where a stream coordinate changes sign, linear pieces are those of f itself")
    elif net.kind != "mlp":
        raise CapacityError(f"{args.net}: piece counting needs float64 weights; this file is of kind {net.kind!r} "
                            "(exact integer weights)")
    dx = net.widths[0]
    origin = np.zeros(dx) if args.origin is None else np.asarray(args.origin)
    if args.direction is None:
        direction = np.ones(1) if dx == 1 else np.random.default_rng(args.seed).standard_normal(dx)
    else:
        direction = np.asarray(args.direction)
    for name, v in (("--origin", origin), ("--direction", direction)):
        if v.shape != (dx,):
            raise CapacityError(f"{name} needs {dx} comma-separated numbers (the network's input dimension); "
                                f"got {v.size}")
    if not np.all(np.isfinite(direction)) or not np.any(direction):
        raise CapacityError("--direction must be finite and nonzero")
    interval = (-np.inf, np.inf)
    if args.interval is not None:
        if len(args.interval) != 2 or not args.interval[0] < args.interval[1]:
            raise CapacityError(f"--interval needs LO,HI with LO < HI; got {args.interval}")
        interval = tuple(args.interval)
    res = count_pieces(net, origin, direction, interval=interval, exact=args.exact)
    lines = res.lines()
    if note:
        lines.append(f"note: {note}")
    if args.direction is None and dx > 1:
        lines.insert(1, f"direction (random, seed {args.seed}): {', '.join(f'{v:.6g}' for v in direction)}")
    emit(lines, {"raw_pieces": res.raw_pieces, "pieces": res.pieces, "bound": res.bound,
                 "kinks": [str(k) for k in res.kinks], "breakpoints": [str(k) for k in res.breakpoints],
                 "exact": res.exact, "direction": direction.tolist(), "origin": origin.tolist()}, args.json)
    return 0


def run_lower_bound(args) -> int:
    from capacity.pieces import impossibility_certificate

    if len(args.widths) not in (1, 2):
        raise CapacityError(f"--widths takes D1 (one hidden layer) or D1,D2 (two); got {len(args.widths)} widths")
    d1 = args.widths[0]
    d2 = args.widths[1] if len(args.widths) == 2 else None
    cert = impossibility_certificate(d1, d2, args.n)
    lines = list(cert.lines)
    data = {"applies": cert.applies, "d1": d1, "d2": d2, "n": args.n, "argument": cert.lines}
    if args.train:
        if d2 is None:
            raise CapacityError("--train illustrates the two-hidden-layer line; give --widths D1,D2")
        from capacity.experiments.necessity import illustration_lines, necessity_illustration

        rows = necessity_illustration(args.n, (d1, d2), seeds=args.seeds, steps=args.steps)
        lines += ["", f"Training illustration (Adam, {args.steps} steps, {args.seeds} seeds, float64):"]
        lines += illustration_lines(rows)
        data["training"] = rows
    emit(lines, data, args.json)
    return 0 if cert.applies else 1
