"""The two backends by name, and one call per job whichever computes it (NumPy arrays out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from numpy_lenet import deconv as np_deconv
from numpy_lenet import fast_deconv as np_fast
from numpy_lenet.architecture import LAYER_SHAPES, is_spatial
from numpy_lenet.model import Trace, check_images, forward
from numpy_lenet.params import Params, cast_params, validate_params
from numpy_lenet.rules import DEFAULT_RULE
from numpy_lenet.selection import SelectionPlan
from torch_lenet import deconv as torch_deconv
from torch_lenet.model import LeNet5, TorchTrace
from torch_lenet.weights import model_from_params

#: The two implementations of the network, by the names the command line uses.
BACKENDS: tuple[str, ...] = ("numpy", "torch")

#: The float types both backends compute in (results keep the input's), by name.
DTYPES: dict[str, type] = {"float32": np.float32, "float64": np.float64}


def check_backend(backend: str) -> None:
    """Raise ValueError unless ``backend`` is one of BACKENDS."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def torch_model(
    params: Mapping[str, np.ndarray], dtype: type, device: torch.device | str = "cpu"
) -> LeNet5:
    """A LeNet5 holding ``params`` in ``dtype`` (float32 or float64) on ``device``."""
    model = model_from_params(params, torch.float64 if dtype == np.float64 else torch.float32)
    return model.to(device)


def trace_to_torch(trace: Trace, device: torch.device | str = "cpu") -> TorchTrace:
    """A NumPy ``Trace`` as a TorchTrace on ``device`` (no copies on the CPU)."""
    return TorchTrace(
        _tensors(trace.activations, device),
        _tensors(trace.switches, device),
        torch.from_numpy(trace.log_probs).to(device),
    )


def torch_trace(model: LeNet5, images: np.ndarray) -> Trace:
    """The PyTorch forward trace of NumPy images, as a NumPy ``Trace`` (no copies on the CPU)."""
    device = model.conv1.weight.device
    with torch.inference_mode():
        trace = model.trace(torch.from_numpy(check_images(images)).to(device))
    return Trace(
        {k: v.cpu().numpy() for k, v in trace.activations.items()},
        {k: v.cpu().numpy() for k, v in trace.switches.items()},
        trace.log_probs.cpu().numpy(),
    )


@dataclass(frozen=True)
class Engine:
    """One backend in one dtype: traces and projections of NumPy images, as NumPy arrays."""

    dtype: type
    params: Params  # validated and cast to ``dtype``
    model: LeNet5 | None  # the PyTorch model, for the torch backend

    @property
    def device(self) -> torch.device:
        """Where the PyTorch side computes (the CPU for the numpy backend)."""
        return torch.device("cpu") if self.model is None else self.model.conv1.weight.device

    def trace(self, images: np.ndarray) -> Trace:
        """The forward trace of ``images`` (N, 1, 28, 28) or (N, 28, 28)."""
        images = check_images(images).astype(self.dtype, copy=False)
        if self.model is None:
            return forward(self.params, images)
        return torch_trace(self.model, images)

    def project(
        self,
        trace: Trace,
        layer: str,
        mode: str,
        channels: Sequence[int] | None = None,
        units: Sequence[Sequence[int]] | None = None,
        rule: str = DEFAULT_RULE,
    ) -> np.ndarray:
        """Projections (N, S, 1, 28, 28) of the same S selections for every traced image."""
        if self.model is None:
            return np_deconv.project(self.params, trace, layer, mode, channels, units, rule=rule)
        with torch.inference_mode():
            tensors = trace_to_torch(trace, self.device)
            out = torch_deconv.project(self.model, tensors, layer, mode, channels, units, rule=rule)
        return out.cpu().numpy()

    def project_live(
        self, trace: Trace, plan: SelectionPlan, rule: str = DEFAULT_RULE
    ) -> np_deconv.LiveProjections:
        """Every live selection of ``plan`` projected, for every traced image (NumPy arrays)."""
        if self.model is None:
            return np_fast.project_live(self.params, trace, plan, rule=rule)
        with torch.inference_mode():
            out = torch_deconv.project_live(
                self.model, trace_to_torch(trace, self.device), plan, rule=rule, crop=True
            )
        return np_deconv.LiveProjections(
            out.plan,
            out.activations.cpu().numpy(),
            out.live.cpu().numpy(),
            out.values.cpu().numpy(),
        )

    def project_live_many(
        self, trace: Trace, plans: Sequence[SelectionPlan], rule: str = DEFAULT_RULE
    ) -> list[np_deconv.LiveProjections]:
        """``project_live`` of each plan; on NumPy the fc plans share their work."""
        if self.model is not None:
            return [self.project_live(trace, plan, rule) for plan in plans]
        return np_fast.project_live_many(self.params, trace, plans, rule=rule)

    def project_each(
        self,
        trace: Trace,
        layer: str,
        units: Sequence[Sequence[int]],
        rule: str = DEFAULT_RULE,
    ) -> np.ndarray:
        """Per image, (N, 1, 28, 28): the projection of its unit ``units[i]``, (c, y, x) or (j,)."""
        signal = _single_units(trace.activations[layer], layer, units)[:, None]
        return self.backproject(
            layer, signal, trace.switches, rule=rule, activations=trace.activations
        )[:, 0]

    def backproject(
        self,
        layer: str,
        signal: np.ndarray,
        switches: Mapping[str, np.ndarray],
        *,
        rule: str = DEFAULT_RULE,
        activations: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """numpy_lenet.deconv.backproject on either backend."""
        if self.model is None:
            return np_deconv.backproject(
                self.params, layer, signal, switches, rule=rule, activations=activations
            )
        with torch.inference_mode():
            out = torch_deconv.backproject(
                self.model,
                layer,
                torch.from_numpy(signal).to(self.device),
                _tensors(switches, self.device),
                rule=rule,
                activations=None if activations is None else _tensors(activations, self.device),
            )
        return out.cpu().numpy()


def _tensors(arrays: Mapping[str, np.ndarray], device: torch.device | str) -> dict:
    """NumPy arrays by name as tensors on ``device`` (no copies on the CPU)."""
    return {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}


def make_engine(
    params: Mapping[str, np.ndarray],
    backend: str,
    dtype: type,
    device: torch.device | str = "cpu",
) -> Engine:
    """An Engine for ``backend`` (numpy or torch) computing in ``dtype``; torch on ``device``."""
    check_backend(backend)
    checked = cast_params(validate_params(params), dtype)
    if backend == "numpy":
        return Engine(dtype, checked, None)
    return Engine(dtype, checked, torch_model(checked, dtype, device))


def _single_units(
    activations: np.ndarray, layer: str, units: Sequence[Sequence[int]]
) -> np.ndarray:
    """Activations (N, *shape) with all but unit i of image i set to zero."""
    shape = LAYER_SHAPES[layer]
    index = np.asarray(units, dtype=np.int64).reshape(len(units), -1)
    if len(index) != len(activations):
        raise ValueError(f"{len(units)} units for {len(activations)} images: give one per image")
    if index.shape[1] != len(shape):
        kind = "(c, y, x)" if is_spatial(layer) else "(j,)"
        raise ValueError(f"units of {layer} are {kind}, got {index.shape[1]} coordinate(s)")
    bad = (index < 0) | (index >= np.asarray(shape))
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise ValueError(f"unit {tuple(index[row].tolist())} lies outside {layer} {shape}")
    out = np.zeros_like(activations)
    where = (np.arange(len(index)), *index.T)
    out[where] = activations[where]
    return out
