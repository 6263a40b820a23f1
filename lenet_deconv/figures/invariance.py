"""Figure 5 of Zeiler & Fergus for LeNet-5: feature distances and p(true class) under transforms."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from numpy_lenet.architecture import LAYER_NAMES

from .output import new_figure, save_png

if TYPE_CHECKING:
    from ..study.invariance import Invariance


def plot_invariance(inv: Invariance, path: Path) -> Path:
    """A row per transformation, a column per layer's distances and p(true class), a line each."""
    curves = inv.curves
    names = [f"test image {i} (label {n})" for i, n in zip(inv.indices, inv.labels, strict=True)]
    columns = [*LAYER_NAMES, "p(true class)"]
    figure = new_figure(2.1 * len(columns), 2.0 * len(curves) + 1.0, layout=None)
    grid_axes = figure.subplots(len(curves), len(columns), squeeze=False, sharey="col")
    figure.subplots_adjust(0.045, 0.09, 0.995, 0.9, wspace=0.32, hspace=0.45)
    for r, c in enumerate(curves):
        row = grid_axes[r]
        for axes, column in zip(row, columns, strict=True):
            values = c.probability if column == "p(true class)" else c.distances[column]
            # One line per image (a column of values), coloured C0, C1, ... in order.
            axes.plot(c.transform.amounts, values, "-", linewidth=1.1, marker=".", markersize=3)
            axes.grid(alpha=0.3)
            axes.tick_params(labelsize=7)
            if r == 0:
                axes.set_title(column, fontsize=10)
            axes.set_xlabel(c.transform.unit, fontsize=7)
        row[0].set_ylabel(f"{c.transform.name}\nrelative distance", fontsize=8)
        row[-1].set_ylim(-0.03, 1.03)
    handles = [grid_axes[0, -1].lines[i] for i in range(len(names))]
    figure.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    figure.suptitle(
        "Invariance: ||f(T(x)) - f(x)|| / ||f(x)|| at every layer, and the probability of the "
        "true class, against the transformation"
    )
    return save_png(figure, path)
