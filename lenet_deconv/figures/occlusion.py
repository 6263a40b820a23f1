"""Figure 7 of Zeiler & Fergus for LeNet-5: occlusion maps of features and of the class."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from .output import new_figure, save_png
from .tiles import DIVERGING, SEQUENTIAL

if TYPE_CHECKING:
    from ..study.occlusion import Occlusion

#: The ten classes in ten distinct colours.
CLASS_COLOURS = "tab10"


def plot_occlusion(occ: Occlusion, images: np.ndarray, path: Path) -> Path:
    """One row per image (28, 28): the image, followed maps' totals and projections, p, class."""
    size, value, centres = occ.occluder.size, occ.occluder.value, occ.occluder.centres()
    rows = occ.images
    layers = len(rows[0].maps)
    cols = 1 + 2 * layers + 2
    figure = new_figure(2.05 * cols, 2.25 * len(rows) + 0.9, layout=None)
    grid_axes = figure.subplots(len(rows), cols, squeeze=False)
    figure.subplots_adjust(
        0.01, 0.02, 0.97, 1 - 0.9 / (2.25 * len(rows) + 0.9), wspace=0.35, hspace=0.35
    )
    half = (centres[1] - centres[0]) / 2 if len(centres) > 1 else size / 2
    extent = (centres[0] - half, centres[-1] + half, centres[-1] + half, centres[0] - half)
    for axes, row, image in zip(grid_axes, rows, images, strict=True):
        axes[0].imshow(image, cmap="gray", vmin=0, vmax=1, extent=(0, 28, 28, 0))
        axes[0].add_patch(
            Rectangle((0, 0), size, size, facecolor=str(value), edgecolor="red", linewidth=1)
        )
        title = f"test image {row.index} (label {row.label})\np(label) = {row.probability:.3f}"
        axes[0].set_title(f"(a) {title}", fontsize=8)
        for k, (layer, m) in enumerate(row.maps.items()):
            channel, projection = m.unit[0], m.projection
            shown = axes[1 + k].imshow(m.total, cmap=SEQUENTIAL, extent=extent)
            axes[1 + k].set_title(
                f"(b) {layer} map {channel}: total\n(unoccluded {m.unoccluded_total:.3g})",
                fontsize=8,
            )
            figure.colorbar(shown, ax=axes[1 + k], shrink=0.75).ax.tick_params(labelsize=6)
            limit = float(np.abs(projection).max()) or 1.0
            axes[1 + layers + k].imshow(
                projection, cmap=DIVERGING, vmin=-limit, vmax=limit, extent=(0, 28, 28, 0)
            )
            axes[1 + layers + k].set_title(f"(c) {layer} map {channel}:\nprojection", fontsize=8)
        p_axes, c_axes = axes[-2], axes[-1]
        shown = p_axes.imshow(row.true_probability, cmap="magma", vmin=0, vmax=1, extent=extent)
        p_axes.set_title(f"(d) p(true class {row.label})", fontsize=8)
        figure.colorbar(shown, ax=p_axes, shrink=0.75).ax.tick_params(labelsize=6)
        classes = c_axes.imshow(
            row.predicted_class, cmap=colormaps[CLASS_COLOURS], vmin=-0.5, vmax=9.5, extent=extent
        )
        c_axes.set_title("(e) most probable class", fontsize=8)
        bar = figure.colorbar(classes, ax=c_axes, shrink=0.75, ticks=range(10))
        bar.ax.tick_params(labelsize=6)
        for ax in axes:
            ax.set(xlim=(0, 28), ylim=(28, 0), xticks=[], yticks=[])
        for ax in (*axes[1 : 1 + layers], p_axes, c_axes):
            # The digit's outline, so each map reads against the strokes it covers.
            ax.contour(
                np.arange(28) + 0.5,
                np.arange(28) + 0.5,
                image,
                levels=[0.5],
                colors="white",
                linewidths=0.6,
            )
    figure.suptitle(
        f"Occlusion: a {size}x{size} square of value {value:g} (red: its first position) slid "
        "over the image;\neach map shows the value with the occluder centred there"
    )
    return save_png(figure, path)
