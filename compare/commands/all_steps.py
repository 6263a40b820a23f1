"""`lenet-deconv all`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `all` subcommand."""
    return subparsers.add_parser("all", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `all` subcommand."""
    raise NotImplementedError("all")
