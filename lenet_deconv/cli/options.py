"""Options that several subcommands share, spelled and explained the same way everywhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from numpy_lenet.rules import DEFAULT_RULE, RULES, check_rule

from ..mnist import DATA_ENV_VAR


def add_data_dir(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """Add ``--data-dir``: the MNIST torchvision root, with the lookup order in its help."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"MNIST root holding MNIST/raw/ (default: ${DATA_ENV_VAR}, else "
        "$XDG_CACHE_HOME/lenet-deconvnet/data, else ~/.cache/lenet-deconvnet/data)"
        f"{purpose}",
    )


def add_rule(parser: argparse.ArgumentParser, what: str = "projections") -> None:
    """Add ``--rule``: the backward rule of the projections (checked by ``checked_rule``)."""
    # No argparse choices: a bad value is one clear line (exit 2) from checked_rule,
    # not a usage block.
    parser.add_argument(
        "--rule",
        default=DEFAULT_RULE,
        metavar="{" + ",".join(RULES) + "}",
        help=f"backward rule of the {what}, differing only in each mirror ReLU step: deconvnet "
        "relu(r), gradient r*[z>0] (backpropagation), guided relu(r)*[z>0] "
        f"(default: {DEFAULT_RULE})",
    )


def checked_rule(rule: str) -> str:
    """``rule`` if it is one of RULES; ValueError (one line, exit 2) otherwise."""
    check_rule(rule)
    return rule


def add_device(parser: argparse.ArgumentParser) -> None:
    """Add ``--device cpu|cuda|auto``: where the PyTorch side computes."""
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where the PyTorch backend computes: cpu (default), cuda (an error without a "
        "CUDA device), or auto (CUDA when present, else the CPU); NumPy always runs on the CPU",
    )


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """Add ``--quiet``: no progress bars or step messages on stderr."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or progress messages on stderr (errors are still shown)",
    )


@contextmanager
def progress_bar(
    total: int, desc: str, unit: str, *, quiet: bool
) -> Iterator[Callable[[int], object]]:
    """Yield ``tick(count)``: a tqdm bar with an ETA on stderr, or nothing when ``quiet``.

    Shown on a terminal and off one alike (a log file gets the bar's updates at
    most once a second): long work should say how far it has got either way.
    """
    if quiet:
        yield lambda count: None
        return
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 1.0,
    )
    try:
        yield bar.update
    finally:
        bar.close()
