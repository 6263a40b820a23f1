"""`lenet-deconv train`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `train` subcommand."""
    return subparsers.add_parser("train", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `train` subcommand."""
    raise NotImplementedError("train")
