"""The memory budget: the RAM one command may plan to use, and estimates to check against it."""

from __future__ import annotations

import os
import re
from decimal import Decimal

MEMORY_ENV_VAR = "LENET_DECONV_MAX_MEMORY"
DEFAULT_MAX_MEMORY = 4 * 2**30  # a quarter of a 16 GiB machine
#: A budget beyond this is a typo: sizes computed from it stay far from any overflow.
MAX_BUDGET = 2**50

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)

#: Working bytes per image and per selection, in units of the dtype's item size:
#: measured peaks (tracemalloc for NumPy, peak RSS for PyTorch, 400 images,
#: every layer) stay below these: benchmarks/projection_memory.py prints both.
PER_IMAGE_ITEMS = 100_000
PER_SELECTION_ITEMS = 8_000


def parse_size(text: str, what: str = "--max-memory") -> int:
    """Bytes from "4G", "512M", "1.5GiB" or a plain number of bytes; ValueError otherwise."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{what}: expected a size such as 4G, 512M or 1073741824, got {text!r}")
    # Exact decimal arithmetic: a float would overflow to inf on 400 nines.
    size = int(Decimal(match.group(1)) * _UNITS[match.group(2).upper()])
    if size < 1:
        raise ValueError(f"{what} must be positive, got {text!r}")
    if size > MAX_BUDGET:
        raise ValueError(f"{what} {text!r} is beyond any machine's memory (at most 1 PiB accepted)")
    return size


def memory_budget(option: str | None) -> int:
    """The budget in bytes: the option, else $LENET_DECONV_MAX_MEMORY, else 4 GiB."""
    if option is not None:
        return parse_size(option)
    env = os.environ.get(MEMORY_ENV_VAR)
    if env:
        return parse_size(env, MEMORY_ENV_VAR)
    return DEFAULT_MAX_MEMORY


def projection_bytes_per_image(selections: int, itemsize: int) -> int:
    """Working memory to trace one image and project ``selections`` of its activations."""
    return itemsize * (PER_IMAGE_ITEMS + PER_SELECTION_ITEMS * selections)


def human(size: float) -> str:
    """A byte count as "3.2 GiB"."""
    for unit in ("B", "KiB", "MiB"):
        if abs(size) < 1024:
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"
