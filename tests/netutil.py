"""Shared test helpers: random networks and an independent NumPy forward pass."""

import numpy as np


def random_net(seed, widths, scale=1.0):
    """Gaussian kernels (in, out) times ``scale`` and Gaussian biases, for layer sizes ``widths``."""
    rng = np.random.default_rng(seed)
    ks = [rng.standard_normal((a, b)) * scale for a, b in zip(widths[:-1], widths[1:])]
    bs = [rng.standard_normal(b) for b in widths[1:]]
    return ks, bs


def numpy_forward(ks, bs, x, act="relu"):
    """The MLP evaluated by NumPy (independent of capacity.networks.mlp_apply)."""
    h = x
    for i, (k, b) in enumerate(zip(ks, bs)):
        h = h @ k + b
        if i < len(ks) - 1:
            h = np.maximum(h, 0) if act == "relu" else np.clip(h, -1, 1)
    return h
