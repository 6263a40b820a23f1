"""The three backward rules, proved against autograd, as Captum and Zennit define them.

The oracle (tests/autograd_oracle.py) runs the plain PyTorch modules with a
backward hook on each ReLU per rule. NumPy's and PyTorch's deconvnets project
from the oracle's own forward pass, and each value's error is judged against a
bound derived from the computation, never a fixed constant. Hypothesis draws
the rule, the layer, the mode (map, max, unit), the selections and the images,
on random weights and on the trained, shipped weights with real MNIST test
images; one deterministic test runs every rule and layer.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import torch_model, trace_to_torch
from numpy_lenet import deconv as np_deconv
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.params import load_npz
from numpy_lenet.rules import RULES
from torch_lenet import deconv as torch_deconv
from torch_lenet.data import images_to_float, load_mnist

from .autograd_oracle import assert_within, derived_bound, oracle
from .conftest import SHIPPED_WEIGHTS, _data_dir
from .lenet_factories import random_images, random_params

MODES = ("map", "max", "unit")


@functools.cache
def _trained() -> dict[str, np.ndarray]:
    return {k: v.astype(np.float64) for k, v in load_npz(SHIPPED_WEIGHTS).items()}


@functools.cache
def _mnist_test() -> np.ndarray:
    images, _ = load_mnist(_data_dir(), "test", download=False)
    return images


def _request(layer: str, mode: str, selections: list) -> dict:
    """The selections as project()'s channels= or units= argument."""
    if mode == "unit":
        return {"units": [list(s) for s in selections]}
    return {"channels": [s[0] for s in selections]}


def _check_rule(params, images, rule, layer, mode, selections) -> None:
    """NumPy's and PyTorch's projections of one request equal autograd's within the bound."""
    expected, trace, magnitude = oracle(params, images, layer, mode, selections, rule)
    bound = derived_bound(layer, magnitude)
    request = _request(layer, mode, selections)
    by_numpy = np_deconv.project(params, trace, layer, mode, rule=rule, **request)
    model = torch_model(params, np.float64)
    with torch.inference_mode():
        by_torch = torch_deconv.project(
            model, trace_to_torch(trace), layer, mode, rule=rule, **request
        ).numpy()
    assert_within("numpy", by_numpy, expected, bound)
    assert_within("torch", by_torch, expected, bound)


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


@pytest.mark.parametrize("layer", LAYER_NAMES)
@pytest.mark.parametrize("rule", RULES)
def test_every_rule_is_autograd_on_every_layer(rule, layer):
    """No lucky draw needed: six channels' maps of one tie-rich random case, every rule."""
    params, images = random_params(5), random_images(6, 3)
    count = LAYER_SHAPES[layer][0]
    channels = [(c,) for c in range(0, count, count // 6)]
    _check_rule(params, images, rule, layer, "map", channels)


@settings(max_examples=40, deadline=None)
@given(
    rule=st.sampled_from(RULES),
    seed=st.integers(0, 2**20),
    gain=st.sampled_from((0.5, 1.0, 2.0)),
    n_images=st.integers(1, 3),
    request=requests(),
)
# Cases that failed the old check (NumPy's own forward pass, a fixed relative bound of 1e-12):
# the first case of issue 21 (1.357e-12), then fc1 (2.09e-12) and fc2 (1.17e-12) cases found
# by searching seeds for the other two (fc1 2.1e-12, fc2 1.35e-12).
@example(rule="gradient", seed=3, gain=1.0, n_images=2, request=("conv2", "map", [(15,)]))
@example(rule="gradient", seed=22, gain=2.0, n_images=3, request=("fc1", "map", [(100,)]))
@example(rule="gradient", seed=15, gain=2.0, n_images=2, request=("fc2", "map", [(25,)]))
def test_every_rule_is_autograd_on_random_weights(rule, seed, gain, n_images, request):
    params, images = random_params(seed, gain=gain), random_images(seed + 1, n_images)
    _check_rule(params, images, rule, *request)


@settings(max_examples=25, deadline=None)
@given(
    rule=st.sampled_from(RULES),
    picks=st.lists(st.integers(0, 9999), min_size=1, max_size=3),
    request=requests(),
)
def test_every_rule_is_autograd_on_trained_weights_and_mnist(rule, picks, request):
    images = images_to_float(_mnist_test()[picks], np.float64)
    _check_rule(_trained(), images, rule, *request)


def _strongest(params, images: np.ndarray, layer: str) -> int:
    """The channel (or fc unit) of ``layer`` with the largest value on the first image."""
    with torch.no_grad():
        values = torch_model(params, np.float64).trace(torch.from_numpy(images)).activations[layer]
    return int(np.argmax(values[0].reshape(LAYER_SHAPES[layer][0], -1).amax(dim=1).numpy()))


def test_the_oracle_sees_a_real_signal():
    """The oracle is not vacuous: on a real digit every rule's map is far from zero."""
    params, images = _trained(), images_to_float(_mnist_test()[:1], np.float64)
    for rule in RULES:
        for layer in LAYER_NAMES:
            strongest = _strongest(params, images, layer)
            grad, _, magnitude = oracle(params, images, layer, "max", [(strongest,)], rule)
            assert np.abs(grad).max() > 1e-6, (rule, layer)
            # The bound is far below the signal: a wrong step cannot hide in it.
            assert derived_bound(layer, magnitude).max() < 1e-9 * np.abs(grad).max(), layer


def test_the_three_oracles_differ_on_a_real_digit():
    """The hooks change what autograd computes: each rule gives its own map from fc3."""
    params, images = _trained(), images_to_float(_mnist_test()[:1], np.float64)
    top = [(_strongest(params, images, "fc3"),)]
    maps = {rule: oracle(params, images, "fc3", "max", top, rule)[0] for rule in RULES}
    for i, a in enumerate(RULES):
        for b in RULES[i + 1 :]:
            assert np.linalg.norm(maps[a] - maps[b]) > 1e-3 * np.linalg.norm(maps[a]), (a, b)
