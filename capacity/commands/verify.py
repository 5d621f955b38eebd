"""``capacity verify``: check a saved network against a dataset (float64 + bound, optionally exact)."""

from __future__ import annotations

import sys

from capacity.commands.common import emit, require
from capacity.errors import CapacityError


def register(sub) -> None:
    p = sub.add_parser(
        "verify", help="verify that NET.npz interpolates DATA.npz",
        description="Evaluate NET.npz on DATA.npz in float64 with a rigorous a-priori rounding bound and report "
                    "max residual, kink margin and weight range; --certify evaluates the stored float64 weights in "
                    "exact rational arithmetic.  Exit 0 if it interpolates within tol, 1 if not, 2 on bad input.")
    p.add_argument("--net", required=True, metavar="NET.npz")
    p.add_argument("--data", required=True, metavar="DATA.npz")
    p.add_argument("--certify", action="store_true", help="exact evaluation of the stored weights (rationals)")
    p.add_argument("--tol", type=float, default=None, help="interpolation tolerance (default 1e-6)")
    p.add_argument("--rescale-labels", action="store_true", help="rescale out-of-box labels as at build time")
    p.add_argument("--chunk", type=int, default=4096, help="points per verification step (memory bound)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _verify_exact_only(net, ds, tol):
    """Networks whose weights exceed float64: rebuild the exact weights from NET.npz and let the
    construction's exact tier evaluate them."""
    import numpy as np

    from capacity import constructions
    from capacity.certify import as_exact_result
    from capacity.commands.build import exact_only_report
    from capacity.constructions.base import Construction

    L = len(net.kernels)
    try:
        ks = [np.vectorize(int, otypes=[object])(net.extra[f"exact_kernel_{i}"]) for i in range(L)]
        bs = [np.vectorize(int, otypes=[object])(net.extra[f"exact_bias_{i}"]) for i in range(L)]
    except KeyError as e:
        raise CapacityError(f"this exact-only network lacks its exact weights ({e.args[0]})") from None
    name = net.meta.get("construction", "")
    entry = constructions.get(name)
    require(entry.certify is not None, f"construction {name!r} has no exact tier to verify this network")
    con = Construction(name, ks, bs, net.activation, net.meta.get("record", {}), kind=net.kind, extra=net.extra)
    rep = exact_only_report(con, ds, tol)
    ex = as_exact_result(entry.certify(ds, construction=con, float_build=con, tol=tol))
    rep.level, rep.exact_residual, rep.seconds = ex.level, ex.exact_residual, ex.seconds
    return rep


def run(args) -> int:
    from capacity import data
    from capacity.certify import check_exact
    from capacity.networks import load_net
    from capacity.verify import DEFAULT_TOL, targets, verify_network

    tol = DEFAULT_TOL if args.tol is None else args.tol
    require(tol > 0, f"--tol must be positive; got {tol}")
    require(args.chunk >= 1, f"--chunk must be >= 1; got {args.chunk}")
    net = load_net(args.net)
    ds = data.load_npz(args.data, rescale=args.rescale_labels,
                       classification=True if net.meta.get("record", {}).get("classes") else None)
    if net.kind == "mlp-exact":
        rep = _verify_exact_only(net, ds, tol)
    elif net.kind == "mlp":
        rep = verify_network(net, ds, tol=tol, chunk=args.chunk)
    elif net.kind == "residual":
        from capacity import resnet

        rep = resnet.verify_residual(net, ds, tol=tol)
    else:
        raise CapacityError(f"{args.net}: no verifier for networks of kind {net.kind!r}")
    if args.certify and net.kind != "mlp-exact":
        require(net.kind == "mlp", f"--certify handles plain MLPs; this network is of kind {net.kind!r}")
        print(f"evaluating {ds.n} points exactly ...", file=sys.stderr, flush=True)
        ex = check_exact(net.kernels, net.biases, ds.x, targets(ds, net.widths[-1]), net.activation, tol=tol)
        rep.exact_residual = ex.exact_residual
        rep.notes.append(f"exact evaluation of the stored float64 weights: {ex.seconds:.2f} s ({ex.backend})")
        if ex.level == "certified-exact":
            rep.level = "certified-exact"
        elif ex.level == "certified-bound":
            rep.level = "certified-bound"
            rep.notes.append("the stored float64 weights are a rounding, so their exact residual is small but not 0; "
                             "'capacity build --certify' certifies the exact construction itself")
        else:
            rep.level = "failed"
    cert = net.meta.get("certification", {})
    lines = [f"network             {args.net} ({net.meta.get('construction', 'unknown construction')})"]
    rec = net.meta.get("record", {})
    if "capacity" in rec:
        lines.append(f"condition           capacity {rec['capacity']} >= N = {ds.n}: {'holds' if rec['capacity'] >= ds.n else 'FAILS'}")
    if cert.get("level"):
        lines.append(f"at build time       {cert['level']}")
    lines += rep.lines()
    emit(lines, {"report": rep.as_dict(), "meta": net.meta}, args.json)
    return 0 if rep.passed else 1
