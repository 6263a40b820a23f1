"""A labelled table of 28x28 tiles drawn as one picture: rows and columns named on its edges."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .output import new_figure, save_png
from .tiles import mosaic

#: Pixels between tiles.
GAP = 2
#: Inches per tile: small enough for a table of dozens of tiles, large enough to read a digit.
TILE_INCHES = 0.62


def plot_tile_table(
    cells: Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    path: Path,
) -> Path:
    """Draw RGB tiles (h, w, 3) in a table (None: an empty cell); name the rows and columns."""
    rows, cols = len(cells), len(cells[0])
    h, w = next(t for row in cells for t in row if t is not None).shape[:2]
    tiles = np.ones((rows, cols, h, w, 3))  # empty cells, like the gaps: white
    for r, row in enumerate(cells):
        for c, tile in enumerate(row):
            if tile is not None:
                tiles[r, c] = tile
    picture = mosaic(tiles, gap=GAP, fill=1.0)
    # Wide enough for the title too (about 0.085 inch per character at 10 pt).
    width = max(TILE_INCHES * cols + 1.6, 0.085 * len(title))
    figure = new_figure(width, TILE_INCHES * rows + 1.0)
    axes = figure.add_subplot()
    axes.imshow(picture, interpolation="nearest")
    step_y, step_x = h + GAP, w + GAP
    axes.set_xticks(np.arange(cols) * step_x + (w - 1) / 2, list(col_labels), rotation=90)
    axes.set_yticks(np.arange(rows) * step_y + (h - 1) / 2, list(row_labels))
    axes.xaxis.tick_top()
    axes.tick_params(length=0, labelsize=8)
    axes.spines[:].set_visible(False)
    figure.suptitle(title, fontsize=10)
    return save_png(figure, path)
