"""Up-front estimates of memory and time, so that a request that cannot fit is refused at once.

Every function here is pure closed-form arithmetic on Python integers: it allocates nothing
and answers in microseconds for any N and any widths (N = 1e10, widths 1e5 x 1e5 included).

* :func:`build_estimate`: building a construction (the dominant arrays of each builder);
* :func:`verify_estimate`: the float64 verification (chunked: O(chunk x width + parameters));
* :func:`exact_estimate`: the exact rational evaluation (:mod:`capacity.exact`);
* :func:`then`: a command that runs one step after another (the first step's result stays in memory);
* :func:`lp_workers`: how many worker processes a Yun block solves its layer-2 LPs on
  (``CAPACITY_LP_WORKERS``; by default the usable cores, for large blocks only);
* :func:`require_fits`: raise :class:`capacity.errors.ResourceError` when the estimate exceeds
  the cap, with the estimate, the cap and how to override it in the message.

The memory cap
--------------
The same cap as for reading files (:mod:`capacity._files`): **8 GiB by default**, overridden by
the environment variable ``CAPACITY_MAX_BYTES`` (``16G``, ``512M``, ``unlimited``) or by the
``cap`` argument of :func:`require_fits`.  A time cap is off by default; set
``CAPACITY_MAX_SECONDS`` (or pass ``max_seconds``) to refuse requests estimated to run longer.

Accuracy
--------
Memory is counted from the arrays each builder allocates (read from the code: the padded
positions of the Yun block, ``4 floor(d1/4) floor(d2/(4 dy))`` of them, the per-neuron LP
arrays, the layer-2 weights and the kernels) plus :data:`BASE_BYTES` for the interpreter with
JAX and SciPy loaded. The yun3 (ReLU) model was compared with measured peak RSS and build times
(N = 500..20000, widths 92..1000): memory within a factor 1.5, e.g. N = 1e6 at 2000,2000: 0.88
GiB estimated, 0.58 GB measured in the building process plus 0.115 GB in each of its two LP
workers. Its time model was recalibrated when the layer-2 LPs went from O(M) rows to O(A) (an LP
costs about K^1.25 x :data:`_T_LP`, nothing per point) and onto worker processes: compared with
yun3 builds at N = 1e5 and 1e6 on the idle 2-core machine, serial and on two workers, it is
within a factor 1.2 (e.g. N = 1e6: 73.9 s estimated serial, 70-71 s measured; 43.5 s on two
workers, 38-39 s measured; see tests/test_resources.py). The float verification and the exact
rank-one evaluation were compared on two yun3 networks (time within a factor 2, exact memory
within 1.3). The other constructions' models count their dominant arrays and loops the same way
but are not calibrated; treat their times as orders of magnitude. Times are wall seconds on an
idle machine: one CPU core, except the Yun blocks' LPs, divided among the worker processes that
:func:`lp_workers` chooses (by default one per usable core, for large blocks).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Sequence

from capacity._files import cap_hint, fmt_bytes, resolve_max_bytes
from capacity.errors import ResourceError

ENV_MAX_SECONDS = "CAPACITY_MAX_SECONDS"
ENV_LP_WORKERS = "CAPACITY_LP_WORKERS"
BASE_BYTES = 256 * 2**20  # the Python process with NumPy, SciPy and JAX imported
F8 = 8  # bytes of a float64

# time constants (seconds, one core), fitted on yun3 builds (see module docstring)
_T_LP_FIXED = 1.5e-3  # per layer-2 LP: rows, model hand-over, solution
_T_LP = 4.6e-6  # per layer-2 LP and kink**1.25: one LP has O(A) rows and 2K + 1 columns (HiGHS)
_T_LP_WORKER = 0.3  # start one LP worker process (Python, NumPy, highspy)
_T_LP_SHIP = 4.0e-7  # per padded point and worker: the block's arrays sent to it
_T_BLOCK_POINT = 1.0e-6  # per padded point: the block's O(M) arrays (pieces, Z, padding, searches)
_T_PY = 3.0e-7  # one Python-level float operation (e.g. the padding loop)
_T_SORT = 3.6e-9  # per element and log2 factor of a sort (np.sort of random float64)
_T_RESORT = 1.0e-8  # per point of a refinement step: gather, re-sort of nearly sorted values, gaps
_T_REFINE_LP = 2.5e-3  # the small LP of one refinement step
_REFINE_STEPS = 150  # refinement steps of choose_projection, all candidates (90..152 measured)
_FLOPS = 2.0e9  # float64 multiply-adds per second in a HIGHEST-precision matmul on one core
_T_JIT = 1.5  # compile a verification pass
_T_BUILD = 0.5  # SciPy / HiGHS imports and set-up of a Yun build
_T_MOD_MAC = 2.5e-9  # one multiply-add modulo one prime in the exact engine (float64 BLAS + reductions)
_T_SWEEP = 4.5e-8  # per point and layer-2 unit of the exact rank-one sweep (measured 1e5 and 1e6)
LP_PROCESS_MIN_WORK = 60_000  # neurons x kinks (about 2 s of LPs) from which they go to worker processes
_WORKER_BYTES = 40 * 2**20  # one LP worker process: Python, NumPy and highspy


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Peak memory (bytes, including :data:`BASE_BYTES` and any worker processes), time (wall
    seconds on an idle machine, see the module docstring) and the bytes still held when the step
    ends (its result: weights, outputs)."""

    what: str
    bytes: int
    seconds: float
    retained: int = 0
    detail: str = ""

    def text(self) -> str:
        d = f"; {self.detail}" if self.detail else ""
        return f"{self.what}: about {fmt_bytes(self.bytes)} of memory and {_fmt_seconds(self.seconds)}{d}"


def _fmt_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 2 * 86400:
        return f"{s / 3600:.3g} h"
    if s < 2 * 365 * 86400:
        return f"{s / 86400:.3g} days"
    return f"{s / (365 * 86400):.3g} years"


def then(first: Estimate, second: Estimate, what: str | None = None) -> Estimate:
    """``first`` followed by ``second`` while ``first``'s result stays in memory."""
    peak = max(first.bytes, first.retained + second.bytes)
    detail = "; ".join(d for d in (first.detail, second.detail) if d)
    return Estimate(what or f"{first.what}, then {second.what}", peak, first.seconds + second.seconds,
                    first.retained + second.retained, detail)


def _log2(n: int) -> float:
    return math.log2(max(int(n), 2))


def _params(sizes: Sequence[int]) -> int:
    return sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))


def _projection(n: int, dx: int, trials: int = 64) -> tuple[int, float]:
    """choose_projection: x @ U in batches of 16 directions and one sort per candidate, then
    about :data:`_REFINE_STEPS` refinement steps in all (a product x @ v, a re-sort of nearly
    sorted projections, a partial sort of the gaps and a small LP each; dx >= 2)."""
    if dx == 1:
        return n * F8, n * _log2(n) * _T_SORT
    mem = n * 16 * F8 + 4 * n * F8
    sec = (trials * n * (_log2(n) * _T_SORT + dx / _FLOPS)
           + _REFINE_STEPS * (_T_REFINE_LP + n * (_T_RESORT + dx / _FLOPS)))
    return mem, sec


def _lp_seconds(kinks: int) -> float:
    """One layer-2 LP of a Yun block with ``kinks`` kinks (HiGHS dual simplex, one core): measured
    3.5 ms at 200 kinks, 15 ms at 633, 63.5 ms at 2001 (slightly faster than linear growth)."""
    return _T_LP_FIXED + _T_LP * kinks ** 1.25


def _yun_block(m_pad: int, n_real: int, a: int, b: int, dy: int, workers: int | None = None) -> tuple[int, float, str]:
    """block_1d at A groups and B pairs on ``n_real`` points padded to m_pad = 4AB: memory and time.

    The layer-2 LPs (one per neuron, O(A) rows each, :func:`_lp_seconds`) are divided among the
    worker processes :func:`lp_workers` chooses, each started and sent the block's arrays once."""
    k = 4 * a + 1
    h = 2 * b
    lp_neurons = dy * h
    v_pad = max(m_pad - n_real, 0)
    procs = lp_workers(lp_neurons, k, workers)
    lp_sec = lp_neurons * _lp_seconds(k)
    lp_mem = 0
    if procs > 1:
        lp_sec = lp_sec / procs + _T_LP_WORKER + procs * _T_LP_SHIP * m_pad
        lp_mem = procs * (_WORKER_BYTES + 80 * m_pad)  # a worker's copy of the per-point arrays
    mem = (m_pad * (1 + dy) * F8  # padded positions and labels
           + 32 * v_pad  # the Python list of padding positions (transient)
           + 200 * m_pad  # the LP's per-point arrays: piece, lam, sparse Z, masks ...
           + lp_neurons * k * F8  # kink values kept per neuron
           + k * 2 * lp_neurons * F8  # w2 (K, 2H dy)
           + lp_mem)
    sec = _T_BUILD + m_pad * _T_BLOCK_POINT + lp_sec + v_pad * _T_PY + lp_neurons * 2 * a * _T_PY * 4
    on = f" on {procs} worker processes" if procs > 1 else ""
    detail = f"{m_pad:,} padded block positions (4*{a}*{b}), {lp_neurons:,} layer-2 linear programs{on}"
    return mem, sec, detail


def build_estimate(construction: str, n: int, dx: int, dy: int = 1, widths: Sequence[int] = (), *,
                   activation: str = "relu", chunk_size: int | None = None, workers: int | None = None) -> Estimate:
    """Memory and time to build ``construction`` for N = ``n`` points in ``dx`` dimensions with
    ``dy`` outputs (classes for the classifiers) at hidden ``widths``.

    Widths are taken as given (the builder's own width check runs separately and is cheap);
    constructions that choose their own size (zhang, bubeck, baum, hardt-ma, vardi, yun-resnet
    without widths) are sized from N, dx and dy as the builder would.  ``retained`` is the
    network's weights.  ``workers``: the LP worker processes of the Yun blocks (default: what
    the build will use, :func:`lp_workers`); the time is then wall time on an idle machine.
    """
    n, dx, dy = int(n), int(dx), max(int(dy), 1)
    w = [int(v) for v in widths]
    data = n * dx * F8 + n * dy * F8
    name = construction
    pmem, psec = _projection(n, dx)
    if name == "yun3":
        d1, d2 = (w + [0, 0])[:2]
        if activation == "hardtanh":
            a, b = d1 // 2, d2 // (2 * dy)
        else:
            a, b = d1 // 4, d2 // (4 * dy)
        a, b = max(a, 1), max(b, 1)
        bmem, bsec, detail = _yun_block(4 * a * b, n, a, b, dy, workers)
        weights = _params([dx, d1, d2, dy]) * F8
        mem = data + max(pmem, bmem + weights)
        return Estimate(f"building yun3 at widths {d1},{d2} for N = {n:,}", BASE_BYTES + mem, psec + bsec,
                        weights, f"kernel ({d1} x {d2}) = {fmt_bytes(d1 * d2 * F8)}; {detail}")
    if name == "yun-classify":
        d1, d2, d3 = (w + [0, 0, 0])[:3]
        a, b = max(d1 // 4, 1), max(d2 // 4, 1)
        bmem, bsec, detail = _yun_block(4 * a * b, n, a, b, 1, workers)
        weights = _params([dx, d1, d2, d3, dy]) * F8
        mem = data + max(pmem, bmem + weights)
        return Estimate(f"building yun-classify at widths {d1},{d2},{d3} for N = {n:,}", BASE_BYTES + mem,
                        psec + bsec, weights, f"{detail}; weights {fmt_bytes(weights)}")
    if name == "yun-deep":
        sizes = [dx] + w + [dy]
        weights = _params(sizes) * F8
        mem_blocks, sec_blocks, m_total = 0, 0.0, 0
        left = n
        for l in range(len(w) - 1):  # one block per pair of consecutive hidden layers (upper bound)
            if left <= 0:
                break
            a, b = max(w[l] // 4, 1), max(w[l + 1] // (4 * dy), 1)
            bmem, bsec, _ = _yun_block(4 * a * b, min(left, 4 * a * b), a, b, dy, workers)
            mem_blocks += bmem
            sec_blocks += bsec
            m_total += 4 * a * b
            left -= 4 * a * b
        mem = data + max(pmem, mem_blocks + weights)
        return Estimate(f"building yun-deep at widths {','.join(map(str, w))} for N = {n:,}", BASE_BYTES + mem,
                        psec + sec_blocks, weights,
                        f"at most {m_total:,} padded block positions; weights {fmt_bytes(weights)}")
    if name == "yun-resnet":
        k = 3
        chunks = max(1, math.ceil(n / max(chunk_size or dx, 1)))
        nb = len(w) if w else chunks
        width = max(w) if w else k
        d = dx + dy
        weights = (2 * nb * d * width + nb * width + dx * d + d * dy + d + dy) * F8
        mem = data + weights + 4 * n * F8 + chunks * 64
        sec = chunks * (n * 2e-8 + dx * dx * dx * 1e-8) + n * _log2(n) * _T_SORT
        return Estimate(f"building yun-resnet ({nb:,} blocks) for N = {n:,}", BASE_BYTES + mem, sec, weights,
                        f"{chunks:,} chunks, each scanning all N points; weights {fmt_bytes(weights)}")
    if name == "zhang":
        weights = (dx + 1 + 3 * n) * F8
        mem = data + 6 * n * F8
        sec = 16 * (n * dx / _FLOPS + n * _log2(n) * _T_SORT) + n * _T_PY * 10
        return Estimate(f"building zhang for N = {n:,}", BASE_BYTES + mem, sec, weights, f"{n:,} hidden units")
    if name in ("bubeck", "baum"):
        units = max(4 * math.ceil(n / max(dx, 1)), 1)
        weights = (dx * units + 2 * units + units * 2 + 2) * F8
        groups = math.ceil(n / max(dx, 1))
        mem = data + weights + n * F8 * 4 + dx * (dx + 1) * F8 * 4
        sec = groups * (dx ** 3 * 1e-8 + n * dx * 2e-9 + 2e-5)
        return Estimate(f"building {name} for N = {n:,}", BASE_BYTES + mem, sec, weights,
                        f"{units:,} hidden units, {groups:,} hyperplanes each checked against all N points")
    if name == "hardt-ma":
        k = int(w[0]) if w else max(2, math.ceil(2 * _log2(n)), min(dx, 64))
        r = dy
        units = max(k, 2 * r)
        d = k + r
        n_blocks = math.ceil(n / k) + 1
        weights = (2 * n_blocks * d * units + n_blocks * units + dx * d + d * r) * F8
        dist = 1024 * n * F8  # min_distance_pair: 1024 rows of distances at a time
        mem = data + weights + dist + n * k * F8
        sec = n * n * dx / _FLOPS + n_blocks * units * d * 1e-7
        return Estimate(f"building hardt-ma (k = {k}) for N = {n:,}", BASE_BYTES + mem, sec, weights,
                        f"{n_blocks:,} residual blocks of width {units}; all-pairs distances")
    if name == "vardi":
        # exact integers in Python lists: O(N) big ints for the projections and codes, a network of
        # width <= 12 and depth O(sqrt(N log N)) layers
        depth = 4 * math.isqrt(max(n, 1) * max(int(_log2(n)), 1)) + 16
        weights = depth * 12 * 13 * 64
        mem = data + n * dx * 64 + 8 * n * 64 + weights
        sec = n * dx * 2e-6 + n * _log2(n) * 1e-6 + depth * 144 * 1e-5
        return Estimate(f"building vardi for N = {n:,}", BASE_BYTES + mem, sec, weights,
                        f"about {depth:,} layers of width <= 12 (exact integers)")
    # unknown construction: the weights of an MLP with these widths
    sizes = [dx] + w + [dy]
    weights = _params(sizes) * F8
    return Estimate(f"building {name} for N = {n:,}", BASE_BYTES + data + 2 * weights, psec, weights,
                    f"weights {fmt_bytes(weights)} (generic estimate)")


def verify_estimate(layer_sizes: Sequence[int], n: int, *, chunk: int = 4096, residual_params: int | None = None) -> Estimate:
    """Float64 verification (:func:`capacity.verification.verify`) of an MLP with
    ``layer_sizes`` = (dx, d1, ..., dy) on N = ``n`` points, ``chunk`` points per step.

    Memory: the data and their device copy, the weights, their absolute values and device copies,
    about ten (chunk, width) arrays per step (values, bounds, scales, margins), and the
    per-point outputs and bounds.  Time: three matrix products per layer and point, plus the
    compilation.  For a residual network give ``residual_params`` (its parameter count) and
    ``layer_sizes`` = (dx, D, dy) with the stream width D.
    """
    sizes = [int(v) for v in layer_sizes]
    n = int(n)
    chunk = max(1, min(int(chunk), max(n, 1)))
    dx, dy = sizes[0], sizes[-1]
    params = residual_params if residual_params is not None else _params(sizes)
    width = max(sizes)
    mem = (2 * n * (dx + dy) * F8  # data and device copies
           + 4 * params * F8  # weights, |weights|, device copies
           + 10 * chunk * width * F8  # per-step activations, bounds, scales
           + 4 * n * dy * F8 + 4 * n * F8)  # outputs, bounds, margins
    sec = 3 * n * params / _FLOPS + _T_JIT
    return Estimate(f"verifying N = {n:,} points in float64", BASE_BYTES + mem, sec, 2 * n * dy * F8,
                    f"{params:,} parameters, chunks of {chunk} points")


def exact_estimate(layer_sizes: Sequence[int], n: int, *, rank_one: bool = False, bits: int = 256) -> Estimate:
    """Exact evaluation (:mod:`capacity.exact`) of an MLP with ``layer_sizes`` on N = ``n`` points.

    The engine is chunked over points: each chunk of about 2^21 / width rows is one integer
    matrix per layer, held as residues modulo P word primes (float64), so its working memory is
    O(chunk x width x P + parameters x P), independent of N; what grows with N is the data (x, y
    and their integer images) and, with ``rank_one`` (the sorted sweep, chosen when the stored
    first kernel is exactly u ⊗ a), the N sorted exact projections.  P grows with the bits of
    the numbers (``bits``, about 256 for float64 weights over a few layers: P ~ bits / 32).
    Calibrated on the shared 2-core machine (yun3 in R^16 at N = 2e4 and 1e5, sweep; a random
    16-200-200-1 net at N = 1e4, general path): memory within a factor 1.5, time within 3.
    """
    sizes = [int(v) for v in layer_sizes]
    n = int(n)
    width = max(sizes[1:]) if len(sizes) > 1 else 1
    params = _params(sizes)
    primes = max(4, bits // 32)
    chunk = max(64, min(4096, 2**21 // max(1, width)))
    mem = (3 * n * (sizes[0] + sizes[-1]) * F8  # data, its integer image, outputs
           + 2 * chunk * width * primes * F8  # residues of one layer's input and output
           + 2 * params * primes * F8)  # the weights' residues
    mat_ops = n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    if rank_one and len(sizes) >= 4:
        d1, d2 = sizes[1], sizes[2]
        mem += n * 96 + 16 * (d1 + 1) * d2  # sorted exact projections, the kink table
        rest = n * sum(a * b for a, b in zip(sizes[2:-1], sizes[3:]))
        sec = _T_SWEEP * n * d2 + rest * primes * _T_MOD_MAC
        detail = f"rank-one sweep over {n:,} sorted projections and {d1:,} kinks, chunks of {chunk} points"
    else:
        sec = mat_ops * primes * _T_MOD_MAC
        detail = f"{len(sizes) - 1} integer layers modulo about {primes} primes, chunks of {chunk} points"
    return Estimate(f"evaluating N = {n:,} points exactly", BASE_BYTES + mem, sec + _T_JIT, n * sizes[-1] * F8, detail)


def lp_workers(neurons: int, kinks: int, workers: int | None = None, min_work: int | None = None) -> int:
    """How many worker processes solve the ``neurons`` layer-2 linear programs of a Yun block with
    ``kinks`` kinks: 1 means in the building process, serially.

    ``workers``: the number to use for a large block; default ``$CAPACITY_LP_WORKERS``, else the
    usable cores (``os.sched_getaffinity``).  A block takes processes only when its linear
    programs are worth about a second or more (``neurons * kinks >= min_work``, default
    :data:`LP_PROCESS_MIN_WORK`): starting a worker and shipping it the block's arrays costs
    about 0.3 s, so small builds (everything the tests build) stay serial.
    """
    if workers is None:
        env = os.environ.get(ENV_LP_WORKERS, "").strip()
        if env and env.lower() != "auto":
            try:
                workers = int(env)
            except ValueError:
                workers = 0
            if workers < 1:
                raise ResourceError(f"{ENV_LP_WORKERS}={env!r} must be a positive number of processes (1: solve the "
                                    "linear programs in the building process) or auto (the usable cores)")
        else:
            workers = _usable_cores()
    work = int(neurons) * int(kinks)
    if work < (LP_PROCESS_MIN_WORK if min_work is None else int(min_work)):
        return 1
    return max(1, min(int(workers), int(neurons)))


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - no affinity on this platform (macOS)
        return os.cpu_count() or 1


def resolve_max_seconds(max_seconds: float | None = None) -> float:
    """The time cap: ``max_seconds`` if given, else ``$CAPACITY_MAX_SECONDS``, else none (inf)."""
    if max_seconds is not None:
        return float(max_seconds) if max_seconds > 0 else math.inf
    env = os.environ.get(ENV_MAX_SECONDS, "").strip()
    if not env or env.lower() in ("unlimited", "none", "inf"):
        return math.inf
    try:
        v = float(env)
    except ValueError:
        v = math.nan
    if not (v > 0):
        raise ResourceError(f"{ENV_MAX_SECONDS}={env!r} must be a positive number of seconds (or unlimited)")
    return v


def require_fits(estimate: Estimate, cap: int | None = None, *, max_seconds: float | None = None) -> Estimate:
    """Raise :class:`ResourceError` if ``estimate`` needs more memory than the cap (``cap``, else
    ``$CAPACITY_MAX_BYTES``, else 8 GiB) or, when a time cap is set, more time; return it otherwise.

    The one-line message states the estimate, its dominant term, the cap and how to override it.
    """
    limit = resolve_max_bytes(cap)
    if estimate.bytes > limit:
        d = f" ({estimate.detail})" if estimate.detail else ""
        raise ResourceError(f"{estimate.what} needs an estimated {fmt_bytes(estimate.bytes)} of memory{d}, more than "
                            f"the cap of {fmt_bytes(limit)}: use smaller widths or fewer points, or {cap_hint()}")
    tmax = resolve_max_seconds(max_seconds)
    if estimate.seconds > tmax:
        raise ResourceError(f"{estimate.what} would take an estimated {_fmt_seconds(estimate.seconds)}, more than the "
                            f"time cap of {_fmt_seconds(tmax)}: use smaller widths or fewer points, or raise "
                            f"{ENV_MAX_SECONDS}")
    return estimate
