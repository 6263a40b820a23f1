"""The end-to-end agreement of the NumPy and PyTorch backends (docs/agreement.md)."""

from .check import crosscheck

__all__ = ["crosscheck"]
