"""The per-neuron linear programs of the Yun block, in this process or on a worker process.

:func:`capacity.constructions._block1d._optimise_values` sets up one linear program per layer-2
neuron; they share every array (:class:`NeuronLPs`) and differ only in which rows they take.
The same :meth:`NeuronLPs.solve` runs serially in the building process and in worker processes
(:func:`serve`), so both paths give bitwise identical values.

This module imports only the standard library, NumPy and highspy: a worker process loads it by
its file path (:data:`BOOT`), never through the ``capacity`` package, whose import pulls in JAX
(about 2 s and 190 MB a process, against 0.2 s and 32 MB for NumPy and highspy).
"""

from __future__ import annotations

import numpy as np

# run by `python -c BOOT <this file> <fd>`: load this file as a module by path and serve on fd
BOOT = (
    "import sys\n"
    "if sys.path and sys.path[0] == '':\n"
    "    del sys.path[0]\n"  # `-c` puts the current directory first: never import from there
    "import importlib.util\n"
    "spec = importlib.util.spec_from_file_location('_capacity_lp_worker', sys.argv[1])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "mod.serve(int(sys.argv[2]))\n"
)


def highs_lp(c, lb, ub, row_lo, row_hi, indptr, indices, data, *, rowwise: bool, solver: str = "choose",
             highs=None):
    """min c.x s.t. row_lo <= A x <= row_hi, lb <= x <= ub by HiGHS, called directly (highspy).

    ``A`` comes compressed: (indptr, indices, data) of CSR when ``rowwise``, else of CSC.  The
    options are those scipy's ``linprog(method="highs" / "highs-ds" / "highs-ipm")`` sets (presolve
    on, dual simplex strategy, silent; ``solver`` "choose", "simplex" or "ipm"), without its
    per-call Python overhead (option checks, input cleaning, a Python loop over the columns for
    the bound marginals), and the model goes in as arrays (no ``HighsLp`` built field by field).
    ``highs``: a ``highspy._Highs`` to reuse; its previous model, solution and basis are cleared
    first, so every solve starts cold and gives what a fresh instance gives.

    Returns (x, message): x is None unless HiGHS reports the model optimal.
    """
    import highspy

    h = highspy._Highs() if highs is None else highs
    h.clearModel()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("presolve", "on")
    h.setOptionValue("solver", solver)
    h.setOptionValue("simplex_strategy", 1)  # dual simplex, as scipy sets it
    n, m = int(np.size(c)), int(np.size(row_lo))
    f8 = lambda v: np.ascontiguousarray(v, dtype=np.float64)  # noqa: E731
    i4 = lambda v: np.ascontiguousarray(v, dtype=np.int32)  # noqa: E731
    fmt = highspy.MatrixFormat.kRowwise if rowwise else highspy.MatrixFormat.kColwise
    # the arrays go in as pointers (a HighsLp's fields would be copied element by element:
    # 2 ms of a 20 ms LP); integrality all continuous (0), since an empty array is read anyway
    status = h.passModel(n, m, int(np.size(data)), int(fmt), int(highspy.ObjSense.kMinimize), 0.0, f8(c), f8(lb),
                         f8(ub), f8(row_lo), f8(row_hi), i4(indptr), i4(indices), f8(data), np.zeros(n, np.int32))
    if status == highspy.HighsStatus.kError:
        return None, "HiGHS rejected the model"
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        return None, h.modelStatusToString(status)
    return np.array(h.getSolution().col_value), "optimal"


class NeuronLPs:
    """What the linear programs of all layer-2 neurons share, and the solve of one of them.

    Built from plain arrays (picklable: shipped once to each worker process):
      zp, zi, zd: CSR of Z (M, nv): row i gives z at point i from the LP variables;
      sp, si, sd: CSR of the 2K slope rows (|slope change| <= tau), the same for every neuron;
      piece: (M,) piece of each point; cost, lb, ub: (nv,); m: the margin 1 + 1.25 mu;
      Y: (M, dy) labels; sigma: (2B,) neuron shapes; A, B: groups and pairs; K: kinks.
    """

    def __init__(self, *, zp, zi, zd, sp, si, sd, piece, cost, lb, ub, m, Y, sigma, A, B, K):
        self.zp, self.zi, self.zd = zp, zi, zd
        self.slope_part = (np.diff(sp), si, sd)
        self.piece, self.cost, self.lb, self.ub, self.m = piece, cost, lb, ub, m
        self.Y, self.sigma, self.A, self.B = Y, sigma, int(A), int(B)
        self.M, self.K = piece.size, int(K)
        self.G = 4 * self.B
        self.piece_breaks = np.flatnonzero(piece[1:] != piece[:-1]) + 1
        self.group_starts = np.arange(self.A) * self.G

    def _gather(self, r, sign):
        zp = self.zp
        cnt = zp[r + 1] - zp[r]
        take = np.repeat(zp[r] - np.r_[0, np.cumsum(cnt)[:-1]], cnt) + np.arange(cnt.sum())
        return cnt, self.zi[take], sign * self.zd[take]

    def _cls_of(self, i, n):
        """0: owned (equality), 1: strictly between (high), 2: outside (low)."""
        G = self.G
        p = i % G
        return np.where((p == n) | (p == G - 1 - n), 0, np.where((p > n) & (p < G - 1 - n), 1, 2))

    def rows_of(self, n):
        """(lo_rows, hi_rows, eq_rows) of neuron n: the first and last point of every run of
        equal (piece, class) with class low / high, and the owned points (increasing).

        The runs break only where the piece changes (the same for every neuron) or at positions
        0, n, n+1, G-1-n, G-n of a group: O(A + K) work, never a mask over all M points.
        """
        G, M, piece = self.G, self.M, self.piece
        cand = np.concatenate([self.piece_breaks] + [self.group_starts + off for off in (0, n, n + 1, G - 1 - n, G - n)])
        cand = np.unique(cand[(cand >= 1) & (cand <= M - 1)])
        cc, cp = self._cls_of(cand, n), self._cls_of(cand - 1, n)
        brk = cand[(piece[cand] * 3 + cc) != (piece[cand - 1] * 3 + cp)]
        edge = np.unique(np.concatenate([[0, M - 1], brk, brk - 1]))
        ce = self._cls_of(edge, n)
        own = np.column_stack([self.group_starts + n, self.group_starts + G - 1 - n]).ravel()
        return edge[ce == 2], edge[ce == 1], own

    def solve(self, rr: int, n: int, highs):
        """Neuron n of output rr: (V (K,), s_R, "optimal"), or (None, None, HiGHS's message) when
        both dual simplex and interior point fail."""
        K, m = self.K, self.m
        lo_rows, hi_rows, eq_rows = self.rows_of(n)
        ys = self.Y[eq_rows, rr] * self.sigma[n]
        parts = [self._gather(lo_rows, 1.0), self._gather(hi_rows, -1.0), self.slope_part, self._gather(eq_rows, 1.0)]
        cnt = np.concatenate([q[0] for q in parts])
        indptr = np.r_[0, np.cumsum(cnt)]
        indices = np.concatenate([q[1] for q in parts])
        data = np.concatenate([q[2] for q in parts])
        nlo, nhi = lo_rows.size, hi_rows.size
        row_lo = np.r_[np.full(nlo + nhi + 2 * K, -np.inf), ys]
        row_hi = np.r_[np.full(nlo + nhi, -m), np.zeros(2 * K), ys]
        msg = ""
        for solver in ("simplex", "ipm"):  # scipy's "highs-ds", then "highs-ipm"
            x, msg = highs_lp(self.cost, self.lb, self.ub, row_lo, row_hi, indptr, indices, data, rowwise=True,
                              solver=solver, highs=highs)
            if x is not None:
                return x[:K].copy(), float(x[K]), msg
        return None, None, msg


def serve(fd: int) -> None:
    """A worker process's loop on the connection ``fd`` (a socket shared with the parent).

    Receives the keyword arguments of :class:`NeuronLPs` once, then tasks ``(i, rr, n)``, and
    answers each with ``(i, solve(rr, n))``; ``None`` (or the parent closing its end) stops it.
    An exception is answered with ``("error", traceback)``.  Interrupts (Ctrl-C reaches the
    whole process group) are ignored: the parent ends its workers itself.
    """
    import signal
    import traceback
    from multiprocessing.connection import Connection

    import highspy

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        lps = NeuronLPs(**conn.recv())
        highs = highspy._Highs()
        while (task := conn.recv()) is not None:
            i, rr, n = task
            conn.send((i, lps.solve(rr, n, highs)))
    except (EOFError, OSError):  # the parent has gone: nothing to answer
        pass
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        conn.close()
