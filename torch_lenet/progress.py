"""Progress on stderr: the one tqdm bar every command shows, and training's per-epoch report."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from tqdm import tqdm

# Reading the loss forces a value out of the graph; every few batches is enough for a bar.
_POSTFIX_EVERY = 25

Item = TypeVar("Item")


class Progress:
    """Training's report on stderr: a bar per epoch on a terminal, a line per epoch; or silence."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.total_epochs = 0  # set by the training run once its config is known
        self.quiet = quiet

    @contextmanager
    def epoch(self, epoch: int, total_batches: int) -> Iterator[Callable[[torch.Tensor], None]]:
        """Yield a ``tick(loss)`` to call once per batch; it advances the bar if there is one."""
        # The bar only makes sense where a human watches a terminal; logs get the lines.
        if self.quiet or not _is_terminal():
            yield _nothing
            return
        desc = f"epoch {epoch}/{self.total_epochs}"
        with progress_bar(total_batches, desc, "batch", quiet=False) as advance:
            count = 0

            def tick(loss: torch.Tensor) -> None:
                nonlocal count
                count += 1
                advance(note=f"loss {loss.item():.4f}" if count % _POSTFIX_EVERY == 0 else None)

            yield tick

    def summary(self, metrics: dict[str, float]) -> None:
        """``epoch 3/15  train loss 0.0512 acc 98.41%  test loss 0.0420 acc 98.62%  4.1 s``."""
        self.message(
            f"epoch {metrics['epoch']:>2}/{self.total_epochs}  "
            f"train loss {metrics['train_loss']:.4f} acc {100 * metrics['train_accuracy']:.2f}%  "
            f"test loss {metrics['test_loss']:.4f} acc {100 * metrics['test_accuracy']:.2f}%  "
            f"{metrics['seconds']:.1f} s"
        )

    def message(self, text: str) -> None:
        """A line of progress text, unless quiet."""
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


@contextmanager
def progress_bar(total: int, desc: str, unit: str, *, quiet: bool) -> Iterator[Callable[..., None]]:
    """Yield ``tick(count=1, note=None)``: a tqdm bar with an ETA on stderr; nothing when quiet."""
    # Shown off a terminal too (a log gets the bar's updates at most once a second):
    # long work should say how far it has got either way.
    if quiet:
        yield _nothing
        return
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5 if _is_terminal() else 1.0,
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


def _nothing(*args: object, **kwargs: object) -> None:
    """A tick with nothing to show."""


def _is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
