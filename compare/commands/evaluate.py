"""`lenet-deconv evaluate`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `evaluate` subcommand."""
    return subparsers.add_parser("evaluate", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `evaluate` subcommand."""
    raise NotImplementedError("evaluate")
