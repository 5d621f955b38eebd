"""Capacity sweeps: grids of (widths, depth, N, seeds, data family, label type), sharded, resumable.

``spec`` (the grid, its cells, the presets) -> ``run`` (vmapped training or construction +
verification, sharded over devices and hosts) -> ``store`` (typed records, append-only JSONL).
"""

from capacity.sweep.run import init_distributed, is_main_process, run_constructive_batch, run_sweep, run_trained_batch
from capacity.sweep.spec import LABELS, MODES, PRESETS, Cell, SweepSpec, cell_key, cells, my_share, spec_for
from capacity.sweep.store import Metrics, Record, ResultStore, RunResult, SeedResult, write_json_atomic

__all__ = ["LABELS", "MODES", "PRESETS", "Cell", "Metrics", "Record", "ResultStore", "RunResult", "SeedResult",
           "SweepSpec", "cell_key", "cells", "init_distributed", "is_main_process", "my_share", "run_constructive_batch", "run_sweep",
           "run_trained_batch", "spec_for", "write_json_atomic"]
