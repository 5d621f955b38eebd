"""Memorization in trained networks: the literature's measures as small vmapped JAX experiments.

One module per measure (issue 13's items), each with its formula, paper and what is faithful
versus simplified in its docstring; :mod:`._common` holds the digits loader and the vmapped
trainer (float32, see there); :mod:`.cli` adds ``capacity memorization MEASURE``.

Implemented: :mod:`.randomization` (Zhang et al. 2017; Arpit et al. 2017), :mod:`.feldman_zhang`
(Feldman & Zhang 2020; C-score), :mod:`.early_learning` (Liu et al. 2020), :mod:`.grokking`
(Power et al. 2022), :mod:`.generative` (van den Burg & Williams 2021, with Gaussian KDEs only),
:mod:`.layermem` (Wang et al. 2024, small MLP encoder), :mod:`.information` (Bansal et al. 2022).
"""

__all__ = ["TrainResult", "TrainSpec", "load_digits_split", "train_many"]


def __getattr__(name):
    # loaded on first use, so that `capacity memorization --help` and the CLI registry stay light
    if name in __all__:
        from capacity.experiments.memorization import _common

        return getattr(_common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
