"""Work shared between processes: one thread per process, forked where that is safe.

Processes, not threads: the many small NumPy and PyTorch calls hold the GIL
(docs/agreement.md, "How the work is shared"). Each process keeps PyTorch and
BLAS to one thread while it works beside another: no oversubscription.
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
from threadpoolctl import threadpool_limits

T = TypeVar("T")


def process_context(device: torch.device | str = "cpu") -> BaseContext:
    """How worker processes start: forked on Linux for CPU work, else spawned.

    CUDA cannot be forked, and other systems fork unsafely: there workers are
    spawned, and the calling script needs the ``if __name__ == "__main__":`` guard.
    """
    fork = sys.platform.startswith("linux") and torch.device(device).type == "cpu"
    return multiprocessing.get_context("fork" if fork else "spawn")


@contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch's and BLAS's thread pools held to one thread for the block."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)


def worker_start() -> None:
    """A worker process's start: the parent's signals ignored, PyTorch and BLAS on one thread.

    A forked worker inherits the parent's handlers, which would end it with a
    traceback, and a worker killed by the signal can leave the pool's shutdown
    waiting for good. A worker has nothing to clean up: the parent, which gets the
    same signal, stops the pool (each worker finishes its batch) and reports.
    """
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    torch.set_num_threads(1)
    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def beside(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> Iterator[Callable[[], T]]:
    """Run ``function(*args, **kwargs)`` in a worker process beside the block; yield its waiter.

    The block runs on one thread meanwhile: one core each.
    """
    pool = ProcessPoolExecutor(1, mp_context=process_context(), initializer=worker_start)
    try:
        future = pool.submit(function, *args, **kwargs)
        with one_thread():
            yield future.result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
