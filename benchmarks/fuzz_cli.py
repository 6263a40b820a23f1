"""Fuzz the command line for N minutes: tests/test_fuzz_cli.py's cases, many more of them.

    PYTHONPATH=. python benchmarks/fuzz_cli.py --minutes 10 [--slow] [--seed 1]

Every case runs in a fresh sandbox (a private copy of MNIST from
$LENET_DECONV_DATA or ../shared/data, and hostile files) and must keep
docs/safety.md's promises. Prints how many cases ran and every failing argv
(sandbox-relative, ready to paste into tests/test_fuzz_cli.py as an @example);
exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from tests.fuzz_cli_cases import COMMANDS, FAST_COMMANDS, argvs, make_sandbox, run_in


class TimeUp(KeyboardInterrupt):
    """The minutes are spent."""


def main() -> int:
    """Run cases until the minutes are spent; report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--slow", action="store_true", help="every command, not only fast ones")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = Path(os.environ.get("LENET_DECONV_DATA", Path(__file__).parents[2] / "shared" / "data"))
    commands = tuple(COMMANDS) if args.slow else FAST_COMMANDS
    end = time.monotonic() + 60 * args.minutes
    failures: list[tuple[list[str], str]] = []
    ran = 0
    with tempfile.TemporaryDirectory() as folder:
        sandbox, hashes = make_sandbox(Path(folder) / "sandbox", data), {}

        @seed(args.seed)
        @settings(
            max_examples=10**6,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(argv=argvs(commands))
        def case(argv: list[str]) -> None:
            nonlocal ran
            if time.monotonic() > end:
                raise TimeUp  # hypothesis lets a KeyboardInterrupt through at once
            ran += 1
            try:
                run_in(sandbox, argv, hashes)
            except AssertionError as exc:  # a broken promise: note it and go on
                failures.append((argv, str(exc)[:500]))
                print(f"FAILED {argv!r}: {str(exc)[:300]}", flush=True)

        try:
            case()
        except KeyboardInterrupt:
            pass
    print(f"{ran} cases in {args.minutes} min over {', '.join(commands)}: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
