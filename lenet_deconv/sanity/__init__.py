"""Adebayo et al.'s sanity checks (NeurIPS 2018) for the three backward rules on LeNet-5.

``randomize`` re-initialises layers (cascading from the top, or one at a time),
``similarity`` scores two projections (Spearman rank correlation of absolute
values, SSIM), and ``study`` runs the whole comparison over a fixed image set.
"""

from .study import SanityStudy, run_study

__all__ = ["SanityStudy", "run_study"]
