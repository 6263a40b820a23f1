"""`lenet-deconv project`: not written yet."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `project` subcommand."""
    return subparsers.add_parser("project", help="(not written yet)")


def run(args: argparse.Namespace) -> int:
    """Run the `project` subcommand."""
    raise NotImplementedError("project")
