"""Pure mathematics of memorization capacity: closed-form capacities and thresholds
(:mod:`theory.bounds`), the theorem registry with provenance (:mod:`theory.registry`), the
linearized SGD prediction (:mod:`theory.linearized`) and the root error class
(:mod:`theory.errors`).

``theory`` imports numpy, math and jax at most, never :mod:`capacity`; ``capacity`` builds,
checks, trains, sweeps, runs experiments and draws on top of it.
"""
