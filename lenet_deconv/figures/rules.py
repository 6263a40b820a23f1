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
    coloured = {
        layer: {rule: signed_rgb(np.asarray(p, np.float64)) for rule, p in by_rule.items()}
        for layer, by_rule in projections.items()
    }
    header: list[np.ndarray | None] = []
    col_labels: list[str] = []
    for i in range(len(images)):
        if i:
            header.append(None)
            col_labels.append("")
        for k, rule in enumerate(rules):
            header.append(gray_rgb(images[i]) if k == len(rules) // 2 else None)
            col_labels.append(RULE_TITLES[rule])
    rows: list[list[np.ndarray | None]] = [header]
    for layer in layers:
        row: list[np.ndarray | None] = []
        for i in range(len(images)):
            if i:
                row.append(None)
            row += [coloured[layer][rule][i] for rule in rules]
        rows.append(row)
    return plot_tile_table(rows, ["input", *layers], col_labels, title, path)
