"""The spec's end-to-end agreement: NumPy in float64 against PyTorch in float32 on real images.

For every batch of images both backends run their own forward pass and their
own deconvnet from every layer, in every mode, for every channel. What is
checked and how it is counted:

- forward: each named layer's activations, relative error over the batch;
- switches: every pool window whose switch differs is recorded with the two
  competing values (in NumPy's float64 numbers). A flip is a *near-tie* when
  the two values differ by no more than float32 rounding of the layer's
  largest value can explain; any other flip is a real disagreement;
- projections: for every (layer, mode, channel), the relative error of the
  array of that channel's projections over all images, against the NumPy
  float64 result (the spec's "over the whole array"). A projection whose
  reconstruction signal passes through a flipped window (non-zero signal
  entering that unpool window) is *crossed*: it is left out of the array,
  counted and reported with its own error, as the spec allows.

Modes: ``map`` and ``max`` over every channel; ``unit`` at the centre unit of
every channel. For fc layers a channel is one unit, the three modes coincide,
and the layer is projected once (reported as mode ``fc``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from numpy_lenet import deconv as np_deconv
from numpy_lenet.architecture import (
    LAYER_NAMES,
    LAYER_SHAPES,
    POOL_NAMES,
    SELECTION_MODES,
    is_spatial,
)
from numpy_lenet.model import Trace, forward
from numpy_lenet.params import cast_params, validate_params
from torch_lenet import deconv as torch_deconv

from .agreement import switch_flips
from .backends import torch_model

#: The spec's end-to-end bound: NumPy float64 against PyTorch float32.
TOLERANCE = 1e-5
#: Pool name -> the pre-pool layer whose values the pool compares.
PRE_POOL = {"pool1": "conv1", "pool2": "conv2"}
#: Pools each layer's projections pass through on the way down.
POOLS_BELOW = {
    "conv1": (),
    "pool1": ("pool1",),
    "conv2": ("pool1",),
    "pool2": ("pool2", "pool1"),
    "fc1": ("pool2", "pool1"),
    "fc2": ("pool2", "pool1"),
    "fc3": ("pool2", "pool1"),
}
FC_MODE = "fc"


@dataclass
class ProjectionStats:
    """Agreement of one (layer, mode), per channel, over every image seen so far.

    Following the spec, the relative error of a channel is taken over the
    whole array of its projections (all images at once), leaving out the
    crossed ones, which are counted and measured on their own.
    """

    layer: str
    mode: str
    channels: int
    sq_diff: np.ndarray = field(init=False)
    sq_norm: np.ndarray = field(init=False)
    projections: int = 0
    crossed: int = 0  # projections through a flipped switch
    crossed_max_error: float = 0.0  # the largest relative error of one crossed projection

    def __post_init__(self) -> None:
        self.sq_diff = np.zeros(self.channels)
        self.sq_norm = np.zeros(self.channels)

    def add(self, diff: np.ndarray, norm: np.ndarray, crossed: np.ndarray) -> None:
        """Fold in (n, S) squared differences and squared reference norms, and crossing flags."""
        self.projections += diff.size
        self.sq_diff += np.where(crossed, 0.0, diff).sum(axis=0)
        self.sq_norm += np.where(crossed, 0.0, norm).sum(axis=0)
        self.crossed += int(np.count_nonzero(crossed))
        if crossed.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                errors = np.sqrt(diff[crossed] / norm[crossed])
            self.crossed_max_error = max(self.crossed_max_error, float(np.nanmax(errors)))

    @property
    def errors(self) -> np.ndarray:
        """Per-channel relative error over all images (0 where both sides are all zero)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(
                self.sq_norm > 0,
                self.sq_diff / self.sq_norm,
                np.where(self.sq_diff > 0, np.inf, 0.0),
            )
        return np.sqrt(ratio)

    def over(self, tol: float) -> list[int]:
        """Channels whose relative error exceeds ``tol``."""
        return [int(c) for c in np.flatnonzero(self.errors > tol)]

    def as_dict(self, tol: float) -> dict[str, Any]:
        """JSON-ready fields."""
        errors = self.errors
        return {
            "layer": self.layer,
            "mode": self.mode,
            "projections": self.projections,
            "max_relative_error": float(errors.max()),
            "worst_channel": int(np.argmax(errors)),
            "channels_over_tolerance": self.over(tol),
            "crossed_flipped_switch": self.crossed,
            "crossed_max_relative_error": self.crossed_max_error,
        }


@dataclass(frozen=True)
class Flip:
    """One pool window whose switch differs between the backends."""

    pool: str
    image: int
    channel: int
    y: int
    x: int
    numpy_value: float  # pre-pool value (float64) at NumPy's chosen position
    torch_pick_value: float  # pre-pool value (float64) at PyTorch's chosen position
    gap: float
    bound: float  # the largest gap float32 rounding explains here
    near_tie: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


@dataclass
class CrossCheck:
    """The whole report: forward errors, switch flips, projection agreement."""

    tolerance: float
    images: int = 0
    forward_error: dict[str, float] = field(default_factory=dict)
    flips: list[Flip] = field(default_factory=list)
    projections: dict[tuple[str, str], ProjectionStats] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Within the spec: forward and clean projections under tolerance, flips all near-ties."""
        return (
            all(e <= self.tolerance for e in self.forward_error.values())
            and all(f.near_tie for f in self.flips)
            and not any(p.over(self.tolerance) for p in self.projections.values())
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "passed": self.passed,
            "tolerance": self.tolerance,
            "images": self.images,
            "comparison": "numpy float64 (reference) vs torch float32",
            "forward_max_relative_error": self.forward_error,
            "switch_flips": [f.as_dict() for f in self.flips],
            "projections": [p.as_dict(self.tolerance) for p in self.projections.values()],
        }


def unit_selections(layer: str) -> list[tuple[int, ...]]:
    """The units ``unit`` mode is checked at: every channel's centre unit (fc: every unit)."""
    shape = LAYER_SHAPES[layer]
    if not is_spatial(layer):
        return [(j,) for j in range(shape[0])]
    return [(c, shape[1] // 2, shape[2] // 2) for c in range(shape[0])]


def modes_for(layer: str, modes: Sequence[str]) -> list[str]:
    """The modes actually projected for a layer (fc layers: once, as ``fc``)."""
    return list(modes) if is_spatial(layer) else [FC_MODE]


def crosscheck(
    params: dict[str, np.ndarray],
    batches: Iterable[np.ndarray],
    *,
    layers: Sequence[str] = LAYER_NAMES,
    modes: Sequence[str] = SELECTION_MODES,
    tolerance: float = TOLERANCE,
    on_batch: Callable[[int], None] | None = None,
) -> CrossCheck:
    """Run both backends on every batch of float64 images (n, 1, 28, 28) and gather the report."""
    for mode in modes:
        if mode not in SELECTION_MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(SELECTION_MODES)}")
    params64 = cast_params(validate_params(params), np.float64)
    model32 = torch_model(params, np.float32)
    report = CrossCheck(tolerance)
    for layer in layers:
        for mode in modes_for(layer, modes):
            report.projections[(layer, mode)] = ProjectionStats(layer, mode, LAYER_SHAPES[layer][0])
    with ThreadPoolExecutor(max_workers=1) as pool:
        for images in batches:
            first = report.images
            _check_batch(params64, model32, images, first, layers, modes, report, pool)
            report.images += len(images)
            if on_batch is not None:
                on_batch(len(images))
    if report.images == 0:
        raise ValueError("no images to compare")
    return report


def _check_batch(
    params64: dict[str, np.ndarray],
    model32: torch.nn.Module,
    images: np.ndarray,
    first: int,
    layers: Sequence[str],
    modes: Sequence[str],
    report: CrossCheck,
    pool: ThreadPoolExecutor,
) -> None:
    """Forward, switches and every projection for one batch."""
    ref = forward(params64, images.astype(np.float64, copy=False))
    with torch.inference_mode():
        t_trace = model32.trace(torch.from_numpy(images.astype(np.float32)))
    other = torch_trace_numpy(t_trace)
    for layer in LAYER_NAMES:
        error = _relative_error(ref.activations[layer], other.activations[layer])
        report.forward_error[layer] = max(report.forward_error.get(layer, 0.0), error)
    flipped = _flips(ref, other, first, report)
    for layer in layers:
        for mode in modes_for(layer, modes):
            mode_arg = "max" if mode == FC_MODE else mode
            units = unit_selections(layer) if mode == "unit" else None
            crossed = np.zeros((len(images), LAYER_SHAPES[layer][0]), dtype=bool)

            def observe(chunk: slice, name: str, signal: np.ndarray, crossed=crossed) -> None:
                # The signal entering an unpool block, at a window whose switch flipped.
                if name in flipped:
                    mask = flipped[name][chunk][:, None]
                    crossed[chunk] |= np.any((signal != 0) & mask, axis=(2, 3, 4))

            # PyTorch runs in a worker thread while NumPy runs here: NumPy's element-wise
            # steps use one core, so the two backends together keep both cores busy.
            theirs = pool.submit(_torch_project, model32, t_trace, layer, mode_arg, units)
            mine = np_deconv.project(params64, ref, layer, mode_arg, units=units, observe=observe)
            diff, norm = _squared_norms(theirs.result().numpy(), mine)
            report.projections[(layer, mode)].add(diff, norm, crossed)


def _torch_project(
    model: torch.nn.Module,
    trace: Any,
    layer: str,
    mode: str,
    units: list[tuple[int, ...]] | None,
) -> torch.Tensor:
    """PyTorch's projections of every channel (run in the worker thread)."""
    with torch.inference_mode():
        return torch_deconv.project(model, trace, layer, mode, units=units)


def torch_trace_numpy(trace: Any) -> Trace:
    """A TorchTrace as a NumPy Trace (shared memory, no copies)."""
    return Trace(
        {k: v.numpy() for k, v in trace.activations.items()},
        {k: v.numpy() for k, v in trace.switches.items()},
        trace.log_probs.numpy(),
    )


def _flips(ref: Trace, other: Trace, first: int, report: CrossCheck) -> dict[str, np.ndarray]:
    """Record every flipped switch; return per pool the (n, C, h, w) mask of flipped windows."""
    masks = {}
    for pool in POOL_NAMES:
        pre = ref.activations[PRE_POOL[pool]]
        flips = switch_flips(pre, ref.switches[pool], other.switches[pool])
        masks[pool] = ref.switches[pool] != other.switches[pool]
        if not len(flips):
            continue
        # float32 rounds each value to 2^-24 of itself; the two summation orders can
        # each be off by a few ulps of the largest partial sum, bounded by 1e-5 * max|x|.
        scale = np.abs(pre.reshape(len(pre), pre.shape[1], -1)).max(axis=2)
        for (n, c, y, x), a, b, gap in zip(
            flips.where, flips.values_a, flips.values_b, flips.gap, strict=True
        ):
            bound = report.tolerance * float(scale[n, c])
            report.flips.append(
                Flip(
                    pool,
                    first + int(n),
                    int(c),
                    int(y),
                    int(x),
                    float(a),
                    float(b),
                    float(gap),
                    bound,
                    bool(gap <= bound),
                )
            )
    return masks


def _relative_error(reference: np.ndarray, other: np.ndarray) -> float:
    """||other - reference|| / ||reference|| over the whole array (0 when both are zero)."""
    ref = reference.astype(np.float64, copy=False)
    diff = np.linalg.norm(other.astype(np.float64) - ref)
    norm = np.linalg.norm(ref)
    if norm == 0:
        return 0.0 if diff == 0 else float("inf")
    return float(diff / norm)


def _squared_norms(other: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, S) squared norms of the difference and of the reference, per projection."""
    axes = (2, 3, 4)
    diff = np.sum(np.square(other.astype(np.float64) - reference), axis=axes)
    return diff, np.sum(np.square(reference), axis=axes)
