"""Figures touched by the study's work: the filter layouts read at a glance."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.image import imread

from lenet_deconv.figures.filters import filter_picture, plot_filters
from lenet_deconv.figures.tiles import DIVERGING

from .lenet_factories import random_params


def test_filter_pictures_put_conv1_on_a_row_and_conv2_a_column_per_filter():
    params = random_params(0)
    for layer, row, col in (("conv1", 0, 4), ("conv2", 2, 11)):
        weight = params[f"{layer}.weight"]
        picture, limit = filter_picture(weight)
        tile = picture[row * 6 : row * 6 + 5, col * 6 : col * 6 + 5]
        expected = colormaps[DIVERGING](0.5 + 0.5 * weight[col, row] / limit)[..., :3]
        np.testing.assert_array_equal(tile, expected)


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
