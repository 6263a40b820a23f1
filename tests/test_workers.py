"""Worker processes: beside() runs a function in another process and hands back its result."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from lenet_deconv.workers import beside, one_thread, process_context


def _whoami(offset: int) -> tuple[int, int, int]:
    """This process's id, its PyTorch thread count, and offset + 1 (to see arguments arrive)."""
    return os.getpid(), torch.get_num_threads(), offset + 1


def _fails(message: str) -> None:
    raise ValueError(message)


def test_beside_runs_the_function_in_a_one_thread_process_while_the_block_runs():
    with beside(_whoami, 41) as result:
        # The block itself runs on one thread meanwhile.
        assert torch.get_num_threads() == 1
        pid, threads, answer = result()
    assert pid != os.getpid() and threads == 1 and answer == 42


def test_an_error_in_the_worker_reaches_the_caller():
    with pytest.raises(ValueError, match="the disk is full"):
        with beside(_fails, "the disk is full") as result:
            result()


def test_one_thread_gives_the_thread_count_back():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_cuda_work_is_never_forked():
    assert process_context("cpu").get_start_method() in ("fork", "spawn")
    assert process_context("cuda").get_start_method() == "spawn"


def _signals_ignored() -> list[bool]:
    """Whether SIGINT, SIGTERM and SIGHUP are ignored in this process."""
    return [signal.getsignal(s) == signal.SIG_IGN for s in SIGNALS]


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def test_a_worker_drops_the_parents_signal_handlers():
    """A forked worker leaves the parent's signals to the parent (which stops the pool)."""

    def unwind(signum, frame):  # what the command line installs for SIGTERM and SIGHUP
        raise RuntimeError("unwind")

    previous = {s: signal.signal(s, unwind) for s in SIGNALS}
    try:
        with beside(_signals_ignored) as result:
            assert result() == [True, True, True]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
