"""Making a matplotlib figure and writing it as a PNG, atomically."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from numpy_lenet.atomic import atomic_path

#: Dots per inch of every PNG: sharp enough for 28x28 tiles, small enough to commit.
DPI = 100


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A figure of ``width`` x ``height`` inches, detached from pyplot (no global state)."""
    return Figure(figsize=(width, height), layout=layout)


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` as a PNG; an interrupted write leaves no partial file."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path
