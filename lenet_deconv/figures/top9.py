"""Zeiler & Fergus's Figure 2 for one layer: per channel, its 9 strongest images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import is_spatial

from .output import new_figure, save_png
from .tiles import gray_rgb, grid, mosaic, signed_rgb

#: Channel blocks per row of the figure.
BLOCKS_PER_ROW = 4


def top9_block(projections: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """RGB picture of one channel: projections (k, s, s) beside patches (k, s, s), 3 per row."""
    cols = 3
    left = mosaic(grid(signed_rgb(projections), cols, fill=np.nan), gap=1, fill=1.0)
    right = mosaic(grid(gray_rgb(patches), cols, fill=np.nan), gap=1, fill=1.0)
    spacer = np.ones((left.shape[0], max(2, left.shape[1] // 12), 3))
    return np.concatenate([left, spacer, right], axis=1)


def plot_top9(
    layer: str,
    channels: Sequence[int],
    projections: np.ndarray,
    patches: np.ndarray,
    values: np.ndarray,
    path: Path,
) -> Path:
    """Blocks for ``channels``: projections and patches (C, k, s, s), activations (k, C)."""
    kind = "channel" if is_spatial(layer) else "unit"
    cols = min(BLOCKS_PER_ROW, len(channels))
    rows = -(-len(channels) // cols)
    height = 1.75 * rows + 0.9
    figure = new_figure(3.2 * cols, height, layout=None)
    axes_grid = figure.subplots(rows, cols, squeeze=False)
    figure.subplots_adjust(0.01, 0.01, 0.99, 1 - 0.9 / height, wspace=0.06, hspace=0.22)
    for slot, axes in enumerate(axes_grid.ravel()):
        axes.set_axis_off()
        if slot >= len(channels):
            continue
        axes.imshow(top9_block(projections[slot], patches[slot]), interpolation="nearest")
        axes.set_title(
            f"{kind} {channels[slot]}: {values[0, slot]:.3g} .. {values[-1, slot]:.3g}",
            fontsize=8,
        )
    size = projections.shape[-1]
    figure.suptitle(
        f"{layer}: the {projections.shape[1]} strongest images per {kind}, strongest first\n"
        f"(deconvnet projection | input patch, both cut to the {size}x{size} receptive field)"
    )
    return save_png(figure, path)
