"""Deconvnet projections of one image, every layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .output import new_figure, save_png
from .tiles import grid, mosaic, signed_rgb

#: Projections per row of a layer's mosaic.
TILES_PER_ROW = 8


def plot_projections(
    projections: Mapping[str, tuple[Sequence[int], np.ndarray]],
    image: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """One row per layer: ``projections[layer]`` is (labels, (S, 28, 28)), each on its own scale."""
    layers = list(projections)
    heights = [1.3] + [-(-len(projections[k][0]) // TILES_PER_ROW) for k in layers]
    figure = new_figure(9, 1.25 * sum(heights) + 0.4 * len(layers), layout=None)
    rows = figure.subplots(len(layers) + 1, 1, height_ratios=heights)
    figure.subplots_adjust(0.01, 0.01, 0.99, 0.97, hspace=0.3)
    rows[0].imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    rows[0].set_axis_off()
    rows[0].set_title(title)
    for axes, layer in zip(rows[1:], layers, strict=True):
        labels, pictures = projections[layer]
        cols = min(TILES_PER_ROW, len(labels))
        axes.imshow(mosaic(grid(signed_rgb(pictures), cols, fill=np.nan), gap=2, fill=1.0))
        axes.set_axis_off()
        for s, label in enumerate(labels):
            r, k = divmod(s, cols)
            axes.text(k * 30, r * 30, str(label), fontsize=7, va="top", color="black")
        axes.set_title(layer, fontsize=9)
    return save_png(figure, path)
