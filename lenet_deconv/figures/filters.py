"""The learned convolution filters, on one symmetric colour scale per layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from .output import new_figure, save_png
from .tiles import DIVERGING, mosaic

#: Inches per tile: conv1's six filters drawn large, conv2's 96 slices smaller.
TILE_INCHES = {1: 0.9, 6: 0.48}
#: White pixels between tiles (a tile is 5 pixels).
GAP = 1


def filter_picture(weight: np.ndarray) -> tuple[np.ndarray, float]:
    """RGB mosaic of a conv layer's weights, a row per input, a column per filter; its ±limit."""
    limit = float(np.abs(weight).max()) or 1.0
    rgb = colormaps[DIVERGING](0.5 + 0.5 * weight.transpose(1, 0, 2, 3) / limit)[..., :3]
    return mosaic(rgb, gap=GAP, fill=1.0), limit


def plot_filters(params: Mapping[str, np.ndarray], layer: str, path: Path) -> Path:
    """conv1's or conv2's weights as separated tiles on one colour scale, with a colour bar."""
    weight = np.asarray(params[f"{layer}.weight"], dtype=np.float64)
    out_ch, in_ch, kh, kw = weight.shape
    rows, cols = in_ch, out_ch
    picture, limit = filter_picture(weight)
    tile = TILE_INCHES.get(in_ch, 0.5)
    side_in, top_in, bottom_in = 1.3, 0.4, 0.55
    width = cols * tile + side_in + 0.6
    height = rows * tile + top_in + bottom_in
    figure = new_figure(width, height, layout=None)
    axes = figure.add_axes(
        (0.6 / width, bottom_in / height, cols * tile / width, rows * tile / height)
    )
    axes.imshow(picture, interpolation="nearest")
    step_x, step_y = kw + GAP, kh + GAP
    axes.set_xticks(np.arange(cols) * step_x + (kw - 1) / 2, [str(c) for c in range(cols)])
    axes.tick_params(length=0, labelsize=8)
    axes.spines[:].set_visible(False)
    axes.set_xlabel(f"{layer} filter (output channel)", fontsize=9)
    if in_ch == 1:
        axes.set_yticks([])
        title = f"{layer} weights {out_ch}x{in_ch}x{kh}x{kw}, one scale ±{limit:.3g}"
    else:
        axes.set_yticks(np.arange(rows) * step_y + (kh - 1) / 2, [str(r) for r in range(rows)])
        axes.set_ylabel("input (conv1 map)", fontsize=9)
        title = (
            f"{layer} weights {out_ch}x{in_ch}x{kh}x{kw}: a column per filter, a row per "
            f"conv1 map it reads; one scale ±{limit:.3g}"
        )
    axes.set_title(title, fontsize=10)
    bar_axes = figure.add_axes(
        ((0.6 + cols * tile + 0.25) / width, bottom_in / height, 0.15 / width, rows * tile / height)
    )
    mappable = ScalarMappable(Normalize(-limit, limit), colormaps[DIVERGING])
    figure.colorbar(mappable, cax=bar_axes).ax.tick_params(labelsize=7)
    return save_png(figure, path)
