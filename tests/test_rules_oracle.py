"""The three backward rules, proved: the gradient rule against autograd, NumPy against PyTorch.

The oracle shares nothing with the code under test but the weights: it runs the
plain PyTorch modules (no trace, no deconv code, no selection code), builds the
kept activations' mask on its own, and asks torch.autograd for the input
gradient of sum(kept value * activation). Hypothesis draws the layer, the mode
(map, max, unit), the selections and the images, on random weights and on the
trained, shipped weights with real MNIST test images.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import torch_model, trace_to_torch
from numpy_lenet import deconv as np_deconv
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.model import forward
from numpy_lenet.params import load_npz
from numpy_lenet.rules import RULES
from torch_lenet import deconv as torch_deconv
from torch_lenet.data import images_to_float, load_mnist

from .conftest import SHIPPED_WEIGHTS, _data_dir
from .lenet_factories import random_images, random_params

#: The bound of the issue: float64 projections within 1e-12 of the oracle (relative, per selection).
BOUND = 1e-12
MODES = ("map", "max", "unit")


@functools.cache
def _trained() -> dict[str, np.ndarray]:
    return {k: v.astype(np.float64) for k, v in load_npz(SHIPPED_WEIGHTS).items()}


@functools.cache
def _mnist_test() -> np.ndarray:
    images, _ = load_mnist(_data_dir(), "test", download=False)
    return images


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _plain_activations(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every named activation of the plain modules' forward pass, still on the autograd graph."""
    conv1 = model.relu1(model.conv1(x))
    pool1 = torch.nn.functional.max_pool2d(conv1, 2, 2)
    conv2 = model.relu2(model.conv2(pool1))
    pool2 = torch.nn.functional.max_pool2d(conv2, 2, 2)
    fc1 = model.relu3(model.fc1(pool2.flatten(1)))
    fc2 = model.relu4(model.fc2(fc1))
    fc3 = model.fc3(fc2)
    return dict(zip(LAYER_NAMES, (conv1, pool1, conv2, pool2, fc1, fc2, fc3), strict=True))


def _kept_mask(values: np.ndarray, mode: str, selection: tuple[int, ...]) -> np.ndarray:
    """0/1 mask (N, *shape) of what one selection keeps, written out plainly (first max)."""
    mask = np.zeros_like(values)
    channel = selection[0]
    for i in range(len(values)):
        if values.ndim == 2:  # fc: a channel is one unit, every mode keeps it
            mask[i, channel] = 1
        elif mode == "map":
            mask[i, channel] = 1
        elif mode == "max":
            y, x = np.unravel_index(int(np.argmax(values[i, channel])), values.shape[2:])
            mask[i, channel, y, x] = 1
        else:
            mask[i, channel, selection[1], selection[2]] = 1
    return mask


def _autograd_projections(
    params: dict[str, np.ndarray], images: np.ndarray, layer: str, mode: str, selections: list
) -> np.ndarray:
    """(N, S, 1, 28, 28): d/dx of sum(kept value * activation) for each selection, by autograd."""
    model = torch_model(params, np.float64)
    x = torch.from_numpy(images).requires_grad_(True)
    activation = _plain_activations(model, x)[layer]
    values = activation.detach().numpy()
    out = []
    for selection in selections:
        kept = torch.from_numpy(_kept_mask(values, mode, selection) * values)
        (grad,) = torch.autograd.grad((kept * activation).sum(), x, retain_graph=True)
        out.append(grad.numpy())
    return np.stack(out, axis=1)


def _request(layer: str, mode: str, selections: list) -> dict:
    """The selections as project()'s channels= or units= argument."""
    if mode == "unit":
        return {"units": [list(s) for s in selections]}
    return {"channels": [s[0] for s in selections]}


@st.composite
def requests(draw):
    """(layer, mode, selections): 1-3 channels, or 1-3 units (c, y, x) / (j,)."""
    layer = draw(st.sampled_from(LAYER_NAMES))
    mode = draw(st.sampled_from(MODES))
    shape = LAYER_SHAPES[layer]
    if mode == "unit":
        unit = st.tuples(*(st.integers(0, n - 1) for n in shape))
        selections = draw(st.lists(unit, min_size=1, max_size=3, unique=True))
    else:
        channel = st.integers(0, shape[0] - 1)
        channels = draw(st.lists(channel, min_size=1, max_size=3, unique=True))
        selections = [(c,) for c in channels]
    return layer, mode, selections


def random_case(draw) -> tuple[dict[str, np.ndarray], np.ndarray]:
    seed = draw(st.integers(0, 2**20))
    gain = draw(st.sampled_from((0.5, 1.0, 2.0)))
    return random_params(seed, gain=gain), random_images(seed + 1, draw(st.integers(1, 3)))


def trained_case(draw) -> tuple[dict[str, np.ndarray], np.ndarray]:
    picks = draw(st.lists(st.integers(0, 9999), min_size=1, max_size=3))
    return _trained(), images_to_float(_mnist_test()[picks], np.float64)


def _check_gradient_rule(params, images, layer, mode, selections) -> None:
    expected = _autograd_projections(params, images, layer, mode, selections)
    request = _request(layer, mode, selections)
    trace = forward(params, images)
    by_numpy = np_deconv.project(params, trace, layer, mode, rule="gradient", **request)
    model = torch_model(params, np.float64)
    with torch.inference_mode():
        by_torch = torch_deconv.project(
            model, trace_to_torch(trace), layer, mode, rule="gradient", **request
        ).numpy()
    for s in range(len(selections)):
        assert _relative(by_numpy[:, s], expected[:, s]) < BOUND, ("numpy", s)
        assert _relative(by_torch[:, s], expected[:, s]) < BOUND, ("torch", s)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), request=requests())
def test_gradient_rule_is_autograd_on_random_weights(data, request):
    params, images = random_case(data.draw)
    _check_gradient_rule(params, images, *request)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), request=requests())
def test_gradient_rule_is_autograd_on_trained_weights_and_mnist(data, request):
    params, images = trained_case(data.draw)
    _check_gradient_rule(params, images, *request)


def _check_backends_agree(params, images, layer, mode, selections) -> None:
    request = _request(layer, mode, selections)
    trace = forward(params, images)
    model = torch_model(params, np.float64)
    for rule in RULES:
        mine = np_deconv.project(params, trace, layer, mode, rule=rule, **request)
        with torch.inference_mode():
            theirs = torch_deconv.project(
                model, trace_to_torch(trace), layer, mode, rule=rule, **request
            ).numpy()
        assert _relative(theirs, mine) < BOUND, rule


@settings(max_examples=20, deadline=None)
@given(data=st.data(), request=requests())
def test_numpy_and_torch_agree_for_every_rule_on_random_weights(data, request):
    params, images = random_case(data.draw)
    _check_backends_agree(params, images, *request)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), request=requests())
def test_numpy_and_torch_agree_for_every_rule_on_trained_weights_and_mnist(data, request):
    params, images = trained_case(data.draw)
    _check_backends_agree(params, images, *request)


def test_the_oracle_sees_a_real_signal():
    """The oracle is not vacuous: on a real digit every layer's gradient is far from zero."""
    params, images = _trained(), images_to_float(_mnist_test()[:1], np.float64)
    trace = forward(params, images)
    for layer in LAYER_NAMES:
        values = trace.activations[layer][0].reshape(LAYER_SHAPES[layer][0], -1)
        strongest = int(np.argmax(values.max(axis=1)))
        grad = _autograd_projections(params, images, layer, "max", [(strongest,)])
        assert np.abs(grad).max() > 1e-6, layer
