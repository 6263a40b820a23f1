"""The LeNet-5 forward pass in NumPy, recording every named layer and switch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .architecture import (
    CONV1_PADDING,
    CONV2_PADDING,
    INPUT_SHAPE,
    LAYER_NAMES,
    POOL_KERNEL,
    POOL_NAMES,
    POOL_STRIDE,
)
from .conv import conv2d
from .functional import linear, log_softmax, relu
from .params import cast_params, validate_params
from .pool import max_pool2d

#: Images per chunk in ``forward``: bounds the im2col buffers (about 80 MB in float64).
DEFAULT_BATCH_SIZE = 1024


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
) -> Trace:
    """Run LeNet-5 on images (N, 1, 28, 28) in their own dtype and record the trace."""
    images = check_images(images)
    weights = cast_params(validate_params(params), images.dtype)
    chunks = [
        _forward_chunk(weights, images[start : start + batch_size])
        for start in range(0, len(images), batch_size)
    ]
    if len(chunks) == 1:
        return chunks[0]
    return Trace(
        {k: np.concatenate([c.activations[k] for c in chunks]) for k in LAYER_NAMES},
        {k: np.concatenate([c.switches[k] for c in chunks]) for k in POOL_NAMES},
        np.concatenate([c.log_probs for c in chunks]),
    )


def _forward_chunk(w: Mapping[str, np.ndarray], x: np.ndarray) -> Trace:
    conv1 = relu(conv2d(x, w["conv1.weight"], w["conv1.bias"], padding=CONV1_PADDING))
    pool1, switches1 = max_pool2d(conv1, POOL_KERNEL, POOL_STRIDE)
    conv2 = relu(conv2d(pool1, w["conv2.weight"], w["conv2.bias"], padding=CONV2_PADDING))
    pool2, switches2 = max_pool2d(conv2, POOL_KERNEL, POOL_STRIDE)
    # C, H, W order, as torch.flatten: fc1's weight columns expect exactly this.
    fc1 = relu(linear(pool2.reshape(len(pool2), -1), w["fc1.weight"], w["fc1.bias"]))
    fc2 = relu(linear(fc1, w["fc2.weight"], w["fc2.bias"]))
    fc3 = linear(fc2, w["fc3.weight"], w["fc3.bias"])
    activations = {
        "conv1": conv1,
        "pool1": pool1,
        "conv2": conv2,
        "pool2": pool2,
        "fc1": fc1,
        "fc2": fc2,
        "fc3": fc3,
    }
    return Trace(activations, {"pool1": switches1, "pool2": switches2}, log_softmax(fc3, axis=1))
