"""The figure helpers: tiling, receptive-field crops, per-image projections, metrics files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import make_engine
from lenet_deconv.crosscheck.agreement import VERDICT_TOLERANCE
from lenet_deconv.figures.curves import load_metrics
from lenet_deconv.figures.tiles import crop_fields, grid, mosaic, signed_rgb
from numpy_lenet.architecture import LAYER_SHAPES, receptive_field

from .conftest import SHIPPED_METRICS
from .lenet_factories import random_images, random_params

SPATIAL = ("conv1", "pool1", "conv2", "pool2")
FIELD_SIZE = {"conv1": 5, "pool1": 6, "conv2": 14, "pool2": 16}


def test_mosaic_places_tiles_row_by_row_with_gaps():
    tiles = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    out = mosaic(tiles, gap=1, fill=-1.0)
    assert out.shape == (2 * 3 - 1, 3 * 3 - 1)
    np.testing.assert_array_equal(out[3:5, 6:8], tiles[1, 2])
    assert np.all(out[2] == -1) and np.all(out[:, 2] == -1)


def test_grid_pads_the_last_row():
    out = grid(np.ones((5, 2, 2)), cols=3)
    assert out.shape == (2, 3, 2, 2)
    assert np.isnan(out[1, 2]).all()
    assert not np.isnan(out[1, 1]).any()


def test_signed_rgb_puts_zero_in_the_middle_and_scales_each_tile():
    tiles = np.array([[[0.0, 1.0]], [[0.0, -100.0]]])
    rgb = signed_rgb(tiles)
    np.testing.assert_allclose(rgb[0, 0, 0], rgb[1, 0, 0])  # both zeros: the same colour
    assert rgb[0, 0, 1, 0] > rgb[0, 0, 1, 2]  # +max is red
    assert rgb[1, 0, 1, 2] > rgb[1, 0, 1, 0]  # -max is blue, at full strength despite the scale


@pytest.mark.parametrize("layer", SPATIAL)
def test_crop_has_the_field_size_and_the_image_where_the_unit_sees_it(layer):
    planes = np.arange(28 * 28, dtype=float).reshape(1, 28, 28)
    _, h, w = LAYER_SHAPES[layer]
    for y, x in ((0, 0), (h // 2, w // 3), (h - 1, w - 1)):
        crop = crop_fields(planes, layer, np.array([[0, y, x]]))[0]
        assert crop.shape == (FIELD_SIZE[layer],) * 2
        top, left, bottom, right = receptive_field(layer, y, x)
        inside = crop[~np.isnan(crop)]
        np.testing.assert_array_equal(inside, planes[0, top:bottom, left:right].ravel())


@settings(max_examples=25, deadline=None)
@given(
    layer=st.sampled_from(SPATIAL),
    seed=st.integers(0, 2**16),
    backend=st.sampled_from(["numpy", "torch"]),
    channel=st.integers(0, 15),
)
def test_a_unit_projects_only_inside_its_receptive_field(layer, seed, backend, channel):
    engine = make_engine(random_params(seed), backend, np.float64)
    images = random_images(seed, 2)
    trace = engine.trace(images)
    # Image 0's strongest activation of the channel: a unit that projects to something.
    plane = trace.activations[layer][0, channel % LAYER_SHAPES[layer][0]]
    assume(plane.max() > 0)  # a dead channel projects nothing anywhere
    y, x = np.unravel_index(np.argmax(plane), plane.shape)
    unit = (channel % LAYER_SHAPES[layer][0], int(y), int(x))
    picture = engine.project_each(trace, layer, [unit, unit])[:, 0]
    assert picture[0].any()
    top, left, bottom, right = receptive_field(layer, *unit[1:])
    outside = picture.copy()
    outside[:, top:bottom, left:right] = 0
    assert not outside.any(), "a projection leaks outside its receptive field"
    crops = crop_fields(picture, layer, np.array([unit, unit]))
    # The crop holds every non-zero pixel of the projection.
    np.testing.assert_allclose(
        np.nansum(np.abs(crops), axis=(1, 2)), np.abs(picture).sum(axis=(1, 2))
    )


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("layer", ["conv1", "pool2", "fc1", "fc3"])
def test_project_each_equals_unit_mode_image_by_image(backend, layer):
    engine = make_engine(random_params(3), backend, np.float64)
    trace = engine.trace(random_images(3, 3))
    shape = LAYER_SHAPES[layer]
    units = [
        tuple(int(v) for v in np.unravel_index(i * 37 % np.prod(shape), shape)) for i in range(3)
    ]
    each = engine.project_each(trace, layer, units)
    for i, unit in enumerate(units):
        one = engine.project(trace.subset([i]), layer, "unit", units=[unit])[0, 0]
        if backend == "numpy":
            # Bit for bit: every NumPy product is one BLAS call of a fixed shape.
            np.testing.assert_array_equal(each[i], one)
        else:
            # PyTorch may pick another kernel for another batch size, and so round
            # differently: the same projection within the verdict's derived bound.
            difference = np.linalg.norm(each[i] - one)
            assert difference <= VERDICT_TOLERANCE * np.linalg.norm(one), (layer, unit)


def test_project_each_rejects_bad_units():
    engine = make_engine(random_params(3), "numpy", np.float64)
    trace = engine.trace(random_images(3, 2))
    with pytest.raises(ValueError, match="one per image"):
        engine.project_each(trace, "conv1", [(0, 0, 0)])
    with pytest.raises(ValueError, match="outside conv1"):
        engine.project_each(trace, "conv1", [(0, 0, 0), (6, 0, 0)])
    with pytest.raises(ValueError, match=r"\(j,\)"):
        engine.project_each(trace, "fc1", [(0, 0, 0), (1, 0, 0)])


def test_load_metrics_reads_the_shipped_run():
    epochs = load_metrics(SHIPPED_METRICS)
    assert len(epochs) == 15 and epochs[-1]["epoch"] == 15


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"epochs": []}', "non-empty 'epochs'"),
        ("[1, 2]", "non-empty 'epochs'"),
        ('{"epochs": [{"epoch": 1}]}', "train_loss"),
        (
            '{"epochs": [{"epoch": 1, "train_loss": NaN, "train_accuracy": 1, "test_loss": 1, '
            '"test_accuracy": 1}]}',
            "train_loss",
        ),
    ],
)
def test_load_metrics_names_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "metrics.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_metrics(path)


def test_load_metrics_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics file not found"):
        load_metrics(tmp_path / "nope.json")
