"""Figure 4 of Zeiler & Fergus for LeNet-5: each feature's strongest projection, epoch by epoch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numpy_lenet.architecture import is_spatial

from .output import new_figure, save_png
from .tiles import grid, mosaic, signed_rgb

if TYPE_CHECKING:
    from ..study.evolution import Evolution

#: Channel strips (one tile per epoch) per row of a layer's panel.
STRIPS_PER_ROW = 4


def evolution_panel(crops: np.ndarray) -> np.ndarray:
    """RGB picture of one layer: crops (E, S, s, s) as S strips of E tiles, STRIPS_PER_ROW a row."""
    shown, size = crops.shape[1:3]
    # Per channel: its E epochs side by side, 1 px apart, each on its own colour scale.
    tiles = signed_rgb(crops.transpose(1, 0, 2, 3))  # (S, E, s, s, 3)
    strips = np.stack([mosaic(t[None], gap=1, fill=1.0) for t in tiles])
    gap = max(3, size // 3)  # wider between channels than between epochs
    cols = min(STRIPS_PER_ROW, shown)
    return mosaic(grid(strips, cols, fill=1.0), gap=gap, fill=1.0)


def plot_evolution(evo: Evolution, set_name: str, path: Path) -> Path:
    """A panel per layer: each shown channel's projections, cut to their receptive fields."""
    panels = {layer: (ev.channels, evolution_panel(ev.crops())) for layer, ev in evo.layers.items()}
    width = 10.0
    title_in = 0.42
    heights = [width * p.shape[0] / p.shape[1] + title_in for _, p in panels.values()]
    top_in = 0.75
    total = sum(heights) + top_in
    figure = new_figure(width + 0.2, total, layout=None)
    y = 1.0 - top_in / total
    epoch_text = ", ".join(str(e) for e in evo.epochs)
    for (layer, (channels, picture)), height in zip(panels.items(), heights, strict=True):
        h = (height - title_in) / total
        axes = figure.add_axes((0.01, y - title_in / total - h, 0.98, h))
        axes.imshow(picture, interpolation="nearest")
        axes.set_axis_off()
        kind = "channel" if is_spatial(layer) else "unit"
        names = ", ".join(str(c) for c in channels)
        axes.set_title(f"{layer}: {kind}s {names}", fontsize=9)
        y -= height / total
    figure.suptitle(
        f"Strongest activation over {set_name} of each feature, projected to pixels,\n"
        f"after epochs {epoch_text} (left to right in each strip)",
        fontsize=11,
    )
    return save_png(figure, path)
