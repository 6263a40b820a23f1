"""Run lenet-deconv commands in forked children that a signal stops at the Nth file write.

Used by tests/test_safety_signals.py: ``python tests/safety_driver.py JOBS.json``
where JOBS.json is a list of {"argv": [...], "at": N, "signal": "KILL" | "TERM"}.
Each job runs ``main(argv)`` in a fork of this process (torch is imported once,
here, before any thread pool exists), with ``os.replace`` - the commit step of
every atomic write - patched to send the signal just before the Nth rename:
the temporary file is complete, the target not yet replaced. Prints one JSON
list: per job, how the child ended ("signal 9", "exit 143", ...) and its stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile


def run_job(argv: list[str], at: int, signame: str) -> dict[str, object]:
    """Fork, run the command in the child with the patched rename, report how it ended."""
    err = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.dup2(err.fileno(), 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        real_replace = os.replace
        calls = {"n": 0}
        signum = getattr(signal, f"SIG{signame}")

        def replace(src, dst, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == at:
                os.kill(os.getpid(), signum)
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
        code = 99
        try:
            from lenet_deconv.cli import main

            code = main(argv)
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    err.seek(0)
    how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {status >> 8}"
    return {"ended": how, "stderr": err.read().decode(errors="replace")}


def main() -> None:
    """Run every job of the JSON file named on the command line; print the results."""
    import torch  # noqa: F401  # imported before forking: each child starts warm

    import lenet_deconv.cli.main  # noqa: F401

    with open(sys.argv[1], encoding="utf-8") as handle:
        jobs = json.load(handle)
    print(json.dumps([run_job(j["argv"], j["at"], j["signal"]) for j in jobs]))


if __name__ == "__main__":
    main()
