"""Figure 5 of Zeiler & Fergus for LeNet-5: feature distances and p(true class) under transforms."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES

from .output import new_figure, save_png


def plot_invariance(
    curves: Sequence[tuple[str, str, Sequence[float], dict[str, np.ndarray], np.ndarray]],
    names: Sequence[str],
    path: Path,
) -> Path:
    """A row per transformation (name, unit, amounts, {layer: (A, N)}, p (A, N)), a column each."""
    columns = [*LAYER_NAMES, "p(true class)"]
    figure = new_figure(2.1 * len(columns), 2.0 * len(curves) + 1.0, layout=None)
    grid_axes = figure.subplots(len(curves), len(columns), squeeze=False, sharey="col")
    figure.subplots_adjust(0.045, 0.09, 0.995, 0.9, wspace=0.32, hspace=0.45)
    for r, (name, unit, amounts, distances, probability) in enumerate(curves):
        row = grid_axes[r]
        for axes, column in zip(row, columns, strict=True):
            values = probability if column == "p(true class)" else distances[column]
            # One line per image (a column of values), coloured C0, C1, ... in order.
            axes.plot(amounts, values, "-", linewidth=1.1, marker=".", markersize=3)
            axes.grid(alpha=0.3)
            axes.tick_params(labelsize=7)
            if r == 0:
                axes.set_title(column, fontsize=10)
            axes.set_xlabel(unit, fontsize=7)
        row[0].set_ylabel(f"{name}\nrelative distance", fontsize=8)
        row[-1].set_ylim(-0.03, 1.03)
    handles = [grid_axes[0, -1].lines[i] for i in range(len(names))]
    figure.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    figure.suptitle(
        "Invariance: ||f(T(x)) - f(x)|| / ||f(x)|| at every layer, and the probability of the "
        "true class, against the transformation"
    )
    return save_png(figure, path)
