"""How close two backends' numbers are: the error measures and bounds of docs/agreement.md."""

from __future__ import annotations

import numpy as np

#: The float64 verdict: every activation and every projection within this relative error.
VERDICT_TOLERANCE = 1e-12
#: A projection smaller than this fraction of its channel's largest is measured against
#: that fraction of the largest (docs/agreement.md, "Per projection").
FLOOR_RATIO = 1e-3
#: Unit roundoff: half the distance from 1 to the next float (2^-24, 2^-53).
UNIT_ROUNDOFF: dict[type, float] = {np.float32: 2.0**-24, np.float64: 2.0**-53}


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


def squared_norms(other: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared norms ||other - reference||^2 and ||reference||^2 of each projection (row)."""
    if other.shape != reference.shape:
        raise ValueError(f"shapes differ: {other.shape} vs {reference.shape}")
    ref = rows_of(np.asarray(reference, np.float64))
    diff = rows_of(np.asarray(other, np.float64)) - ref
    return np.einsum("ij,ij->i", diff, diff), row_norms(ref)


def row_norms(values: np.ndarray) -> np.ndarray:
    """(m,) squared norm of each projection (row) of values (m, ...), in float64."""
    rows = np.asarray(rows_of(values), np.float64)
    return np.einsum("ij,ij->i", rows, rows)


def rows_of(values: np.ndarray) -> np.ndarray:
    """Projections (m, ...) as m flat rows (also when m is 0)."""
    return values.reshape(len(values), int(np.prod(values.shape[1:])))


def projection_errors(
    sq_diff: np.ndarray, sq_norm: np.ndarray, channel_largest: np.ndarray
) -> np.ndarray:
    """Per-projection relative errors ||a - b|| / max(||b||, FLOOR_RATIO * largest).

    ``sq_diff`` and ``sq_norm`` are (..., S) squared norms; ``channel_largest``
    (S,) the largest ||b|| of each selection's channel over the checked images.
    0 where both sides are all zero; inf where only the other side is not.
    """
    norm = np.maximum(np.sqrt(sq_norm), FLOOR_RATIO * np.asarray(channel_largest))
    diff = np.sqrt(sq_diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            norm > 0, diff / np.where(norm > 0, norm, 1.0), np.where(diff > 0, np.inf, 0)
        )


def gamma(terms: int, dtype: type) -> float:
    """Higham's gamma_n = n u / (1 - n u): a bound on the relative rounding of an n-term sum."""
    nu = terms * UNIT_ROUNDOFF[dtype]
    return nu / (1 - nu)
