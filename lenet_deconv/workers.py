"""Work shared between processes: one thread per process, forked where that is safe.

The cross-check's batches and `all`'s study run in worker processes beside
the main one. Threads would not do: the many small NumPy and PyTorch calls
hold the GIL (two threads measured 1.8 cores' worth of CPU for 15% more CPU
time than one). Each worker keeps PyTorch and BLAS to one thread, and so does
the main process while it works beside one: one process per core, no
oversubscription.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

import torch

try:  # holds the BLAS thread pool to one thread (one_thread)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - an optional speed-up
    threadpool_limits = None

T = TypeVar("T")


def process_context(device: torch.device | str = "cpu") -> BaseContext:
    """How worker processes start: forked on Linux for CPU work, else spawned.

    A fork starts at once, with this process's code as it is (a worker runs
    on one thread and touches no thread pool the parent may have started).
    CUDA cannot be forked, and other systems fork unsafely: there workers are
    spawned, and the calling script needs the ``if __name__ == "__main__":`` guard.
    """
    fork = sys.platform.startswith("linux") and torch.device(device).type == "cpu"
    return multiprocessing.get_context("fork" if fork else "spawn")


@contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch's and the BLAS library's thread pools held to one thread for the block.

    Each process already has a core of its own; spreading over every core
    as well only oversubscribes the machine (OpenBLAS's threads spin between
    calls: twice the wall time measured on 2 cores). The BLAS limit needs
    threadpoolctl; without it BLAS keeps its own setting.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(limits=1, user_api="blas"):
                yield
    finally:
        torch.set_num_threads(previous)


def worker_start() -> None:
    """A worker process's start: the parent's signals ignored, PyTorch and BLAS on one thread.

    A forked worker inherits the parent's Python handlers: SIGINT's
    KeyboardInterrupt and the command line's SIGTERM/SIGHUP unwinding. Raised in
    a worker that waits for work, they end it with a traceback on stderr; and a
    worker that simply dies of the signal can leave the pool's shutdown waiting
    on it for good (seen once in 2 runs). A worker has nothing of its own to
    clean up: it ignores these signals, and the parent, which gets the same
    signal from the terminal or the process group, stops the pool - each worker
    finishes the batch in hand and exits - and reports.
    """
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    torch.set_num_threads(1)
    if threadpool_limits is not None:
        threadpool_limits(limits=1, user_api="blas")


@contextmanager
def beside(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> Iterator[Callable[[], T]]:
    """Run ``function(*args, **kwargs)`` in a worker process while the block runs.

    Yields a function that waits for the result (re-raising the worker's
    error). The block itself runs on one thread meanwhile: one core each.
    """
    pool = ProcessPoolExecutor(1, mp_context=process_context(), initializer=worker_start)
    try:
        future = pool.submit(function, *args, **kwargs)
        with one_thread():
            yield future.result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
