"""`lenet-deconv visualize`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `visualize` subcommand."""
    return subparsers.add_parser("visualize", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `visualize` subcommand."""
    raise NotImplementedError("visualize")
