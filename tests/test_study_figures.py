"""Figures touched by the study's work: the filter layouts read at a glance."""

from __future__ import annotations

import numpy as np
from matplotlib.image import imread

from lenet_deconv.figures.filters import filter_picture, filter_tiles, plot_filters

from .lenet_factories import random_params


def test_filter_tiles_put_conv1_on_a_row_and_conv2_a_column_per_filter():
    params = random_params(0)
    conv1, conv2 = params["conv1.weight"], params["conv2.weight"]
    tiles = filter_tiles(conv1)
    assert tiles.shape == (1, 6, 5, 5)
    np.testing.assert_array_equal(tiles[0, 4], conv1[4, 0])
    tiles = filter_tiles(conv2)
    assert tiles.shape == (6, 16, 5, 5)
    np.testing.assert_array_equal(tiles[2, 11], conv2[11, 2])


def test_filter_pictures_part_every_tile_with_white_lines():
    params = random_params(0)
    for layer, (rows, cols) in (("conv1", (1, 6)), ("conv2", (6, 16))):
        picture, limit = filter_picture(params[f"{layer}.weight"])
        assert limit == np.abs(params[f"{layer}.weight"]).max()
        assert picture.shape == (rows * 6 - 1, cols * 6 - 1, 3)
        np.testing.assert_array_equal(picture[:, 5::6], 1.0)  # between columns of tiles
        np.testing.assert_array_equal(picture[5::6], 1.0)  # between rows of tiles


def test_filter_figures_are_wide_not_tall(tmp_path):
    params = random_params(1)
    for layer in ("conv1", "conv2"):
        picture = imread(plot_filters(params, layer, tmp_path / f"{layer}.png"))
        height, width = picture.shape[:2]
        assert width > 1.8 * height, (layer, picture.shape)
