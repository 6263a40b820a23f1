"""How alike two projections are: Adebayo et al.'s rank correlation and SSIM, per image.

Both compare the absolute values, as the paper does for its headline curves:
a rule's sign convention then cannot hide or fake a change.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of |a| and |b| over all pixels; None if either is constant."""
    x, y = np.abs(a).ravel(), np.abs(b).ravel()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None  # a rank correlation with a constant is undefined (scipy: NaN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y).statistic)


def ssim_abs(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of |a| and |b|, each scaled to [0, 1] by its own largest value (data range 1)."""
    return float(structural_similarity(_unit_scaled(a), _unit_scaled(b), data_range=1.0))


def _unit_scaled(picture: np.ndarray) -> np.ndarray:
    """|picture| / max|picture| in float64; an all-zero picture stays all zero."""
    magnitude = np.abs(np.asarray(picture, dtype=np.float64))
    peak = magnitude.max()
    return magnitude / peak if peak > 0 else magnitude


def similarities(reference: np.ndarray, other: np.ndarray) -> dict[str, list[float | None]]:
    """Per image i of (N, 28, 28) pictures: each metric of reference[i] against other[i]."""
    if reference.shape != other.shape:
        raise ValueError(f"cannot compare pictures {reference.shape} with {other.shape}")
    return {
        "spearman": [spearman_abs(a, b) for a, b in zip(reference, other, strict=True)],
        "ssim": [ssim_abs(a, b) for a, b in zip(reference, other, strict=True)],
    }


def summary(values: list[float | None]) -> dict[str, float | int | None]:
    """Mean and standard deviation of the defined values, and how many there were."""
    defined = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if defined.size == 0:
        return {"mean": None, "std": None, "defined": 0}
    return {
        "mean": float(defined.mean()),
        "std": float(defined.std()),
        "defined": int(defined.size),
    }
