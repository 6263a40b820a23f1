"""The training step as two half-batches, run side by side on two threads.

LeNet-5's ops on a batch of 128 are too small for PyTorch's intra-op threads:
every op waits for both threads at its end, and on a machine shared with other
work one of them is often descheduled (measured on 2 cores under load: 300 ms
per step on 2 intra-op threads against 45 ms on one). Here each half of the
batch runs forward and backward (torch_lenet.gradients, by hand, no autograd)
on a thread of its own, on one intra-op thread, with one wait per step. Each
half returns its own gradient sums; the step's gradient is (sum over the first
half + sum over the second) / batch size, added in that order. So the numbers
depend on neither the thread count nor the scheduling: one thread runs the same
two halves one after the other and gets the same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch

from .gradients import forward, loss_and_gradients
from .model import LeNet5

T = TypeVar("T")


class HalfBatches:
    """Trains ``model`` a batch at a time as two halves, on ``threads`` (1 or more) threads."""

    def __init__(self, model: LeNet5, threads: int) -> None:
        self.model, self.threads = model, threads
        self.params = [p.detach() for p in model.parameters()]  # the same storage
        # Each half on one intra-op thread (set in the calling thread and the worker).
        self.pool = (
            ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(1,))
            if threads > 1
            else None
        )

    def close(self) -> None:
        """Stop the worker thread and give torch its thread count back."""
        if self.pool is not None:
            self.pool.shutdown()
        torch.set_num_threads(self.threads)

    def _both(self, first: Callable[[], T], second: Callable[[], T]) -> tuple[T, T]:
        """first() and second(), side by side if there is a worker thread."""
        if self.pool is None:
            return first(), second()
        future = self.pool.submit(second)
        return first(), future.result()

    def step(
        self, images: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step on the mean loss of the batch; return (loss sum, correct count)."""
        torch.set_num_threads(1)
        half = len(labels) // 2 or len(labels)

        def run(rows: slice) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
            return loss_and_gradients(self.params, images[rows], labels[rows])

        if half == len(labels):  # a batch of one image: nothing to split
            loss, correct, grads = run(slice(None))
        else:
            first, second = self._both(lambda: run(slice(0, half)), lambda: run(slice(half, None)))
            loss, correct = first[0] + second[0], first[1] + second[1]
            grads = [a.add_(b) for a, b in zip(first[2], second[2], strict=True)]
        for param, grad in zip(self.model.parameters(), grads, strict=True):
            param.grad = grad.div_(len(labels))
        optimizer.step()
        return loss, correct

    def log_probs(self, images: torch.Tensor, batch_size: int) -> np.ndarray:
        """Log-probabilities (N, 10) by the training forward pass, chunks split over the threads."""
        torch.set_num_threads(1)
        chunks = images.split(batch_size)
        middle = (len(chunks) + 1) // 2

        def run(part: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
            with torch.inference_mode():
                return [forward(self.params, chunk).cpu() for chunk in part]

        first, second = self._both(lambda: run(chunks[:middle]), lambda: run(chunks[middle:]))
        return torch.cat(first + second).numpy()
