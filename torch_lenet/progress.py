"""Progress on stderr: the one tqdm bar every command shows, and training's per-epoch report.

Training shows a tqdm bar per epoch on a terminal, one summary line per epoch otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

import torch
from tqdm import tqdm

# Reading the loss forces a value out of the graph; every few batches is enough for a bar.
_POSTFIX_EVERY = 25


class Progress:
    """Reports epochs to ``stream`` (stderr by default); silent when ``quiet``."""

    def __init__(
        self, *, quiet: bool = False, stream: TextIO | None = None, bar: bool | None = None
    ) -> None:
        self.total_epochs = 0  # set by the training run once its config is known
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        # The bar only makes sense where a human watches a terminal; logs get lines.
        self.bar = (not quiet) and (bar if bar is not None else _is_terminal(self.stream))

    @contextmanager
    def epoch(self, epoch: int, total_batches: int) -> Iterator[Callable[[torch.Tensor], None]]:
        """Yield a ``tick(loss)`` to call once per batch; it advances the bar if there is one."""
        if not self.bar:
            yield _no_tick
            return
        bar = tqdm(
            total=total_batches,
            desc=f"epoch {epoch}/{self.total_epochs}",
            unit="batch",
            leave=False,
            file=self.stream,
            dynamic_ncols=True,
        )
        count = 0

        def tick(loss: torch.Tensor) -> None:
            nonlocal count
            count += 1
            if count % _POSTFIX_EVERY == 0:
                bar.set_postfix_str(f"loss {loss.item():.4f}", refresh=False)
            bar.update(1)

        try:
            yield tick
        finally:
            bar.close()

    def summary(self, metrics: dict[str, float]) -> None:
        """One line for a finished epoch."""
        self.message(format_epoch(metrics, self.total_epochs))

    def message(self, text: str) -> None:
        """A line of progress text, unless quiet."""
        if not self.quiet:
            print(text, file=self.stream, flush=True)


def format_epoch(metrics: dict[str, float], total_epochs: int) -> str:
    """``epoch 3/15  train loss 0.0512 acc 98.41%  test loss 0.0420 acc 98.62%  4.1 s``."""
    return (
        f"epoch {metrics['epoch']:>2}/{total_epochs}  "
        f"train loss {metrics['train_loss']:.4f} acc {100 * metrics['train_accuracy']:.2f}%  "
        f"test loss {metrics['test_loss']:.4f} acc {100 * metrics['test_accuracy']:.2f}%  "
        f"{metrics['seconds']:.1f} s"
    )


def _no_tick(loss: torch.Tensor) -> None:
    """Nothing to show per batch without a bar."""


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


Item = TypeVar("Item")


@contextmanager
def progress_bar(total: int, desc: str, unit: str, *, quiet: bool) -> Iterator[Callable[..., None]]:
    """Yield ``tick(count=1, note=None)``: a tqdm bar with an ETA on stderr; nothing when quiet.

    Shown on a terminal and off one alike (a log file gets the bar's updates at
    most once a second): long work should say how far it has got either way.
    """
    if quiet:
        yield _no_progress
        return
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5 if _is_terminal(sys.stderr) else 1.0,
        leave=False,
    )

    def tick(count: int = 1, note: str | None = None) -> None:
        if note is not None:
            bar.set_postfix_str(note, refresh=False)
        bar.update(count)

    try:
        yield tick
    finally:
        bar.close()


def progress_over(
    items: Iterable[Item], total: int, desc: str, unit: str, *, quiet: bool
) -> Iterator[Item]:
    """``items`` one by one, ticking a ``progress_bar`` of ``total`` after each."""
    with progress_bar(total, desc, unit, quiet=quiet) as tick:
        for item in items:
            yield item
            tick()


def _no_progress(count: int = 1, note: str | None = None) -> None:
    """Nothing to show when quiet."""
