"""The ``lenet-deconv`` command line: one subcommand per module of ``lenet_deconv.cli``."""

from __future__ import annotations

import argparse
import errno
import importlib
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# Modules of lenet_deconv.cli, in the order `--help` lists them. Each defines
# ``register(subparsers) -> argparse.ArgumentParser`` and ``run(args) -> int``.
COMMANDS: tuple[str, ...] = (
    "all_steps",
    "train",
    "evaluate",
    "project",
    "compare",
    "visualize",
    "study",
    "sanity",
    "init_weights",
    "site",
    "serve",
)


class UsageError(ValueError):
    """A command-line request that cannot be carried out as given."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (removing temporary files) and exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Exceptions that are the user's or the machine's doing, not a bug: one line, exit 2.
#: ValueError covers every input check (WeightError, DataError, CheckpointError,
#: OutputError, ...); OSError every file and disk failure (missing, permission,
#: folder, full disk); MemoryError an allocation the machine could not satisfy.
EXPECTED_FAILURES: tuple[type[BaseException], ...] = (ValueError, OSError, MemoryError)


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
        with _signals_unwind():
            return int(args.func(args) or 0)
    except EXPECTED_FAILURES as exc:
        print(f"lenet-deconv {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lenet-deconv {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        print(f"lenet-deconv {args.command}: stopped by {name}", file=sys.stderr)
        return 128 + exc.signum


def describe(exc: BaseException) -> str:
    """One line for an expected failure: the message, or for an OS error what failed where."""
    if isinstance(exc, MemoryError):
        detail = str(exc) or "an allocation failed"
        return f"out of memory ({detail}); ask for less (fewer images, --dtype float32)"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        hint = " (the disk is full)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        return f"{where}{exc.strerror}{hint}"
    text = " ".join(str(exc).split())  # one line, whatever the message held
    return text or type(exc).__name__


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception, so every ``finally`` (temp files) runs."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated(signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread (e.g. called from a worker): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


if __name__ == "__main__":
    sys.exit(main())
