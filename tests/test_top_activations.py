"""The streaming top-k search: equal to a brute-force sort, ties included, in bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import make_engine
from lenet_deconv.top_activations import (
    TopK,
    image_batches,
    most_active_units,
    top_activations,
)
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.model import Trace, forward
from torch_lenet.data import images_to_float, load_mnist

from .lenet_factories import random_images, random_params


def brute_force(activations: np.ndarray, k: int) -> TopK:
    """Sort every image of every channel by (activation desc, index asc) in plain Python."""
    n, channels = activations.shape[:2]
    flat = activations.reshape(n, channels, -1)
    columns = []
    for c in range(channels):
        entries = []
        for i in range(n):
            values = flat[i, c].tolist()
            best = max(values)
            entries.append((-best, i, values.index(best)))  # list.index: the first maximum
        entries.sort()
        columns.append(entries[:k])
    rows = min(k, n)
    return TopK(
        np.array([[-columns[c][r][0] for c in range(channels)] for r in range(rows)]),
        np.array([[columns[c][r][1] for c in range(channels)] for r in range(rows)]),
        np.array([[columns[c][r][2] for c in range(channels)] for r in range(rows)]),
    )


def as_trace(activations: np.ndarray) -> Trace:
    """A trace whose every layer holds the same synthetic activations."""
    return Trace(dict.fromkeys(LAYER_NAMES, activations), {}, np.zeros((len(activations), 10)))


def chunks(array: np.ndarray, size: int):
    for start in range(0, len(array), size):
        yield array[start : start + size]


def assert_same(found: TopK, expected: TopK) -> None:
    np.testing.assert_array_equal(found.values, expected.values)
    np.testing.assert_array_equal(found.images, expected.images)
    np.testing.assert_array_equal(found.positions, expected.positions)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    batch=st.integers(1, 33),
    k=st.integers(1, 12),
    spatial=st.booleans(),
    levels=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_streaming_topk_equals_brute_force_with_ties(n, batch, k, spatial, levels, seed):
    # Few distinct values: equal activations across images and inside a map are the rule here.
    rng = np.random.default_rng(seed)
    shape = (n, 3, 2, 3) if spatial else (n, 5)
    activations = rng.integers(0, levels, size=shape).astype(np.float64)
    found = top_activations(chunks(activations, batch), as_trace, k=k)
    for layer in LAYER_NAMES:
        assert_same(found[layer], brute_force(activations, k))


@pytest.mark.parametrize("seed", [0, 1])
def test_topk_of_the_network_equals_brute_force(seed):
    params = random_params(seed)
    images = random_images(seed, 50)
    found = top_activations(chunks(images, 7), make_engine(params, "numpy", np.float64).trace, k=9)
    # The reference sees the very numbers the search saw: BLAS may round a different batch
    # split differently in the last bit, and that is not what this test is about.
    traces = [forward(params, b) for b in chunks(images, 7)]
    assert set(found) == set(LAYER_NAMES)
    for layer in LAYER_NAMES:
        assert found[layer].values.shape == (9, LAYER_SHAPES[layer][0])
        everything = np.concatenate([t.activations[layer] for t in traces])
        assert_same(found[layer], brute_force(everything, 9))


def test_unit_and_most_active_units():
    values = np.array([[5.0, 7.0, 7.0, 1.0], [2.0, 3.0, 6.0, 0.0]])
    top = TopK(values, np.zeros_like(values, dtype=np.int64), np.array([[0, 7, 12, 99]] * 2))
    # Highest best activation first; the 7.0 tie goes to the lower channel.
    np.testing.assert_array_equal(most_active_units(top, 3), [1, 2, 0])
    assert top.unit("pool2", 0, 2) == (2, 2, 2)  # 12 = 2 * 5 + 2 in a 5x5 map
    assert top.unit("fc1", 0, 3) == (3,)


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="empty"):
        top_activations([], as_trace)
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_activations([], as_trace, k=0)
    with pytest.raises(ValueError, match="batch size"):
        next(image_batches(np.zeros((3, 28, 28), np.uint8), 0))


def test_image_batches_convert_each_batch_like_the_whole_set():
    images = np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    batches = list(image_batches(images, 4, np.float32))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(b.dtype == np.float32 and b.shape[1:] == (1, 28, 28) for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), images_to_float(images, np.float32))


def test_search_over_the_training_set_streams_in_bounded_memory(data_dir):
    images, _ = load_mnist(data_dir, "train", download=False)
    assert len(images) == 60_000
    params = random_params(0, np.float32)
    per_image = sum(int(np.prod(shape)) for shape in LAYER_SHAPES.values()) * 4  # float32 bytes
    everything = per_image * len(images)  # ~1.9 GB: what holding all activations would take
    tracemalloc.start()
    try:
        found = top_activations(
            image_batches(images, 250, np.float32),
            make_engine(params, "numpy", np.float32).trace,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120e6, f"peak traced memory {peak / 1e6:.0f} MB"
    assert peak < everything / 15
    # The stream reached the end of the set, and what it kept is right for those images.
    assert max(int(t.images.max()) for t in found.values()) >= 50_000
    best = found["fc3"].images[0]
    trace = forward(params, images_to_float(images[best], np.float32))
    np.testing.assert_allclose(
        trace.activations["fc3"][np.arange(10), np.arange(10)], found["fc3"].values[0], rtol=1e-5
    )
