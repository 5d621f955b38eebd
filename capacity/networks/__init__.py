"""Networks: the typed kinds, their forward passes, NNX modules and the one NET.npz reader/writer.

There is exactly one MLP forward pass (:func:`mlp_apply`) and one residual forward pass
(:func:`residual_apply`); training, SGD, piece counting and verification all call them.  Each
has a bounded twin (:func:`mlp_forward_bounded`, :func:`residual_forward_bounded`) computing the
same outputs with a rigorous rounding-error bound, from the one affine bound of
:mod:`capacity.networks._rounding`.  Kinds and the file layout: :mod:`capacity.networks._kinds`.
"""

from capacity.networks._kinds import (KINDS, ExactMLPNet, MLPNet, Network, ResidualNet, json_default, load_net,
                                      meta_json, save_net, versions)
from capacity.networks._mlp import (ACTIVATIONS, MLP, activation_fn, check_layers, kink_distance, mlp_apply,
                                    mlp_forward_bounded, mlp_preactivations)
from capacity.networks._residual import ARRAY_NAMES, ResidualParams, ResNet, check_params, residual_apply, \
    residual_forward_bounded
from capacity.networks._rounding import affine_bound, gamma, map_chunks, unit_roundoff
from capacity.networks._sizes import count_parameters, exact_bits, float_significand_bits, weight_range

__all__ = ["ACTIVATIONS", "ARRAY_NAMES", "KINDS", "MLP", "ExactMLPNet", "MLPNet", "Network", "ResNet", "ResidualNet",
           "ResidualParams", "activation_fn", "affine_bound", "check_layers", "check_params", "count_parameters",
           "exact_bits", "float_significand_bits", "gamma", "json_default", "kink_distance", "load_net",
           "map_chunks", "meta_json", "mlp_apply", "mlp_forward_bounded", "mlp_preactivations", "residual_apply",
           "residual_forward_bounded", "save_net", "unit_roundoff", "versions", "weight_range"]
