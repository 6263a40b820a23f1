"""Randomised copies of a trained network: cascading from the top, or one layer at a time."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from numpy_lenet.params import Params
from torch_lenet.model import LeNet5
from torch_lenet.weights import state_dict_to_params

#: The layers that hold weights, from the top down: the order of the cascading randomisation.
WEIGHT_LAYERS: tuple[str, ...] = ("fc3", "fc2", "fc1", "conv2", "conv1")


def initial_params(seed: int) -> Params:
    """PyTorch's default initialisation of LeNet5 after torch.manual_seed(seed), as float32."""
    # A private generator state: the caller's global torch RNG is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LeNet5()
    return state_dict_to_params(model.state_dict())


def with_layers_from(
    trained: Mapping[str, np.ndarray], fresh: Mapping[str, np.ndarray], layers: tuple[str, ...]
) -> Params:
    """``trained`` with the weight and bias of each of ``layers`` taken from ``fresh``."""
    out = dict(trained)
    for layer in layers:
        for part in ("weight", "bias"):
            key = f"{layer}.{part}"
            out[key] = np.asarray(fresh[key], dtype=np.asarray(trained[key]).dtype)
    return out


def cascading(
    trained: Mapping[str, np.ndarray], fresh: Mapping[str, np.ndarray]
) -> list[tuple[str, Params]]:
    """(top layer re-initialised so far, params): fc3, then fc3+fc2, ... down to every layer."""
    return [
        (layer, with_layers_from(trained, fresh, WEIGHT_LAYERS[: k + 1]))
        for k, layer in enumerate(WEIGHT_LAYERS)
    ]


def independent(
    trained: Mapping[str, np.ndarray], fresh: Mapping[str, np.ndarray]
) -> list[tuple[str, Params]]:
    """(layer, params) with only that one layer re-initialised, for each weight layer."""
    return [(layer, with_layers_from(trained, fresh, (layer,))) for layer in WEIGHT_LAYERS]
