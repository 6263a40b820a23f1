"""The ``lenet-deconv`` command line: one subcommand per module of ``lenet_deconv.cli``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules of lenet_deconv.cli, in the order `--help` lists them. Each defines
# ``register(subparsers) -> argparse.ArgumentParser`` and ``run(args) -> int``.
COMMANDS: tuple[str, ...] = (
    "all_steps",
    "train",
    "evaluate",
    "project",
    "compare",
    "visualize",
    "sanity",
    "init_weights",
)


class UsageError(ValueError):
    """A command-line request that cannot be carried out as given."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="lenet-deconv",
        description=(
            "Train LeNet-5 on MNIST and look inside it with Zeiler & Fergus's deconvnet, "
            "computed both in NumPy and in PyTorch."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        module = importlib.import_module(f"lenet_deconv.cli.{module_name}")
        sub = module.register(subparsers)
        sub.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the subcommand, turn input errors into one clear line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"lenet-deconv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lenet-deconv {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
