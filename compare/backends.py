"""One call per job, whichever backend computes it: traces and projections as NumPy arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from numpy_lenet import deconv as np_deconv
from numpy_lenet.model import Trace, check_images, forward
from torch_lenet import deconv as torch_deconv
from torch_lenet.model import LeNet5
from torch_lenet.weights import model_from_params

BACKENDS: tuple[str, ...] = ("numpy", "torch")
DTYPES: dict[str, type] = {"float32": np.float32, "float64": np.float64}


def torch_model(params: Mapping[str, np.ndarray], dtype: type) -> LeNet5:
    """A CPU LeNet5 holding ``params`` in ``dtype`` (float32 or float64)."""
    return model_from_params(params, torch.float64 if dtype == np.float64 else torch.float32)


def torch_trace(model: LeNet5, images: np.ndarray) -> Trace:
    """The PyTorch forward trace of NumPy images, converted to a NumPy ``Trace``."""
    with torch.inference_mode():
        trace = model.trace(torch.from_numpy(check_images(images)))
    return Trace(
        {k: v.numpy() for k, v in trace.activations.items()},
        {k: v.numpy() for k, v in trace.switches.items()},
        trace.log_probs.numpy(),
    )


def trace_images(
    params: Mapping[str, np.ndarray], images: np.ndarray, backend: str, dtype: type
) -> Trace:
    """The forward trace of ``images`` by ``backend`` in ``dtype``, as NumPy arrays."""
    images = check_images(images).astype(dtype, copy=False)
    if backend == "numpy":
        return forward(params, images)
    if backend == "torch":
        return torch_trace(torch_model(params, dtype), images)
    raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def project_images(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    layer: str,
    mode: str,
    *,
    backend: str,
    dtype: type = np.float64,
    channels: Sequence[int] | None = None,
    units: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Deconvnet projections (N, S, 1, 28, 28) of ``images`` computed by ``backend``."""
    images = check_images(images).astype(dtype, copy=False)
    if backend == "numpy":
        trace = forward(params, images)
        return np_deconv.project(params, trace, layer, mode, channels, units)
    if backend == "torch":
        model = torch_model(params, dtype)
        with torch.inference_mode():
            trace = model.trace(torch.from_numpy(images))
            return torch_deconv.project(model, trace, layer, mode, channels, units).numpy()
    raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
