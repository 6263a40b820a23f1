"""The three backward rules side by side: each layer's strongest activation, projected by each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .panels import plot_tile_table
from .tiles import gray_rgb, signed_rgb

#: How figures and captions name each rule.
RULE_TITLES: dict[str, str] = {
    "deconvnet": "deconvnet",
    "gradient": "gradient",
    "guided": "guided backprop",
}
#: Each rule's mirror ReLU step, in one line.
RULE_LINES: dict[str, str] = {
    "deconvnet": "relu(r): the reconstruction rectified, whatever the forward pass did",
    "gradient": "r * [z > 0]: masked by the forward pass (backpropagation)",
    "guided": "relu(r) * [z > 0]: both, rectified and masked",
}


def plot_rule_grid(
    projections: Mapping[str, Mapping[str, np.ndarray]],
    images: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """Rows: the input, then each layer; per image, a column per rule of ``projections[layer]``."""
    layers = list(projections)
    rules = list(projections[layers[0]])
    middle = len(rules) // 2
    # Each image above the middle one of its rule columns.
    header = [[gray_rgb(x) if k == middle else None for k in range(len(rules))] for x in images]
    rows = [_spaced(header)]
    for by_rule in projections.values():
        coloured = [signed_rgb(np.asarray(by_rule[rule], np.float64)) for rule in rules]
        rows.append(_spaced([[c[i] for c in coloured] for i in range(len(images))]))
    col_labels = _spaced([[RULE_TITLES[rule] for rule in rules]] * len(images), "")
    return plot_tile_table(rows, ["input", *layers], col_labels, title, path)


def _spaced(groups: list[list], gap: object = None) -> list:
    """The groups' cells in one row, a ``gap`` cell between two groups (an empty column)."""
    row = list(groups[0])
    for group in groups[1:]:
        row += [gap, *group]
    return row
