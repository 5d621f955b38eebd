"""Memorization in trained networks: the literature's measures as small vmapped JAX experiments.

One module per measure (issue 13's items), each with its formula, paper and what is faithful
versus simplified in its docstring; :mod:`._common` holds the digits loader and the vmapped
trainer (float32, see there); :mod:`.cli` adds ``capacity memorization MEASURE``.

Implemented: :mod:`.randomization` (Zhang et al. 2017; Arpit et al. 2017), :mod:`.feldman_zhang`
(Feldman & Zhang 2020; C-score), :mod:`.early_learning` (Liu et al. 2020), :mod:`.grokking`
(Power et al. 2022), :mod:`.generative` (van den Burg & Williams 2021, with Gaussian KDEs only),
:mod:`.layermem` (Wang et al. 2024, small MLP encoder), :mod:`.information` (Bansal et al. 2022).
"""

from capacity.experiments.memorization._common import TrainResult, TrainSpec, load_digits_split, train_many

__all__ = ["TrainResult", "TrainSpec", "load_digits_split", "train_many"]
