"""Options that several subcommands share, spelled and explained the same way everywhere."""

from __future__ import annotations

import argparse

from numpy_lenet.rules import DEFAULT_RULE, RULES, check_rule
from torch_lenet.data import DATA_ENV_VAR


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
