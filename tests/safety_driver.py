"""Run lenet-deconv commands in forked children that a signal stops at the Nth file write.

Used by tests/test_safety_signals.py: ``python tests/safety_driver.py SPEC.json`` where
SPEC.json is {"data_dir": MNIST root, "jobs": [{"argv": [...], "at": N, "signal": "KILL"
| "TERM"}, ...]}. MNIST is read once, before forking, and shared with every child.
Each job runs ``main(argv)`` in a fork of this process (torch is imported once,
here, before any thread pool exists), with ``os.replace`` - the commit step of
every atomic write - patched to send the signal just before the Nth rename:
the temporary file is complete, the target not yet replaced. Prints one JSON
list: per job, how the child ended ("signal 9", "exit 143", ...) and its stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import tempfile
import time


def run_job(argv: list[str], at: int, signame: str) -> dict[str, object]:
    """Fork, run the command in the child with the patched rename, report how it ended."""
    err = tempfile.TemporaryFile()
    began = time.perf_counter()
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
    seconds = round(time.perf_counter() - began, 2)
    return {"ended": how, "stderr": err.read().decode(errors="replace"), "seconds": seconds}


def main() -> None:
    """Run every job of the JSON file named on the command line; print the results."""
    # Everything imported before forking (no thread pool starts on import): each child
    # starts warm and spends its time on the command, not on imports.
    import torchvision.datasets  # noqa: F401

    import lenet_deconv.figures  # noqa: F401
    import torch_lenet.train  # noqa: F401

    importlib.import_module("lenet_deconv.cli.main").build_parser()  # every subcommand's module

    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    began = time.perf_counter()
    _share_mnist(spec["data_dir"])
    print(f"driver: MNIST read in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    print(json.dumps([run_job(j["argv"], j["at"], j["signal"]) for j in spec["jobs"]]))


def _share_mnist(data_dir: str) -> None:
    """Read MNIST once here; every child reuses the arrays instead of parsing 55 MB again."""
    import torch_lenet.batches
    import torch_lenet.data

    real = torch_lenet.data.load_mnist
    loaded = {split: real(data_dir, split, download=False) for split in ("train", "test")}

    def load_mnist(where, split, download=True):
        if str(where) == data_dir:
            return loaded[split]
        return real(where, split, download=download)

    torch_lenet.data.load_mnist = load_mnist
    torch_lenet.batches.load_mnist = load_mnist


if __name__ == "__main__":
    main()
