"""What every layer computes for one image: feature maps and unit values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps

from numpy_lenet.architecture import LAYER_NAMES, is_spatial
from numpy_lenet.model import Trace

from .output import new_figure, save_png
from .tiles import BACKGROUND, SEQUENTIAL, grid, mosaic

#: Feature maps per row of a layer's mosaic.
MAPS_PER_ROW = 8


def plot_activations(trace: Trace, index: int, image: np.ndarray, title: str, path: Path) -> Path:
    """Image ``index`` of a trace: the input, each conv/pool layer's maps, each fc layer's units."""
    figure = new_figure(10, 15)
    rows = figure.subfigures(len(LAYER_NAMES) + 1, 1, height_ratios=[1.4, 1, 1, 1.2, 1.2, 1, 1, 1])
    input_axes = rows[0].subplots()
    input_axes.imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    input_axes.set_axis_off()
    input_axes.set_title(title)
    for row, layer in zip(rows[1:], LAYER_NAMES, strict=True):
        values = np.asarray(trace.activations[layer][index], dtype=np.float64)
        axes = row.subplots()
        if is_spatial(layer):
            _maps(row, axes, layer, values)
        else:
            _units(axes, layer, values)
    return save_png(figure, path)


def _maps(row, axes, layer: str, maps: np.ndarray) -> None:
    """A layer's feature maps on one shared scale, numbered in reading order."""
    cols = min(MAPS_PER_ROW, len(maps))
    picture = mosaic(grid(maps, cols), gap=1)
    top = float(maps.max()) or 1.0
    cmap = colormaps[SEQUENTIAL].with_extremes(bad=BACKGROUND)
    image = axes.imshow(picture, cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
    axes.set(xticks=[], yticks=[])
    size = maps.shape[1]
    for c in range(len(maps)):
        r, k = divmod(c, cols)
        axes.text(k * (size + 1), r * (size + 1), str(c), color="white", fontsize=6, va="top")
    axes.set_title(f"{layer}: {len(maps)} maps {size}x{size}, one scale (max {top:.3g})")
    row.colorbar(image, ax=axes, shrink=0.9)


def _units(axes, layer: str, units: np.ndarray) -> None:
    """An fc layer's units as bars; the strongest is marked."""
    colours = np.where(units >= 0, "tab:red", "tab:blue")
    axes.bar(np.arange(len(units)), units, color=colours, width=0.8)
    best = int(np.argmax(units))
    axes.annotate(str(best), (best, units[best]), ha="center", va="bottom", fontsize=7)
    kind = "logits (no ReLU)" if layer == "fc3" else "units after ReLU"
    axes.set_title(f"{layer}: {len(units)} {kind}; strongest: {best}")
    axes.set_xlim(-1, len(units))
    axes.axhline(0, color="black", linewidth=0.5)
    axes.tick_params(labelsize=7)
