"""The output policy every command follows (docs/safety.md, "The output policy")."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from numpy_lenet.atomic import (
    OutputError,
    check_not_protected,
    check_not_special,
    check_output_folder,
    sweep_temps,
)
from torch_lenet.data import MNIST_FILES, raw_folder

from .mnist import resolve_data_dir

__all__ = ["OutputError", "check_output_file", "check_output_folder"]


def check_output_file(
    path: str | os.PathLike[str], *, force: bool = False, what: str = "--out"
) -> Path:
    """Refuse an output file the policy forbids; return it as a Path when it may be written."""
    path = Path(path)
    check_not_special(path, what)
    if not path.exists():
        return path
    check_not_protected(path, what)  # the command's inputs (main: protected_inputs)
    if not force:
        raise OutputError(f"{what} {path} already exists; pass --force to replace it")
    return path


def check_gallery_folder(folder: str | os.PathLike[str], force: bool) -> Path:
    """A gallery's folder: a folder, new or empty unless ``force``; dead temporaries swept."""
    folder = check_output_folder(folder)
    if folder.is_dir():
        sweep_temps(folder)  # temporaries of a killed run
        held = sorted(entry.name for entry in folder.iterdir())
        if held and not force:
            shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
            raise OutputError(
                f"{folder} already holds files ({shown}); pass --force to replace what the "
                "command writes there, or give a new or empty folder"
            )
    return folder


def output_file_arg(text: str) -> Path:
    """argparse type of an output file: '' and a name ending in a slash (a folder) are refused."""
    if os.path.basename(text) in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names a folder, not a file")
    return Path(text)


def output_folder_arg(text: str) -> Path:
    """argparse type of an output folder: '' is refused (it would silently mean '.')."""
    if text == "":
        raise argparse.ArgumentTypeError("'' names no folder (say . for the current one)")
    return Path(text)


#: Options naming files a command reads (besides MNIST): an output may never be one of them.
INPUT_OPTIONS = ("weights", "input", "shuffled_weights", "metrics")


def command_inputs(args: argparse.Namespace) -> list[Path]:
    """Every file a command reads: the files its options name, and the four MNIST files.

    A run's checkpoint is read and rewritten by train's own rules (--resume).
    """
    named = [Path(getattr(args, name)) for name in INPUT_OPTIONS if getattr(args, name, None)]
    if not hasattr(args, "data_dir"):
        return named
    raw = raw_folder(resolve_data_dir(args.data_dir))
    return named + [raw / name for name in MNIST_FILES]
