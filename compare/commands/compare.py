"""`lenet-deconv compare`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `compare` subcommand."""
    return subparsers.add_parser("compare", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `compare` subcommand."""
    raise NotImplementedError("compare")
