"""Training curves from a run's metrics.json: loss and accuracy per epoch."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .output import new_figure, save_png

#: The per-epoch fields the curves need; `train` writes these.
CURVE_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")


def load_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The ``epochs`` list of a metrics.json, checked: every epoch has the curve fields."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    epochs = data.get("epochs") if isinstance(data, dict) else None
    if not isinstance(epochs, list) or not epochs:
        raise ValueError(f"{path}: expected an object with a non-empty 'epochs' list")
    for i, epoch in enumerate(epochs):
        if not isinstance(epoch, dict):
            raise ValueError(f"{path}: epochs[{i}] is not an object")
        for key in CURVE_KEYS:
            value = epoch.get(key)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{path}: epochs[{i}] has no finite number {key!r}")
    return epochs


def plot_curves(epochs: list[dict[str, Any]], path: Path) -> Path:
    """Loss and accuracy of train and test sets against the epoch, side by side."""
    figure = new_figure(9, 3.4)
    loss, accuracy = figure.subplots(1, 2)
    x = [e["epoch"] for e in epochs]
    for split, style in (("train", "o-"), ("test", "s--")):
        loss.plot(x, [e[f"{split}_loss"] for e in epochs], style, label=split, markersize=3)
        accuracy.plot(
            x, [100 * e[f"{split}_accuracy"] for e in epochs], style, label=split, markersize=3
        )
    loss.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="loss")
    accuracy.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    last = epochs[-1]
    accuracy.annotate(
        f"test {100 * last['test_accuracy']:.2f}%",
        (last["epoch"], 100 * last["test_accuracy"]),
        textcoords="offset points",
        xytext=(-10, -18),
        ha="right",
    )
    for axes in (loss, accuracy):
        axes.grid(alpha=0.3)
        axes.legend()
    return save_png(figure, path)
