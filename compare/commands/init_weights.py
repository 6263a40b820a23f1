"""`lenet-deconv init-weights`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `init-weights` subcommand."""
    return subparsers.add_parser("init-weights", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `init-weights` subcommand."""
    raise NotImplementedError("init-weights")
