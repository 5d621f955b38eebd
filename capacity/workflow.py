"""Build, verify and certify in one call: what ``capacity build`` and the frontier do.

:func:`build_and_check` builds a registered construction, verifies the network that will be
saved (float64 + rigorous bound, :func:`capacity.verification.verify`) and, with
``certify=True``, evaluates exactly both

* the **saved network** (its float64 weights, or its exact weights for ``mlp-exact``): this is
  what the report's level certifies, so ``capacity verify --certify`` of the saved file agrees;
* the **construction in exact arithmetic** (its registered rational rebuild, where it has one):
  reported beside it as what it is, a certificate of the construction, not of the file.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

from capacity import constructions
from capacity.data import Dataset
from capacity.exact import ExactResult
from capacity.networks import ExactMLPNet, Network
from capacity.verification import DEFAULT_TOL, Report, certify, combine, verify


@dataclasses.dataclass
class Checked:
    """A built construction, the network to save, and what was verified about them."""

    construction: constructions.Construction
    network: Network
    report: Report  # the level certifies ``network`` (the saved weights)
    file_exact: ExactResult | None  # ``network`` evaluated exactly
    construction_exact: ExactResult | None  # the rational rebuild evaluated exactly (None: same as the file)
    build_seconds: float
    seconds: float  # the whole call

    def certification(self) -> dict:
        """The JSON-able summary written into NET.npz's meta."""
        return {"level": self.report.level, "float": self.report.as_dict(),
                "file_exact": self.file_exact.as_dict() if self.file_exact else None,
                "construction_exact": self.construction_exact.as_dict() if self.construction_exact else None}


def build_and_check(name: str, ds: Dataset, widths: Sequence[int], *, activation: str = "relu", seed: int = 0,
                    tol: float = DEFAULT_TOL, certify_exactly: bool = False, meta: dict | None = None,
                    chunk: int = 4096, progress=None, certify_construction: bool = True) -> Checked:
    """Build construction ``name`` for ``ds``, verify the network to be saved, optionally certify.

    Args:
      certify_exactly: also evaluate exactly the saved network and, where registered, the
        construction's rational rebuild.  Networks of kind ``mlp-exact`` are always evaluated
        exactly (they have no float pass).
      meta: extra metadata for the saved network.
      certify_construction: with ``certify_exactly``, also certify the rational rebuild (its exact
        weights carry long denominators: this is the slow part at large N).
      progress: optional callable(str) told about each phase.
    """
    say = progress or (lambda _msg: None)
    t_all = time.perf_counter()
    entry = constructions.get(name, activation)
    t0 = time.perf_counter()
    con = entry.build(ds, widths, activation=activation, seed=seed)
    build_s = time.perf_counter() - t0
    net = con.network(meta)
    say(f"built in {build_s:.2f} s; verifying {ds.n} points")
    report = verify(net, ds, tol=tol, chunk=chunk)
    file_exact = construction_exact = None
    if isinstance(net, ExactMLPNet):
        file_exact = report.exact
    elif certify_exactly:
        say(f"evaluating the saved network exactly at {ds.n} points")
        file_exact = certify(net, ds, tol=tol, progress=progress is not None)
        combine(report, file_exact, subject="the saved float64 weights")
    if certify_exactly and certify_construction and entry.exact is not None:
        say("carrying out the construction in exact rational arithmetic")
        t1 = time.perf_counter()
        exact_net = entry.exact_network(ds, widths, con, seed=seed)
        rebuild_s = time.perf_counter() - t1
        construction_exact = certify(exact_net, ds, tol=tol)
        construction_exact.seconds += rebuild_s
        construction_exact.notes.append(f"the construction carried out in exact rationals ({rebuild_s:.2f} s; the "
                                        "saved float64 weights are its rounding) and evaluated exactly")
    report.seconds = time.perf_counter() - t_all
    return Checked(con, net, report, file_exact, construction_exact, build_s, report.seconds)
