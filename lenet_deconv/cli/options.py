"""Options that several subcommands share, spelled and explained the same way everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from numpy_lenet.params import Params
from numpy_lenet.rules import DEFAULT_RULE, RULES
from torch_lenet.data import load_mnist
from torch_lenet.weights import load_params

from ..backends import BACKENDS, DTYPES
from ..mnist import DATA_ENV_VAR, resolve_data_dir
from ..shipped import shipped_weights

# A parser, or one of its argument groups: each takes options alike.
Parser = argparse._ActionsContainer


def add_weights(parser: Parser, what: str = "weight file (.npz or .pt)") -> None:
    """Add ``--weights FILE``, defaulting to the shipped model (weights/lenet5-mnist.npz)."""
    parser.add_argument(
        "--weights",
        type=Path,
        default=shipped_weights(),
        metavar="FILE",
        help=f"{what} (default: the shipped model, weights/lenet5-mnist.npz)",
    )


def add_inputs(parser: Parser, what: str = "weight file (.npz or .pt)", purpose: str = "") -> None:
    """Add ``--weights`` and ``--data-dir``: the model and the MNIST root a command reads."""
    add_weights(parser, what)
    add_data_dir(parser, purpose)


def load_inputs(args: argparse.Namespace) -> tuple[Params, np.ndarray, np.ndarray]:
    """The --weights parameters, then ``load_split``'s images and labels."""
    return load_params(args.weights), *load_split(args)


def load_split(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST split (--split, else test) under --data-dir: uint8 images and labels."""
    download = not getattr(args, "no_download", False)
    split = getattr(args, "split", "test")
    return load_mnist(resolve_data_dir(args.data_dir), split, download=download)


def add_out(
    parser: Parser, what: str, metavar: str | None = None, kind: Callable[[str], Path] = Path
) -> None:
    """Add the required ``--out``: ``what`` says what it names, ``kind`` parses it."""
    parser.add_argument("--out", type=kind, required=True, metavar=metavar, help=what)


def add_force(parser: Parser, what: str = "replace --out if it exists") -> None:
    """Add ``--force``: the one way to replace what a command would otherwise refuse to."""
    parser.add_argument("--force", action="store_true", help=what)


def add_backend(parser: Parser, what: str = "") -> None:
    """Add ``--backend numpy|torch``: which implementation computes (default: numpy)."""
    help_text = f"which implementation computes{what} (default: numpy)"
    parser.add_argument("--backend", choices=BACKENDS, default="numpy", help=help_text)


def add_dtype(parser: Parser, default: str) -> None:
    """Add ``--dtype float32|float64``."""
    help_text = f"the float type computed in (default: {default})"
    parser.add_argument("--dtype", choices=tuple(DTYPES), default=default, help=help_text)


def add_split(parser: Parser) -> None:
    """Add ``--split test|train``: which MNIST split the images come from."""
    parser.add_argument(
        "--split", choices=("test", "train"), default="test", help="MNIST split (default: test)"
    )


def add_no_download(parser: Parser) -> None:
    """Add ``--no-download``: fail rather than fetch missing MNIST files."""
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download MNIST: fail with a clear error if the files are missing",
    )


def add_data_dir(parser: Parser, purpose: str = "") -> None:
    """Add ``--data-dir``: the MNIST torchvision root, with the lookup order in its help."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"MNIST root holding MNIST/raw/ (default: ${DATA_ENV_VAR}, else "
        "$XDG_CACHE_HOME/lenet-deconvnet/data, else ~/.cache/lenet-deconvnet/data)"
        f"{purpose}",
    )


def add_rule(parser: argparse.ArgumentParser, what: str = "projections") -> None:
    """Add ``--rule``: the backward rule of the projections (checked by ``check_rule``)."""
    # No argparse choices: a bad value is one clear line (exit 2) from check_rule,
    # not a usage block.
    parser.add_argument(
        "--rule",
        default=DEFAULT_RULE,
        metavar="{" + ",".join(RULES) + "}",
        help=f"backward rule of the {what}, differing only in each mirror ReLU step: deconvnet "
        "relu(r), gradient r*[z>0] (backpropagation), guided relu(r)*[z>0] "
        f"(default: {DEFAULT_RULE})",
    )


def add_limit(parser: Parser, what: str, default: int | None = None) -> None:
    """Add ``--limit N``: only the first N images (checked by ``check_at_least``)."""
    parser.add_argument("--limit", type=int, default=default, metavar="N", help=what)


def check_at_least(args: argparse.Namespace, low: int, *names: str) -> None:
    """ValueError (one line, exit 2) for the first of these options given below ``low``."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")


def add_device(parser: argparse.ArgumentParser) -> None:
    """Add ``--device cpu|cuda|auto``: where the PyTorch side computes."""
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where the PyTorch backend computes: cpu (default), cuda (an error without a "
        "CUDA device), or auto (CUDA when present, else the CPU); NumPy always runs on the CPU",
    )


def add_quiet(
    parser: Parser,
    what: str = "no progress bar or progress messages on stderr (errors are still shown)",
) -> None:
    """Add ``--quiet``: no progress bars or step messages on stderr."""
    parser.add_argument("--quiet", action="store_true", help=what)
