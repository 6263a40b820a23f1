"""Options that several subcommands share, spelled and explained the same way everywhere."""

from __future__ import annotations

import argparse

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
