"""``capacity verify``: check a saved network against a dataset (float64 + bound, optionally exact)."""

from __future__ import annotations

import math
import sys

from capacity.cli._common import emit, require


def register(sub) -> None:
    p = sub.add_parser(
        "verify", help="verify that NET.npz interpolates DATA.npz",
        description="Evaluate NET.npz on DATA.npz in float64 with a rigorous a-priori rounding bound and report "
                    "max residual, kink margin and weight range; --certify evaluates the stored float64 weights in "
                    "exact rational arithmetic.  Exit 0 if it interpolates within tol, 1 if not, 2 on bad input.")
    p.add_argument("--net", required=True, metavar="NET.npz")
    p.add_argument("--data", required=True, metavar="DATA.npz")
    p.add_argument("--certify", action="store_true", help="exact evaluation of the stored weights (rationals); "
                   "certified-exact only if every output equals its label exactly")
    p.add_argument("--tol", type=float, default=None, help="interpolation tolerance, a finite positive number "
                   "(default 1e-6)")
    p.add_argument("--rescale-labels", action="store_true", help="divide labels outside [-1, 1] by the smallest power of two >= max|y|, "
                   "as 'capacity build --rescale-labels' did (default: refuse such labels)")
    p.add_argument("--filter", action="store_true",
                   help="with --certify: certify points by the rigorous a-posteriori float bound first and evaluate "
                        "only the rest exactly (faster for general networks; the level is then at most "
                        "certified-bound). Default: every point exactly")
    p.add_argument("--chunk", type=int, default=4096, help="points per verification step (memory bound; default 4096)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from capacity import data
    from capacity.networks import load_net
    from capacity.verification import DEFAULT_TOL, certify, combine, verify

    tol = DEFAULT_TOL if args.tol is None else args.tol
    require(math.isfinite(tol) and tol > 0, f"--tol must be a finite positive number; got {tol}")
    require(args.chunk >= 1, f"--chunk must be >= 1; got {args.chunk}")
    import time

    from capacity import _resources

    t_start = time.perf_counter()
    net = load_net(args.net)
    rec = net.meta.get("record", {}) if isinstance(net.meta.get("record", {}), dict) else {}
    ds = data.load_npz(args.data, rescale=args.rescale_labels, classification=True if rec.get("classes") else None)
    sizes = (net.widths[0], *net.widths[1:-1], net.widths[-1])
    est = _resources.verify_estimate(sizes, ds.n, chunk=args.chunk)
    if args.certify:
        est = _resources.then(est, _resources.exact_estimate(sizes, ds.n, rank_one=True))
    _resources.require_fits(est)
    rep = verify(net, ds, tol=tol, chunk=args.chunk)
    if args.certify and rep.dtype != "exact":
        print(f"evaluating {ds.n} points exactly ...", file=sys.stderr, flush=True)
        combine(rep, certify(net, ds, tol=tol, float_filter=args.filter, progress=True), subject="the stored weights")
    rep.seconds = time.perf_counter() - t_start  # the whole command: reading, float pass and exact phase
    cert = net.meta.get("certification", {}) if isinstance(net.meta.get("certification", {}), dict) else {}
    lines = [f"network             {args.net} ({net.meta.get('construction', 'unknown construction')}, kind {net.kind})"]
    if isinstance(rec.get("capacity"), int):
        lines.append(f"condition           capacity {rec['capacity']} >= N = {ds.n}: "
                     f"{'holds' if rec['capacity'] >= ds.n else 'FAILS'}")
    if cert.get("level"):
        lines.append(f"at build time       {cert['level']}")
        if cert["level"] != rep.level:
            lines.append(f"                    (now {rep.level}: {_why_lower(rep, args.certify)})")
    lines += rep.lines()
    emit(lines, {"report": rep.as_dict(), "meta": net.meta}, args.json)
    return 0 if rep.passed else 1


def _why_lower(rep, certified: bool) -> str:
    if rep.level == "measured":
        return (f"the a-priori rounding bound {rep.max_bound:.1e} exceeds tol {rep.tol:.0e}; run with --certify for "
                "an exact evaluation of the stored weights")
    if rep.level == "failed":
        if not certified:
            return ("the float64 residual exceeds tol; the stored weights may still fit in exact arithmetic "
                    "(float64 evaluation adds rounding): run with --certify")
        return "the residual exceeds tol"
    if not certified:
        return "a float check certifies at most certified-bound; --certify evaluates the stored weights exactly"
    return "exact evaluation of the stored weights"
