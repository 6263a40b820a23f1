"""Loss, accuracy and confusion matrix of a weight file on MNIST, by the NumPy or PyTorch backend.

Both backends hand back log-probabilities as a NumPy array; everything after
that (loss, predictions, confusion matrix) is one shared code path, so the two
can only differ in what the networks compute.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from numpy_lenet.architecture import check_backend, dtype_named

from .data import images_to_float, load_mnist, normalize_images
from .model import LeNet5

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
NUM_CLASSES = 10
#: Images per forward pass when evaluating: big batches, few Python round trips.
EVAL_BATCH_SIZE = 2000


@dataclass(frozen=True)
class EvalResult:
    """How a model did on a set of labelled images."""

    n: int
    correct: int
    loss: float
    confusion: np.ndarray
    predictions: np.ndarray

    @property
    def accuracy(self) -> float:
        """Fraction of images whose predicted class is the label."""
        return self.correct / self.n

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-image predictions)."""
        return {
            "n": self.n,
            "correct": self.correct,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "confusion": self.confusion.tolist(),
        }


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``; a clear error otherwise."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but PyTorch sees no CUDA device here")
    return torch.device(name)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Counts (10, 10) int64: row = true class, column = predicted class."""
    flat = np.asarray(labels, dtype=np.int64) * NUM_CLASSES + np.asarray(predictions)
    return np.bincount(flat, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)


def summarize(log_probs: np.ndarray, labels: np.ndarray) -> EvalResult:
    """Mean negative log-likelihood, predictions and confusion matrix from log-probabilities."""
    log_probs = np.asarray(log_probs)
    labels = np.asarray(labels, dtype=np.int64)
    if log_probs.shape != (len(labels), NUM_CLASSES) or len(labels) == 0:
        raise ValueError(f"log-probabilities {log_probs.shape} do not match {len(labels)} labels")
    picked = log_probs[np.arange(len(labels)), labels].astype(np.float64)
    predictions = log_probs.argmax(axis=1)
    return EvalResult(
        n=len(labels),
        correct=int(np.count_nonzero(predictions == labels)),
        # The mean NLL of log-probabilities: exactly what CrossEntropyLoss reports.
        loss=float(-picked.mean()),
        confusion=confusion_matrix(labels, predictions),
        predictions=predictions,
    )


def torch_log_probs(
    model: LeNet5, images: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE
) -> np.ndarray:
    """Log-probabilities (N, 10) of images already on the model's device and in its dtype."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            chunks = [
                model(images[start : start + batch_size]).cpu()
                for start in range(0, len(images), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(chunks).numpy()


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
    from .weights import model_from_params

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
    from .weights import load_params

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
