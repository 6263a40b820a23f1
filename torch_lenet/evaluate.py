"""Scoring log-probabilities: loss, accuracy and confusion matrix; a LeNet5's log-probabilities.

Both backends hand back log-probabilities as a NumPy array; everything after
that (``summarize``) is one shared code path, so the two can only differ in
what the networks compute. Evaluating a weight file by either backend is
lenet_deconv/cli/evaluate.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

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
