"""Deconvnet projections of one image: every layer, and NumPy against PyTorch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from ..crosscheck.agreement import relative_error
from .output import new_figure, save_png
from .tiles import BACKGROUND, DIVERGING, gray_rgb, grid, mosaic, signed_rgb

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


def plot_backend_difference(
    rows: Sequence[tuple[str, int, np.ndarray, np.ndarray]],
    image: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """Per row (layer, channel, NumPy, PyTorch projection): both on one scale, their difference."""
    figure = new_figure(8.5, 2.0 * len(rows) + 1.2)
    grid_axes = figure.subplots(len(rows), 4, squeeze=False)
    cmap = colormaps[DIVERGING].with_extremes(bad=BACKGROUND)
    for axes, (layer, channel, mine, theirs) in zip(grid_axes, rows, strict=True):
        axes[0].imshow(gray_rgb(image.reshape(28, 28)))
        axes[0].set_ylabel(f"{layer} ch {channel}", fontsize=9)
        limit = float(np.abs(mine).max()) or 1.0
        for ax, picture, name in (
            (axes[1], mine, "NumPy float64"),
            (axes[2], theirs, "PyTorch float32"),
        ):
            ax.imshow(picture, cmap=cmap, vmin=-limit, vmax=limit)
            ax.set_title(name, fontsize=8)
        diff = np.asarray(mine, np.float64) - np.asarray(theirs, np.float64)
        dlimit = float(np.abs(diff).max()) or 1.0
        shown = axes[3].imshow(diff, cmap=cmap, vmin=-dlimit, vmax=dlimit)
        error = relative_error(theirs, mine)
        axes[3].set_title(f"difference, rel. err {error:.1e}", fontsize=8)
        figure.colorbar(shown, ax=axes[3], shrink=0.8, format="%.0e")
        for ax in axes:
            ax.set(xticks=[], yticks=[])
    figure.suptitle(title)
    return save_png(figure, path)
