"""Computing where overflow is checked afterwards: no NumPy warnings on stderr meanwhile."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def overflow_checked_after() -> Iterator[None]:
    """Silence NumPy's overflow and invalid-value warnings: the caller refuses NaN/inf itself.

    np.errstate covers this thread only; the warnings filter also covers the
    NumPy backend's worker threads, which would otherwise print to stderr.
    """
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.filterwarnings("ignore", r"(overflow|invalid value) encountered", RuntimeWarning)
        yield
