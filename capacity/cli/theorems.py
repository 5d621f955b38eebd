"""``capacity theorems`` (list the registry) and ``capacity check`` (a theorem's condition for given widths).

``capacity check --theorem NAME --widths D1,D2[,...] --n N [--dy K] [--dx DX]`` prints whether the
condition holds, the capacity (or, for a negative result, the impossibility threshold) and the smallest
architecture that satisfies it.  Exit 0 if the condition holds, 1 if not, 2 on bad input.
"""

from __future__ import annotations

from capacity.cli._common import emit, int_list, positive_int
from capacity.errors import CapacityError


def register(subparsers) -> None:
    p = subparsers.add_parser("theorems", help="list the theorem registry with provenance",
                              description="List every theorem: name, provenance, one-line statement.")
    p.add_argument("--json", action="store_true", help="full records as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="also print the reason for each provenance")
    p.set_defaults(func=run_theorems)

    c = subparsers.add_parser("check", help="does a theorem's width condition hold?",
                              description="Evaluate a theorem's condition: capacity of the widths, whether N is "
                                          "covered, and the smallest satisfying architecture.  Exit 0 = holds, "
                                          "1 = does not hold, 2 = bad input.")
    c.add_argument("--theorem", required=True, help="registry name (see 'capacity theorems')")
    c.add_argument("--widths", type=int_list, default=None,
                   help="hidden widths D1,D2[,...] (residual theorems: hidden ReLUs per block)")
    c.add_argument("--n", type=positive_int, required=True, help="number of points N")
    c.add_argument("--dy", type=positive_int, default=1, help="output dimension / number of classes (default 1)")
    c.add_argument("--dx", type=positive_int, default=None, help="input dimension (theorems that depend on it)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_check)


def run_theorems(args) -> int:
    from theory.registry import all_theorems

    ts = all_theorems()
    lines = [f"{'theorem':22s} {'provenance':13s} {'construction':13s} statement"]
    for t in ts:
        lines.append(f"{t.name:22s} {t.provenance:13s} {(t.construction or '-'):13s} {t.one_line}")
        if args.verbose:
            lines.append(f"{'':36s} why: {t.reason}")
            lines.append(f"{'':36s} construction: {t.construction or '-'}; source: {t.source}")
    constructions_json = None
    if args.verbose:  # the registered constructions, with their own one-line summaries
        from capacity.constructions import entries

        lines += ["", f"{'construction':13s} {'activation':10s} {'theorem':22s} summary"]
        lines += [f"{e.name:13s} {e.activation:10s} {e.theorem:22s} {e.summary}" for e in entries()]
        constructions_json = [dict(name=e.name, activation=e.activation, theorem=e.theorem, summary=e.summary,
                                   exact_rebuild=e.exact is not None) for e in entries()]
    emit(lines, {"theorems": [t.as_dict() for t in ts], "constructions": constructions_json}, args.json)
    return 0


def run_check(args) -> int:
    from theory.registry import Architecture, get

    t = get(args.theorem)
    if t.condition is None:
        raise CapacityError(f"theorem {t.name!r} has no width condition to check ({t.one_line}); "
                            "see 'capacity theorems -v'")
    cond = t.condition
    arch = Architecture(tuple(args.widths or ()), dy=args.dy, dx=args.dx)
    value = cond(arch)  # validates (WidthError -> exit 2)
    holds = cond.holds(arch, args.n)
    smallest = cond.smallest(args.n, arch)
    lines = [f"theorem {t.name}: {t.title}  [provenance: {t.provenance}]",
             f"architecture: {arch}"]
    if cond.negative:
        lines.append(f"impossibility threshold T = {value}  ({cond.formula})")
        if holds:
            lines.append(f"N = {args.n} > T: condition HOLDS, some dataset of {args.n} points cannot be memorized "
                         "by these widths" + ("" if cond.certified else " (INDICATIVE ONLY: the constant is not "
                                                                        "confirmed, this is not a proof)"))
        else:
            lines.append(f"N = {args.n} <= T: condition does NOT hold; this bound does not exclude memorization")
        if smallest is not None:
            lines.append(f"smallest architecture this bound does not exclude for N = {args.n}: {smallest}")
    else:
        lines.append(f"capacity = {value}  ({cond.formula})")
        lines.append(f"N = {args.n}: condition {'HOLDS' if holds else 'does NOT hold'} "
                     f"(capacity {value} {'>=' if holds else '<'} N)")
        if smallest is not None:
            cap = cond(smallest)
            lines.append(f"smallest architecture satisfying it for N = {args.n}: {smallest} (capacity {cap})")
    lines.append(f"why this provenance: {t.reason}")
    if t.construction:
        lines.append(f"construction: capacity build --construction {t.construction}")
    emit(lines, {"theorem": t.name, "provenance": t.provenance, "widths": list(arch.widths), "dy": arch.dy,
                 "dx": arch.dx, "n": args.n, "negative": cond.negative, "value": value, "holds": holds,
                 "certified": cond.certified, "smallest": None if smallest is None else list(smallest.widths)},
         args.json)
    return 0 if holds else 1
