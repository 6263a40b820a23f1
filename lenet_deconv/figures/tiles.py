"""Arrays of small pictures made into one: tiling, colouring and receptive-field crops."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from numpy_lenet.architecture import receptive_field_geometry

#: Signed pictures (filters, projections): blue negative, white zero, red positive.
DIVERGING = "RdBu_r"
#: Non-negative pictures (activations): dark low, bright high.
SEQUENTIAL = "viridis"
#: Where a tile has no data (a gap, or a crop beyond the image's border).
BACKGROUND = (0.85, 0.85, 0.85)


def mosaic(tiles: np.ndarray, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tiles (rows, cols, h, w, *rest) as one (rows*(h+gap)-gap, cols*(w+gap)-gap, *rest) array."""
    rows, cols, h, w = tiles.shape[:4]
    rest = tiles.shape[4:]
    padded = np.full((rows, cols, h + gap, w + gap, *rest), fill, dtype=np.result_type(tiles, fill))
    padded[:, :, :h, :w] = tiles
    joined = padded.transpose(0, 2, 1, 3, *range(4, padded.ndim))
    joined = joined.reshape(rows * (h + gap), cols * (w + gap), *rest)
    return joined[: rows * (h + gap) - gap, : cols * (w + gap) - gap]


def grid(tiles: np.ndarray, cols: int, fill: float = np.nan) -> np.ndarray:
    """Tiles (n, h, w, *rest) laid out row by row on ``cols`` columns: (rows, cols, h, w, *rest)."""
    n = tiles.shape[0]
    rows = -(-n // cols)
    out = np.full((rows * cols, *tiles.shape[1:]), fill, dtype=np.result_type(tiles, fill))
    out[:n] = tiles
    return out.reshape(rows, cols, *tiles.shape[1:])


def signed_rgb(tiles: np.ndarray, cmap: str = DIVERGING) -> np.ndarray:
    """RGB (..., h, w, 3) of signed tiles (..., h, w), each scaled to its own largest |value|."""
    with np.errstate(invalid="ignore"):
        scale = np.nanmax(np.abs(tiles), axis=(-2, -1), keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return _colour(0.5 + 0.5 * tiles / scale, cmap)


def gray_rgb(tiles: np.ndarray) -> np.ndarray:
    """RGB (..., h, w, 3) of pixels in [0, 1] shown as they are (white ink on black)."""
    return _colour(tiles, "gray")


def _colour(unit_values: np.ndarray, cmap: str) -> np.ndarray:
    """Colour map applied to values in [0, 1]; NaN becomes BACKGROUND."""
    rgb = colormaps[cmap](np.nan_to_num(np.clip(unit_values, 0.0, 1.0)))[..., :3]
    rgb[np.isnan(unit_values)] = BACKGROUND
    return rgb


def crop_fields(planes: np.ndarray, layer: str, units: np.ndarray) -> np.ndarray:
    """Crops (M, size, size) of planes (M, 28, 28) to the receptive field of unit m of ``layer``."""
    planes = np.asarray(planes, dtype=np.float64)
    units = np.asarray(units, dtype=np.int64).reshape(len(units), -1)
    if units.shape[1] == 1:  # fc units (j,) see the whole image
        return planes
    size, jump, start = receptive_field_geometry(layer)
    tops, lefts = start + units[:, 1] * jump, start + units[:, 2] * jump
    # NaN past the image's border: every crop has the field's full size, the image
    # sitting where the unit sees it.
    padded = np.pad(planes, ((0, 0), (size, size), (size, size)), constant_values=np.nan)
    offsets = np.arange(size)
    rows = (tops + size)[:, None, None] + offsets[None, :, None]
    cols = (lefts + size)[:, None, None] + offsets[None, None, :]
    return padded[np.arange(len(planes))[:, None, None], rows, cols]
