"""How close two backends' numbers are, and which switch disagreements are honest near-ties."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| over the whole array (0 when both are all zero)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"shapes differ: {a64.shape} vs {b64.shape}")
    norm = np.linalg.norm(b64)
    diff = np.linalg.norm(a64 - b64)
    if norm == 0:
        return 0.0 if diff == 0 else float("inf")
    return float(diff / norm)


@dataclass(frozen=True)
class SwitchFlips:
    """Pool windows whose switch differs between two backends.

    ``where`` holds (image, channel, y, x) of each flipped window; ``values_a``
    and ``values_b`` the pre-pool value (in backend a's numbers) at a's and b's
    chosen positions; ``gap`` their absolute difference.
    """

    where: np.ndarray
    values_a: np.ndarray
    values_b: np.ndarray
    gap: np.ndarray

    def __len__(self) -> int:
        return len(self.where)

    def images(self) -> np.ndarray:
        """Indices of the images with at least one flipped window."""
        return np.unique(self.where[:, 0]) if len(self) else np.zeros(0, dtype=np.int64)


def switch_flips(
    pre_pool: np.ndarray, switches_a: np.ndarray, switches_b: np.ndarray
) -> SwitchFlips:
    """Find the windows where two switch arrays (N, C, h, w) disagree over pre_pool (N, C, H, W)."""
    if switches_a.shape != switches_b.shape:
        raise ValueError(f"switch shapes differ: {switches_a.shape} vs {switches_b.shape}")
    where = np.argwhere(switches_a != switches_b)
    n, c = where[:, 0], where[:, 1]
    planes = pre_pool.reshape(*pre_pool.shape[:2], -1)
    idx_a = switches_a[n, c, where[:, 2], where[:, 3]]
    idx_b = switches_b[n, c, where[:, 2], where[:, 3]]
    values_a, values_b = planes[n, c, idx_a], planes[n, c, idx_b]
    return SwitchFlips(where, values_a, values_b, np.abs(values_a - values_b))


def near_tie_bound(pre_pool: np.ndarray, rtol: float) -> float:
    """The largest gap between two window values that rounding alone can explain."""
    return float(rtol * max(np.max(np.abs(pre_pool)), np.finfo(np.float64).tiny))
