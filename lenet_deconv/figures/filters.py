"""The learned convolution filters, on one symmetric colour scale per layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from .output import new_figure, save_png
from .tiles import BACKGROUND, DIVERGING, mosaic


def plot_filters(params: Mapping[str, np.ndarray], layer: str, path: Path) -> Path:
    """conv1's or conv2's weights as a grid: one row per output channel, one column per input."""
    weight = np.asarray(params[f"{layer}.weight"], dtype=np.float64)
    out_ch, in_ch, kh, kw = weight.shape
    # conv1 has a single input channel: lay its filters out on one row instead of a column.
    tiles = weight.transpose(1, 0, 2, 3)[:, :, None] if in_ch == 1 else weight[:, :, None]
    picture = mosaic(tiles.reshape(*tiles.shape[:2], kh, kw), gap=1)
    limit = float(np.abs(weight).max()) or 1.0
    rows, cols = tiles.shape[:2]
    figure = new_figure(max(4.5, 0.5 * cols + 2.0), max(2.0, 0.45 * rows + 1.0))
    axes = figure.add_subplot()
    cmap = colormaps[DIVERGING].with_extremes(bad=BACKGROUND)
    image = axes.imshow(picture, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    centres_x = np.arange(cols) * (kw + 1) + (kw - 1) / 2
    centres_y = np.arange(rows) * (kh + 1) + (kh - 1) / 2
    axes.set_xticks(centres_x, [str(c) for c in range(cols)])
    if in_ch == 1:
        axes.set_yticks([])
        axes.set_xlabel(f"{layer} filter (output channel)")
    else:
        axes.set_yticks(centres_y, [str(c) for c in range(rows)])
        axes.set_xlabel("input channel (conv1 map)")
        axes.set_ylabel(f"{layer} filter (output channel)")
    axes.tick_params(length=0, labelsize=7)
    axes.set_title(f"{layer} weights {out_ch}x{in_ch}x{kh}x{kw}\none scale, ±{limit:.3g}")
    figure.colorbar(image, ax=axes, shrink=0.8, label="weight")
    return save_png(figure, path)
