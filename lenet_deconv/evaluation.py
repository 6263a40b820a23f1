"""Loss, accuracy and confusion matrix of a weight file on MNIST, by either backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from torch_lenet.data import images_to_float, load_mnist, normalize_images
from torch_lenet.evaluate import (
    EVAL_BATCH_SIZE,
    EvalResult,
    resolve_device,
    summarize,
    torch_log_probs,
)
from torch_lenet.weights import load_params, model_from_params

from .backends import check_backend, dtype_named


def numpy_log_probs(
    params: Mapping[str, np.ndarray], images: np.ndarray, batch_size: int = EVAL_BATCH_SIZE
) -> np.ndarray:
    """Log-probabilities (N, 10) by the from-scratch NumPy forward pass, in the images' dtype."""
    from numpy_lenet.model import forward  # imported here: only this backend needs it

    return forward(params, images, batch_size=batch_size).log_probs


def evaluate_params(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    backend: str,
    *,
    dtype: type = np.float32,
    device: str = "cpu",
    batch_size: int = EVAL_BATCH_SIZE,
) -> EvalResult:
    """Evaluate parameters on float images (N, 1, 28, 28) with one backend in ``dtype``."""
    check_backend(backend)
    images = np.asarray(images, dtype=dtype)
    if backend == "numpy":
        return summarize(numpy_log_probs(params, images, batch_size), labels)
    target = resolve_device(device)
    inputs = torch.from_numpy(images).to(target)
    model = model_from_params(params).to(device=target, dtype=inputs.dtype)
    return summarize(torch_log_probs(model, inputs, batch_size), labels)


def evaluate_weights(
    weights: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    backend: str,
    *,
    split: str = "test",
    normalize: bool = False,
    dtype: str = "float32",
    device: str = "cpu",
    batch_size: int = EVAL_BATCH_SIZE,
    download: bool = True,
) -> EvalResult:
    """Evaluate a ``.npz`` or ``.pt`` weight file on an MNIST split with one backend."""
    float_type = dtype_named(dtype)
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    params = load_params(Path(weights))
    images_uint8, labels = load_mnist(data_dir, split, download=download)
    images = images_to_float(images_uint8, float_type)
    if normalize:
        images = normalize_images(images)
    return evaluate_params(
        params, images, labels, backend, dtype=float_type, device=device, batch_size=batch_size
    )
