"""Scaling of the exact engine (capacity.exact.certify_mlp) against the float64 verify pass.

    PYTHONPATH=. .venv/bin/python benchmarks/exact_scaling.py --sizes 2000,10000,20000,100000 --general

For each N: build yun3 on Gaussian data in R^16 with the smallest widths of
``theory.bounds.yun3_smallest_widths(N)``, time ``capacity.verification.verify`` (second call:
JIT compile time excluded), then certify the same stored arrays exactly in a fresh child process,
which reports its own wall time and peak RSS (ru_maxrss; the child's baseline after imports and
loading is reported too, so the exact phase's own memory is peak - baseline).  ``--general`` adds
a random 16-200-200-1 ReLU net on N = 1e4 points whose targets are its own float64 outputs (so the
exact residual is the float rounding error and tol decides), certified with tol = 0 (every point
exact), tol = 1e-10 with the float filter, and tol = 1e-10 without it; its float passes are best
of 3 and its exact rows best of ``--repeats`` child processes.  ``--rational`` adds yun3's
construction carried out in exact rationals (``Entry.exact_network``: long, unrelated denominators)
certified as ``capacity.workflow.build_and_check`` does, against the float verify of the float
build; ``--vardi`` adds Vardi's deep exact-integer network (frontier data) against a NumPy forward
pass of its weights rounded to float64.
Prints a Markdown table and writes JSON (``--json``).  Above ``--verify-max`` points (default 2e5)
the float passes are timed on the first ``--verify-max`` points and scaled linearly (the row says
"float times extrapolated"); N = 1e6 was measured with

    PYTHONPATH=. .venv/bin/python benchmarks/exact_scaling.py --sizes 1000000 --verify-max 20000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_construction(kind: str, n: int) -> None:
    """Build and certify a construction's exact network in this (child) process: rational yun3 or vardi."""
    import capacity  # noqa: F401
    from capacity import constructions, data
    from capacity.verification import certify

    if kind == "rational":
        from theory.bounds import yun3_smallest_widths

        ds = data.generate("gaussian", n, 16, seed=0)
        widths = yun3_smallest_widths(n)
        entry = constructions.get("yun3", "relu")
        net = entry.exact_network(ds, widths, entry.build(ds, widths, activation="relu", seed=0), seed=0)
    else:
        from capacity.experiments.frontier import SPECS, dataset_for

        ds = dataset_for(SPECS["vardi"][0], n, 0)
        net = constructions.get("vardi", "relu").build(ds, None, activation="relu", seed=0).network()
    base = _rss_now()
    r = certify(net, ds, tol=1e-6)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": r.seconds, "level": r.level, "residual": r.exact_residual,
                      "residual_float": r.exact_residual_float, "kink": r.min_abs_preactivation, "tiers": r.tiers,
                      "method": r.method, "peak_rss": peak, "baseline_rss": base, "notes": r.notes,
                      "depth": len(net.kernels)}))


def construction_case(kind: str, n: int) -> dict:
    """The exact row from a child process; the float baseline here (best of 3)."""
    import capacity  # noqa: F401
    from capacity import constructions, data

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, __file__, "--child-construction", kind, "--child-n", str(n)],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    ex = json.loads(out.stdout.strip().splitlines()[-1])
    if kind == "rational":
        from theory.bounds import yun3_smallest_widths

        ds = data.generate("gaussian", n, 16, seed=0)
        widths = list(yun3_smallest_widths(n))
        net = constructions.build("yun3", ds, widths).network()
        ks, bs = [np.asarray(k) for k in net.kernels], [np.asarray(b) for b in net.biases]
        tv = min(timed_verify(ks, bs, ds.x, ds.y_original)[0] for _ in range(3))
        name = f"yun3 rational rebuild N={n}"
    else:
        from capacity.experiments.frontier import SPECS, dataset_for

        ds = dataset_for(SPECS["vardi"][0], n, 0)
        net = constructions.get("vardi", "relu").build(ds, None, activation="relu", seed=0).network()
        ks = [np.asarray(k, dtype=np.float64) for k in net.kernels]
        bs = [np.asarray(b, dtype=np.float64) for b in net.biases]
        widths = [ex["depth"]]
        tv = float("nan")
        name = f"vardi (depth {ex['depth']}) N={n}"
    tn = min(numpy_forward_seconds(ks, bs, np.asarray(ds.x, dtype=np.float64)) for _ in range(3))
    return {"case": name, "n": n, "widths": widths, "verify_s": tv, "numpy_forward_s": tn, "exact": ex,
            "ratio": ex["seconds"] / tv if tv == tv else float("nan")}


def child(path: str, tol: float, float_filter: bool, fast_path: str) -> None:
    import capacity  # noqa: F401  (x64)
    from capacity.exact import certify_mlp

    z = np.load(path, allow_pickle=False)
    nl = int(z["n_layers"])
    ks = [z[f"k{i}"] for i in range(nl)]
    bs = [z[f"b{i}"] for i in range(nl)]
    x, y = z["x"], z["y"]
    base = _rss_now()
    fp = {"auto": "auto", "false": False, "true": True}[fast_path]
    r = certify_mlp(ks, bs, x, y, tol=tol, float_filter=float_filter, fast_path=fp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": r.seconds, "level": r.level, "residual": r.exact_residual,
                      "residual_float": r.exact_residual_float, "kink": r.min_abs_preactivation, "tiers": r.tiers,
                      "method": r.method, "peak_rss": peak, "baseline_rss": base, "notes": r.notes}))


def run_child(path, tol=0.0, float_filter=True, fast_path="auto") -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, __file__, "--child", path, "--tol", repr(tol), "--filter",
                          str(int(float_filter)), "--fast", fast_path], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_verify(kernels, biases, x, y, activation="relu", max_n=None):
    """(seconds, report, extrapolated): verify's wall time on the second call.  With more
    than max_n points it runs on the first max_n and the time is scaled by N / max_n (linear)."""
    from capacity.data import make_dataset
    from capacity.networks import MLPNet
    from capacity.verification import verify

    n = x.shape[0]
    scale = 1.0
    if max_n and n > max_n:
        x, y, scale = x[:max_n], y[:max_n], n / max_n
    net = MLPNet([np.asarray(k) for k in kernels], [np.asarray(b) for b in biases], activation)
    ds = make_dataset(x, y, classification=False, allow_out_of_box=True)
    verify(net, ds)  # compile
    t0 = time.perf_counter()
    rep = verify(net, ds)
    return (time.perf_counter() - t0) * scale, rep, scale != 1.0


def numpy_forward_seconds(kernels, biases, x, max_n=None, chunk=4096) -> float:
    """Plain NumPy float64 forward pass (no bounds), chunked; scaled like :func:`timed_verify`."""
    n = x.shape[0]
    scale = 1.0
    if max_n and n > max_n:
        x, scale = x[:max_n], n / max_n
    t0 = time.perf_counter()
    for a in range(0, x.shape[0], chunk):
        h = x[a:a + chunk]
        for i, (k, b) in enumerate(zip(kernels, biases)):
            h = h @ k + b
            if i < len(kernels) - 1:
                h = np.maximum(h, 0.0)
    return (time.perf_counter() - t0) * scale


def save(path, kernels, biases, x, y):
    arrs = {f"k{i}": np.asarray(k, np.float64) for i, k in enumerate(kernels)}
    arrs.update({f"b{i}": np.asarray(b, np.float64) for i, b in enumerate(biases)})
    np.savez(path, n_layers=len(kernels), x=x, y=y, **arrs)


def yun3_case(n: int, tmp: str, verify_max: int | None = None, tol: float = 1e-6) -> dict:
    from capacity import constructions, data
    from theory.bounds import yun3_smallest_widths

    ds = data.generate("gaussian", n, 16, seed=0)
    widths = yun3_smallest_widths(n)
    t0 = time.perf_counter()
    c = constructions.build("yun3", ds, widths)
    t_build = time.perf_counter() - t0
    net = c.network()
    y = ds.y_original  # regression labels (N, dy)
    path = os.path.join(tmp, f"yun3_{n}.npz")
    save(path, net.kernels, net.biases, ds.x, y)
    ks, bs = [np.asarray(k) for k in net.kernels], [np.asarray(b) for b in net.biases]
    del c, net
    ex = run_child(path, tol)  # first, while the machine is quiet; its own process and peak RSS
    os.remove(path)
    tv, rep, extra = timed_verify(ks, bs, ds.x, y, max_n=verify_max)
    tn = numpy_forward_seconds(ks, bs, ds.x, max_n=verify_max)
    return {"case": f"yun3 N={n}" + (" (float times extrapolated)" if extra else ""), "n": n, "widths": list(widths),
            "build_s": t_build, "verify_s": tv, "numpy_forward_s": tn, "verify_level": rep.level,
            "float_residual": rep.max_residual, "exact": ex, "ratio": ex["seconds"] / tv, "tol": tol}


def general_case(n: int, tmp: str, repeats: int = 3) -> list:
    import jax.numpy as jnp

    import capacity  # noqa: F401
    from capacity.networks import mlp_apply

    rng = np.random.default_rng(0)
    widths = [16, 200, 200, 1]
    ks = [rng.normal(size=(a, b)) * np.sqrt(2.0 / a) for a, b in zip(widths[:-1], widths[1:])]
    bs = [rng.normal(size=b) * 0.1 for b in widths[1:]]
    x = rng.normal(size=(n, 16))
    y = np.asarray(mlp_apply([jnp.asarray(k) for k in ks], [jnp.asarray(b) for b in bs], jnp.asarray(x)))
    runs = [timed_verify(ks, bs, x, y) for _ in range(3)]
    tv, rep = min(r[0] for r in runs), runs[0][1]
    tn = min(numpy_forward_seconds(ks, bs, x) for _ in range(3))
    path = os.path.join(tmp, "general.npz")
    save(path, ks, bs, x, y)
    rows = []
    for tol, filt in ((0.0, True), (1e-10, True), (1e-10, False)):
        ex = min((run_child(path, tol, filt) for _ in range(max(1, repeats))), key=lambda e: e["seconds"])
        rows.append({"case": f"general 16-200-200-1 N={n} tol={tol:g} filter={'on' if filt else 'off'}", "n": n,
                     "widths": widths[1:3], "verify_s": tv, "numpy_forward_s": tn, "verify_level": rep.level,
                     "float_residual": rep.max_residual, "exact": ex, "ratio": ex["seconds"] / tv})
    os.remove(path)
    return rows


def table(rows) -> str:
    out = ["| case | widths | build s | float verify s | numpy forward s | exact s | ratio to verify | "
           "ratio to numpy fwd | peak RSS GB (baseline) | level | exact residual | tiers (filter/exact) | method |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["exact"]
        out.append(f"| {r['case']} | {r['widths']} | {r.get('build_s', float('nan')):.1f} | {r['verify_s']:.2f} | "
                   f"{r['numpy_forward_s']:.2f} | {e['seconds']:.2f} | {r['ratio']:.1f} | "
                   f"{e['seconds'] / r['numpy_forward_s']:.1f} | {e['peak_rss'] / 1e9:.2f} ({e['baseline_rss'] / 1e9:.2f}) | "
                   f"{e['level']} | {e['residual']} | {e['tiers']['float_filter']}/{e['tiers']['exact']} | {e['method']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,10000", help="N list for yun3 float rows ('' for none)")
    ap.add_argument("--general", action="store_true")
    ap.add_argument("--general-n", type=int, default=10000)
    ap.add_argument("--verify-max", type=int, default=200000,
                    help="time the float passes on at most this many points and scale linearly (default 2e5)")
    ap.add_argument("--yun3-tol", type=float, default=1e-6, help="tol for the yun3 rows (verify's default 1e-6)")
    ap.add_argument("--repeats", type=int, default=3, help="exact rows of --general: best of this many runs")
    ap.add_argument("--rational", default="", help="N list: yun3 rational rebuild rows (e.g. 2000,10000)")
    ap.add_argument("--vardi", default="", help="N list: Vardi exact-integer rows (e.g. 3000,30000)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--child-construction", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tol", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--filter", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--fast", default="auto", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a.child, a.tol, bool(a.filter), a.fast)
        return 0
    if a.child_construction:
        child_construction(a.child_construction, a.child_n)
        return 0
    import capacity  # noqa: F401

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(float(v)) for v in a.sizes.split(",") if v]:
            rows.append(yun3_case(n, tmp, a.verify_max, a.yun3_tol))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        if a.general:
            for r in general_case(a.general_n, tmp, a.repeats):
                rows.append(r)
                print(table([r]).splitlines()[-1], flush=True)
        for kind in ("rational", "vardi"):
            for n in [int(float(v)) for v in getattr(a, kind).split(",") if v]:
                rows.append(construction_case(kind, n))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
