"""Streaming top-k search: the k images that excite each channel of each layer the most."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.model import Trace

TOP_K = 9


@dataclass(frozen=True)
class TopK:
    """The running top-k of every channel of one layer: entry [r, c] is channel c's r-th best."""

    values: np.ndarray  # (k, C) activations; fewer rows while fewer images were seen
    images: np.ndarray  # (k, C) image indices
    positions: np.ndarray  # (k, C) flat row-major position (y * W + x; 0 for fc units)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def unit(self, layer: str, rank: int, channel: int) -> tuple[int, ...]:
        """The (c, y, x) or (j,) unit of entry [rank, channel], as ``unit`` mode takes it."""
        if len(LAYER_SHAPES[layer]) == 1:
            return (channel,)
        y, x = divmod(int(self.positions[rank, channel]), LAYER_SHAPES[layer][2])
        return (channel, y, x)


def channel_maxima(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image and channel: the largest activation and its first row-major position (N, C)."""
    flat = activations.reshape(activations.shape[0], activations.shape[1], -1)
    # np.argmax returns the first maximum: the same tie rule as ``max`` mode.
    return flat.max(axis=2), np.argmax(flat, axis=2)


def merge_topk(
    running: TopK, values: np.ndarray, positions: np.ndarray, first_index: int, k: int = TOP_K
) -> TopK:
    """Merge one batch's (N, C) maxima, images first_index.., into ``running``; keep the best k."""
    n, channels = values.shape
    images = np.broadcast_to(np.arange(first_index, first_index + n)[:, None], (n, channels))
    all_values = np.concatenate([running.values, values.astype(running.values.dtype)])
    all_images = np.concatenate([running.images, images])
    all_positions = np.concatenate([running.positions, positions])
    # lexsort sorts by the last key first: activation descending, then image index ascending.
    order = np.lexsort((all_images, -all_values), axis=0)[:k]
    return TopK(
        np.take_along_axis(all_values, order, axis=0),
        np.take_along_axis(all_images, order, axis=0),
        np.take_along_axis(all_positions, order, axis=0),
    )


def top_activations(
    batches: Iterable[np.ndarray],
    trace_fn: Callable[[np.ndarray], Trace],
    *,
    k: int = TOP_K,
) -> dict[str, TopK]:
    """The top-k images of every channel of every layer over float image batches, in order."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    result: dict[str, TopK] = {}
    seen = 0
    for images in batches:
        trace = trace_fn(images)
        for layer in LAYER_NAMES:
            values, positions = channel_maxima(trace.activations[layer])
            if layer not in result:
                none = np.zeros((0, values.shape[1]), np.int64)
                result[layer] = TopK(none.astype(values.dtype), none, none)
            result[layer] = merge_topk(result[layer], values, positions, seen, k)
        seen += len(images)
        del trace  # drop this batch's activations before the next batch is traced
    if seen == 0:
        raise ValueError("no images to search: the data set is empty")
    return result


def image_batches(
    images_uint8: np.ndarray, batch_size: int, dtype: np.dtype | type = np.float64
) -> Iterator[np.ndarray]:
    """Float (n, 1, 28, 28) pixel/255 batches of uint8 images (N, 28, 28), converted one by one."""
    from torch_lenet.data import images_to_float

    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    for start in range(0, len(images_uint8), batch_size):
        yield images_to_float(images_uint8[start : start + batch_size], dtype)


def most_active_units(topk: TopK, count: int) -> np.ndarray:
    """The ``count`` channels with the highest best activation, strongest (then lowest) first."""
    best = topk.values[0]
    return np.lexsort((np.arange(len(best)), -best))[:count]
