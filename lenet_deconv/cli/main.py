"""The ``lenet-deconv`` command line: one subcommand per module of ``lenet_deconv.cli``."""

from __future__ import annotations

import argparse
import errno
import importlib
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from numpy_lenet.atomic import protected_inputs

from ..outputs import command_inputs

# Modules of lenet_deconv.cli by command name, in the order `--help` lists them. Each
# defines SUMMARY, DESCRIPTION, ``add_options(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, str] = {
    "all_steps": "all",
    "train": "train",
    "evaluate": "evaluate",
    "project": "project",
    "compare": "compare",
    "visualize": "visualize",
    "study": "study",
    "sanity": "sanity",
    "init_weights": "init-weights",
    "site": "site",
    "serve": "serve",
}


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


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and a hint to --help, not a usage block."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` on stderr and exit 2."""
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = OneLineParser(
        prog="lenet-deconv",
        description="Train LeNet-5 on MNIST and look inside it with Zeiler & Fergus's deconvnet, "
        "computed both in NumPy and in PyTorch.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name, name in COMMANDS.items():
        module = importlib.import_module(f"lenet_deconv.cli.{module_name}")
        sub = subparsers.add_parser(
            name,
            help=module.SUMMARY,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_options(sub)
        sub.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the subcommand, turn input errors into one clear line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    received: list[int] = []
    try:
        # Warnings are held back until the command has succeeded: an error is one line.
        with (
            warnings.catch_warnings(record=True) as held,
            _signals_unwind(received),
            protected_inputs(command_inputs(args)),  # atomic writes never replace an input
        ):
            code = int(args.func(args) or 0)
        # A signal whose exception a destructor or a pool swallowed still ends the command,
        # unless Ctrl-C is how the command ends normally (serve: CTRL_C_STOPS).
        normal = getattr(sys.modules[args.func.__module__], "CTRL_C_STOPS", False)
        if received and not (normal and received == [signal.SIGINT]):
            raise Terminated(received[0]) if received[0] != signal.SIGINT else KeyboardInterrupt
        for item in held:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
        return code
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
        return one_line(f"{where}{exc.strerror}{hint}")
    return one_line(str(exc)) or type(exc).__name__


def one_line(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())


@contextmanager
def _signals_unwind(received: list[int]) -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into exceptions, so every ``finally`` (temp files) runs.

    Each signal is also noted in ``received``: Python only prints "Exception
    ignored" for one raised inside a destructor or callback, and the command
    would go on to exit 0; main() ends it after all. Those notices are muted.
    """

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt | Terminated):
            default_hook(info)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    try:
        previous = {sig: signal.signal(sig, handler) for sig in signals}
    except ValueError:  # not the main thread (e.g. called from a worker): leave signals alone
        yield
        return
    default_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield
    finally:
        sys.unraisablehook = default_hook
        for sig, old in previous.items():
            signal.signal(sig, old)
