"""The end-to-end agreement of the NumPy and PyTorch backends (docs/agreement.md)."""

from .agreement import relative_error
from .check import CrossCheck, crosscheck
from .ties import Flip, find_flips

__all__ = ["CrossCheck", "Flip", "crosscheck", "find_flips", "relative_error"]
