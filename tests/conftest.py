"""Test configuration: float64, rank-promotion errors, 8 virtual CPU devices.

The device count must be set before any JAX operation, so it happens here at import.
Implicit rank promotion raises (our code broadcasts explicitly).  Dtype promotion stays
"standard": under "strict" optax's own Adam update fails (int32 step count ** float), so a
strict run would test optax, not us.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["CAPACITY_TEST_DEVICES"] = "8"  # benchmarks collected in the same run keep this device count

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

import capacity  # noqa: E402,F401  (also enables x64)

from hypothesis import HealthCheck, settings  # noqa: E402

# "ci" (default) is derandomized so a CI run is reproducible; HYPOTHESIS_PROFILE=thorough explores.
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture
def run_cli(capsys):
    """Run the ``capacity`` CLI in-process: returns (exit code, stdout, stderr)."""
    from capacity import cli

    def run(*argv):
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
