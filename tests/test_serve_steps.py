"""The explorer's step-through is the deconvnet itself, one operation at a time."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_deconv.serve.steps import MIRROR_BLOCKS, step_through
from numpy_lenet import deconv
from numpy_lenet.architecture import INPUT_SHAPE, LAYER_NAMES, LAYER_SHAPES, is_spatial
from numpy_lenet.model import forward
from numpy_lenet.params import cast_params, validate_params
from numpy_lenet.rules import RULES
from numpy_lenet.selection import plan_selection

from .lenet_factories import random_images, random_params


@pytest.fixture(scope="module")
def setup() -> tuple[dict[str, np.ndarray], object]:
    params = random_params(3)
    trace = forward(params, random_images(4, 1))
    return cast_params(validate_params(params), np.float64), trace


def _plans(trace, layer: str) -> list:
    """A map, a max and a unit selection on ``layer``, on its most active channel."""
    activations = trace.activations[layer][0]
    flat = activations.reshape(len(activations), -1)
    channel = int(np.argmax(flat.max(axis=1)))
    unit = (
        (channel, *np.unravel_index(int(np.argmax(flat[channel])), LAYER_SHAPES[layer][1:]))
        if is_spatial(layer)
        else (channel,)
    )
    return [
        plan_selection(layer, "map", [channel]),
        plan_selection(layer, "max", [channel]),
        plan_selection(layer, "unit", units=[unit]),
    ]


def test_mirror_blocks_are_the_layers_top_down() -> None:
    assert tuple(block for block, _ in reversed(MIRROR_BLOCKS)) == LAYER_NAMES


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_last_stage_is_the_projection(setup, layer: str, rule: str) -> None:
    weights, trace = setup
    for plan in _plans(trace, layer):
        stages = step_through(weights, trace, plan, rule)
        expected = deconv.project(
            weights,
            trace,
            layer,
            plan.mode,
            None if plan.mode == "unit" else plan.channels,
            _units(plan) if plan.mode == "unit" else None,
            rule=rule,
        )[0, 0]
        assert stages[-1].signal.shape == INPUT_SHAPE
        assert stages[-1].block == "conv1" and stages[-1].stage == "filter"
        np.testing.assert_array_equal(stages[-1].signal, expected)
        assert np.abs(expected).max() > 0  # a live projection, not two empty ones


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_block_inputs_are_what_backproject_sees(setup, layer: str, rule: str) -> None:
    weights, trace = setup
    plan = _plans(trace, layer)[1]
    seen: list[tuple[str, np.ndarray]] = []
    deconv.project(
        weights,
        trace,
        layer,
        "max",
        plan.channels,
        rule=rule,
        observe=lambda _, name, signal: seen.append((name, signal[0, 0].copy())),
    )
    stages = step_through(weights, trace, plan, rule)
    entering = [(s.block, s.signal) for s in stages if s.stage == "in"]
    assert [name for name, _ in seen] == [name for name, _ in entering]
    for (_, ours), (_, theirs) in zip(entering, seen, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_stage_shapes_follow_the_layers(setup) -> None:
    weights, trace = setup
    stages = step_through(weights, trace, plan_selection("fc3", "max", [0]), "deconvnet")
    shapes = [(s.block, s.stage, s.signal.shape) for s in stages]
    assert shapes[0] == ("fc3", "in", (10,))
    assert ("fc1", "filter", LAYER_SHAPES["pool2"]) in shapes
    assert ("pool2", "unpool", LAYER_SHAPES["conv2"]) in shapes
    assert ("pool1", "unpool", LAYER_SHAPES["conv1"]) in shapes
    assert len(stages) == sum(1 + len(ops) for _, ops in MIRROR_BLOCKS)


def test_one_image_and_one_selection_only(setup) -> None:
    weights, trace = setup
    with pytest.raises(ValueError, match="one image and one selection"):
        step_through(weights, trace, plan_selection("conv2", "max", [0, 1]), "deconvnet")


def _units(plan) -> list[tuple[int, ...]]:
    shape = LAYER_SHAPES[plan.layer]
    if len(shape) == 1:
        return [(c,) for c in plan.channels]
    return [(c, *divmod(p, shape[2])) for c, p in zip(plan.channels, plan.positions, strict=True)]
