"""Loss, accuracy and confusion matrix of weights on MNIST images, by either backend."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from torch_lenet.evaluate import (
    EVAL_BATCH_SIZE,
    EvalResult,
    resolve_device,
    summarize,
    torch_log_probs,
)
from torch_lenet.weights import model_from_params

from .backends import check_backend


def evaluate_params(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    backend: str,
    *,
    device: str = "cpu",
) -> EvalResult:
    """Evaluate parameters on float images (N, 1, 28, 28) with one backend, in their dtype."""
    check_backend(backend)
    if backend == "numpy":
        from numpy_lenet.model import forward  # imported here: only this backend needs it

        return summarize(forward(params, images, batch_size=EVAL_BATCH_SIZE).log_probs, labels)
    target = resolve_device(device)
    inputs = torch.from_numpy(images).to(target)
    model = model_from_params(params).to(device=target, dtype=inputs.dtype)
    return summarize(torch_log_probs(model, inputs), labels)
