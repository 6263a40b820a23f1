"""The LeNet-5 forward pass in NumPy, recording every named layer and switch."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .architecture import (
    CONV1_PADDING,
    CONV2_PADDING,
    INPUT_SHAPE,
    LAYER_NAMES,
    LAYER_SHAPES,
    POOL_KERNEL,
    POOL_NAMES,
    POOL_STRIDE,
)
from .conv import conv2d
from .functional import linear, log_softmax, relu
from .params import cast_params, validate_params
from .pool import max_pool2d

#: Images per chunk in ``forward``: bounds the per-chunk temporaries (conv1's
#: output is 19 MB in float32).
DEFAULT_BATCH_SIZE = 1024


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_chunks(job: Callable[[int], None], starts: Sequence[int], workers: int | None) -> None:
    """Call ``job(start)`` for every start, on up to ``workers`` threads (None: one per CPU).

    NumPy releases the GIL inside its loops and BLAS calls, and each job writes
    only its own rows, so the chunks of a batch run in parallel. The results are
    the same bits on any number of workers by construction: the chunks are the
    same whatever ``workers`` is, and every product inside a chunk is a BLAS
    call of a fixed shape (conv2d and conv_transpose2d make one per image,
    ``functional.linear`` one per fixed-size row block), for LeNet's shapes
    small enough to run on the calling thread: no product depends on which
    thread runs it, how many run at once, or BLAS's thread count.
    """
    if workers is None:
        workers = available_cpus()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1 or len(starts) < 2:
        for start in starts:
            job(start)
        return
    with ThreadPoolExecutor(min(workers, len(starts))) as pool:
        # list() waits for every chunk and re-raises the first error.
        list(pool.map(job, starts))


@dataclass(frozen=True)
class Trace:
    """What one forward pass recorded, for every image.

    ``activations[name]`` is (N, *LAYER_SHAPES[name]) for each name of
    LAYER_NAMES (post-ReLU, except ``fc3``: the logits). ``switches[pool]`` is
    max_pool2d's int64 indices (N, C, h, w) for ``pool1`` and ``pool2``.
    """

    activations: dict[str, np.ndarray]
    switches: dict[str, np.ndarray]
    log_probs: np.ndarray

    def __len__(self) -> int:
        return int(self.log_probs.shape[0])

    def subset(self, index: slice | np.ndarray | list[int]) -> Trace:
        """The trace of only the images picked by ``index``."""
        return Trace(
            {k: v[index] for k, v in self.activations.items()},
            {k: v[index] for k, v in self.switches.items()},
            self.log_probs[index],
        )


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate a batch of MNIST-sized images; return it as (N, 1, 28, 28), dtype kept."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a NumPy array, got {type(images).__name__}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be float32 or float64 pixels in [0, 1], got {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1:] != INPUT_SHAPE:
        raise ValueError(
            f"images must have shape (N, 1, 28, 28) or (N, 28, 28), got {images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError("images: the batch is empty")
    if not np.all(np.isfinite(images)):
        bad = np.argwhere(~np.isfinite(images.reshape(len(images), -1)).all(axis=1)).ravel()
        raise ValueError(f"images hold NaN or inf values (image indices {bad[:10].tolist()})")
    return images


def forward(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
) -> Trace:
    """Run LeNet-5 on images (N, 1, 28, 28) in their own dtype and record the trace.

    Chunks of ``batch_size`` images run on ``workers`` threads (None: one per CPU).
    """
    images = check_images(images)
    weights = cast_params(validate_params(params), images.dtype)
    n = len(images)
    # Every chunk writes its rows of these: no concatenation copies at the end.
    trace = Trace(
        {k: np.empty((n, *LAYER_SHAPES[k]), dtype=images.dtype) for k in LAYER_NAMES},
        {k: np.empty((n, *LAYER_SHAPES[k]), dtype=np.int64) for k in POOL_NAMES},
        np.empty((n, LAYER_SHAPES["fc3"][0]), dtype=images.dtype),
    )

    def job(start: int) -> None:
        rows = slice(start, start + batch_size)
        _forward_chunk(weights, images[rows], trace, rows)

    run_chunks(job, range(0, n, batch_size), workers)
    return trace


def _forward_chunk(w: Mapping[str, np.ndarray], x: np.ndarray, trace: Trace, rows: slice) -> None:
    """Run the images x and write their activations, switches and log-probs into trace[rows]."""
    act, switches = trace.activations, trace.switches
    # relu(..., out=) rectifies each conv/fc output straight into the trace.
    conv1 = conv2d(x, w["conv1.weight"], w["conv1.bias"], padding=CONV1_PADDING)
    conv1 = relu(conv1, out=act["conv1"][rows])
    act["pool1"][rows], switches["pool1"][rows] = max_pool2d(conv1, POOL_KERNEL, POOL_STRIDE)
    conv2 = conv2d(act["pool1"][rows], w["conv2.weight"], w["conv2.bias"], padding=CONV2_PADDING)
    conv2 = relu(conv2, out=act["conv2"][rows])
    act["pool2"][rows], switches["pool2"][rows] = max_pool2d(conv2, POOL_KERNEL, POOL_STRIDE)
    # C, H, W order, as torch.flatten: fc1's weight columns expect exactly this.
    pool2 = act["pool2"][rows].reshape(len(x), -1)
    fc1 = relu(linear(pool2, w["fc1.weight"], w["fc1.bias"]), out=act["fc1"][rows])
    fc2 = relu(linear(fc1, w["fc2.weight"], w["fc2.bias"]), out=act["fc2"][rows])
    fc3 = act["fc3"][rows]
    fc3[...] = linear(fc2, w["fc3.weight"], w["fc3.bias"])
    trace.log_probs[rows] = log_softmax(fc3, axis=1)
