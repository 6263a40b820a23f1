"""The study's maths: evolution's search, invariance's distances, occlusion's maps, the check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import make_engine
from lenet_deconv.study.agreement import Agreement
from lenet_deconv.study.evolution import FC_UNITS, evolution, settling
from lenet_deconv.study.invariance import TRANSFORMS, invariance, transform_images
from lenet_deconv.study.occlusion import Occluder, occlusion
from lenet_deconv.study.snapshots import load_snapshots
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from torch_lenet.data import images_to_float, load_mnist

from .conftest import SHIPPED_WEIGHTS
from .lenet_factories import random_params

EPOCHS_DIR = SHIPPED_WEIGHTS.parent / "epochs"
BACKENDS = ("numpy", "torch")


@pytest.fixture(scope="module")
def test_set(data_dir):
    images, labels = load_mnist(data_dir, "test")
    return images, labels


def brute_force_top(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel of (N, C, ...) activations: the best value, its image, its flat position.

    Whole-set argmax, no streaming: the highest value, then the lowest image
    index, then the first row-major position in that image.
    """
    n, c = activations.shape[:2]
    flat = activations.reshape(n, c, -1).transpose(1, 0, 2).reshape(c, -1)  # (C, N * P)
    best = np.argmax(flat, axis=1)  # the first maximum: lowest image, then first position
    positions = flat.shape[1] // n
    return flat[np.arange(c), best], best // positions, best % positions


def expected_unit(layer: str, channel: int, position: int) -> tuple[int, ...]:
    if len(LAYER_SHAPES[layer]) == 1:
        return (channel,)
    y, x = divmod(int(position), LAYER_SHAPES[layer][2])
    return (channel, y, x)


def check_against_brute_force(result, snapshots, images_uint8, backend):
    for e, epoch in enumerate(result.epochs):
        engine = make_engine(snapshots[epoch], backend, np.float64)
        trace = engine.trace(images_to_float(images_uint8, np.float64))
        for layer in LAYER_NAMES:
            values, images, positions = brute_force_top(trace.activations[layer])
            ev = result.layers[layer]
            for s, channel in enumerate(ev.channels):
                assert ev.images[e, s] == images[channel], (epoch, layer, channel)
                assert tuple(ev.units[e, s]) == expected_unit(layer, channel, positions[channel])
                assert ev.values[e, s] == pytest.approx(values[channel], rel=1e-12, abs=1e-300)
            if layer in ("fc1", "fc2") and epoch == result.epochs[-1]:
                # The shown fc units: the most active at the last epoch, ties to the lower unit.
                order = np.lexsort((np.arange(len(values)), -values))[:FC_UNITS]
                assert ev.channels == order.tolist()
    assert result.agreement.passed, result.agreement.failures


@pytest.mark.parametrize("backend", BACKENDS)
def test_evolution_picks_the_brute_force_top_unit_at_each_epoch(test_set, backend):
    images = test_set[0][:200]
    snapshots = load_snapshots(EPOCHS_DIR, (1, 5, 15))
    result = evolution(snapshots, images, backend)
    assert result.epochs == [1, 5, 15]
    check_against_brute_force(result, snapshots, images, backend)
    for ev in result.layers.values():
        similarity = settling(ev)
        alive = np.abs(ev.projections[-1]).reshape(len(ev.channels), -1).max(axis=1) > 0
        np.testing.assert_allclose(similarity[-1][alive], 1.0, rtol=1e-12)
        assert np.all(np.abs(similarity) <= 1 + 1e-12)
    # Each projection is the deconvnet projection of the picked unit of the picked image.
    ev = result.layers["conv2"]
    engine = make_engine(snapshots[5], backend, np.float64)
    picked = engine.trace(images_to_float(images[ev.images[1]], np.float64))
    np.testing.assert_array_equal(
        engine.project_each(picked, "conv2", ev.units[1])[:, 0], ev.projections[1]
    )


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 12))
def test_evolution_search_equals_brute_force_on_tie_rich_sets(seed, n):
    # Sparse images and random weights: many dead channels, so many exact ties.
    rng = np.random.default_rng(seed)
    images = np.where(rng.random((n, 28, 28)) < 0.7, 0, rng.integers(1, 256, (n, 28, 28)))
    snapshots = {1: random_params(seed), 3: random_params(seed + 1, gain=0.5)}
    result = evolution(snapshots, images.astype(np.uint8), "numpy")
    check_against_brute_force(result, snapshots, images.astype(np.uint8), "numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_translation_by_zero_changes_nothing(test_set, backend):
    images, labels = test_set
    picked = images_to_float(images[:5], np.float64)
    for transform in TRANSFORMS[:2]:
        # Whole-pixel shifts sample with nearest neighbour: a shift by 0 is the image itself.
        np.testing.assert_array_equal(transform_images(picked, transform, 0), picked)
    params = {k: v for k, v in np.load(SHIPPED_WEIGHTS).items()}
    result = invariance(params, picked, labels[:5], range(5), backend, transforms=TRANSFORMS[:2])
    original = make_engine(params, backend, np.float64).trace(picked)
    unmodified = np.exp(original.log_probs[np.arange(5), labels[:5]])
    for curves in result.curves:
        zero = curves.transform.amounts.index(0.0)
        for layer in LAYER_NAMES:
            # Exactly 0 would need the same batch split as the original's trace; rounding only.
            assert np.all(curves.distances[layer][zero] <= 1e-13), layer
            assert np.all(curves.distances[layer][zero + 1] > 1e-3), layer  # a shift is seen
        np.testing.assert_allclose(curves.probability[zero], unmodified, rtol=1e-12)
        assert curves.predicted[zero].tolist() == np.argmax(original.log_probs, 1).tolist()
    assert result.agreement.passed, result.agreement.failures


def test_whole_pixel_translations_move_pixels_exactly():
    image = np.random.default_rng(0).random((1, 1, 28, 28))
    down, right = TRANSFORMS[0], TRANSFORMS[1]
    moved = transform_images(image, down, 3)
    np.testing.assert_array_equal(moved[..., 3:, :], image[..., :-3, :])
    assert not moved[..., :3, :].any()
    moved = transform_images(image, right, -2)
    np.testing.assert_array_equal(moved[..., :, :-2], image[..., :, 2:])
    assert not moved[..., :, -2:].any()


def test_rotation_by_zero_and_scaling_by_one_are_identities_within_rounding():
    image = np.random.default_rng(1).random((2, 1, 28, 28))
    np.testing.assert_allclose(transform_images(image, TRANSFORMS[2], 0.0), image, atol=1e-12)
    np.testing.assert_allclose(transform_images(image, TRANSFORMS[3], 1.0), image, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_occlusion_map_equals_one_forward_pass_of_the_occluded_image(test_set, backend):
    images, labels = test_set
    params = {k: v for k, v in np.load(SHIPPED_WEIGHTS).items()}
    occluder = Occluder(size=7, stride=3, value=0.5)
    picked = images_to_float(images[[3, 8]], np.float64)
    result = occlusion(params, picked, labels[[3, 8]], [3, 8], backend, occluder)
    assert result.agreement.passed, result.agreement.failures
    engine = make_engine(params, backend, np.float64)
    offsets = occluder.offsets()
    assert offsets.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    for image, im in zip(picked, result.images, strict=True):
        for i, j in ((0, 0), (3, 5), (7, 7)):
            occluded = image.copy()
            top, left = offsets[i], offsets[j]
            occluded[0, top : top + 7, left : left + 7] = 0.5
            single = engine.trace(occluded[None])
            assert im.predicted_class[i, j] == np.argmax(single.log_probs[0])
            p = np.exp(single.log_probs[0, im.label])
            assert im.true_probability[i, j] == pytest.approx(p, rel=1e-12)
            for layer, followed in im.maps.items():
                total = single.activations[layer][0, followed.unit[0]].sum()
                assert followed.total[i, j] == pytest.approx(total, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(1, 28),
    stride=st.integers(1, 28),
    value=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 1000),
)
def test_occluded_variants_match_a_loop_over_positions(size, stride, value, seed):
    image = np.random.default_rng(seed).random((1, 28, 28))
    occluder = Occluder(size, stride, value)
    variants = occluder.variants(image)
    offsets = list(range(0, 28 - size + 1, stride))
    assert occluder.offsets().tolist() == offsets
    k = 0
    for top in offsets:
        for left in offsets:
            expected = image.copy()
            expected[0, top : top + size, left : left + size] = value
            np.testing.assert_array_equal(variants[k], expected)
            k += 1
    assert k == len(variants)


@pytest.mark.parametrize(
    ("size", "stride", "value", "message"),
    [
        (0, 2, 0.0, "--occluder-size must be 1..28"),
        (29, 2, 0.0, "--occluder-size must be 1..28"),
        (8, 0, 0.0, "--occluder-stride must be 1..28"),
        (8, 2, 1.5, r"--occluder-value must lie in \[0, 1\]"),
        (8, 2, float("nan"), r"--occluder-value must lie in \[0, 1\]"),
    ],
)
def test_bad_occluders_are_refused(size, stride, value, message):
    with pytest.raises(ValueError, match=message):
        Occluder(size, stride, value)


def test_agreement_flags_an_error_above_the_bound_and_a_real_switch_flip():
    agreement = Agreement("numpy float64", "torch float64")
    reference = np.linspace(1, 2, 10)
    agreement.compare("same", reference * (1 + 1e-15), reference)
    assert agreement.passed
    agreement.compare("off", reference * (1 + 1e-9), reference)
    assert not agreement.passed and "off: relative error" in agreement.failures[0]

    params = random_params(0)
    images = np.random.default_rng(0).random((2, 1, 28, 28))
    trace = make_engine(params, "numpy", np.float64).trace(images)
    other = make_engine(params, "torch", np.float64).trace(images)
    clean = Agreement("numpy float64", "torch float64")
    clean.compare_traces("x", other, trace, params, images)
    assert clean.passed, clean.failures
    # Plant a flip: the strongest pool2 window's switch moved to its weakest position.
    c, y, x = np.unravel_index(np.argmax(trace.activations["pool2"][0]), (16, 5, 5))
    window = [(2 * y + dy) * 10 + 2 * x + dx for dy in (0, 1) for dx in (0, 1)]
    weakest = min(window, key=lambda i: trace.activations["conv2"][0, c].ravel()[i])
    other.switches["pool2"][0, c, y, x] = weakest
    broken = Agreement("numpy float64", "torch float64")
    broken.compare_traces("x", other, trace, params, images)
    assert not broken.passed and "x/pool2: 1 switch(es) differ" in broken.failures[0]
