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

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from numpy_lenet.architecture import (
    INPUT_SHAPE,
    LAYER_NAMES,
    LAYER_SHAPES,
    POOL_NAMES,
    SELECTION_MODES,
    check_layer,
    is_spatial,
)
from numpy_lenet.model import Trace
from numpy_lenet.selection import plan_selection
from numpy_lenet.selection import select as np_select
from torch_lenet.selection import select as torch_select

from ..backends import Engine, make_engine
from .agreement import relative_error, switch_flips

try:  # holds the BLAS thread pool to one thread while the workers run (_one_thread_per_job)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - an optional speed-up
    threadpool_limits = None

#: Projections per call of a backend's mirror blocks: bounds the transposed-conv buffers.
ROWS_PER_CALL = 256
#: The spec's end-to-end bound: NumPy float64 against PyTorch float32.
TOLERANCE = 1e-5
#: Pool name -> the pre-pool layer whose values the pool compares.
PRE_POOL = {"pool1": "conv1", "pool2": "conv2"}
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
    workers: int | None = None,
) -> CrossCheck:
    """Run both backends on every batch of float64 images (n, 1, 28, 28) and gather the report.

    The projections of a batch are independent jobs, one per (layer, mode) and
    backend, run by ``workers`` threads (default: one per CPU core, at least 2).
    Each result is folded into the report in a fixed order, so the report does
    not depend on ``workers`` or on which job finishes first.
    """
    for mode in modes:
        if mode not in SELECTION_MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(SELECTION_MODES)}")
    for layer in layers:
        check_layer(layer)
    if workers is None:
        workers = max(2, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    numpy_side = make_engine(params, "numpy", np.float64)
    torch_side = make_engine(params, "torch", np.float32)
    report = CrossCheck(tolerance)
    for layer in layers:
        for mode in modes_for(layer, modes):
            report.projections[(layer, mode)] = ProjectionStats(layer, mode, LAYER_SHAPES[layer][0])
    jobs = _by_cost(list(report.projections))
    with _one_thread_per_job(), ThreadPoolExecutor(max_workers=workers) as pool:
        for images in batches:
            first = report.images
            _check_batch(numpy_side, torch_side, images, first, jobs, report, pool)
            report.images += len(images)
            if on_batch is not None:
                on_batch(len(images))
    if report.images == 0:
        raise ValueError("no images to compare")
    return report


def _by_cost(jobs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (layer, mode) jobs, the costliest first so that the workers end together.

    A projection from above pool1 runs through both transposed convolutions
    (most of the work); one from conv1 or pool1 through the small one only.
    """

    def cost(job: tuple[str, str]) -> int:
        layer = job[0]
        return LAYER_SHAPES[layer][0] * (1 if layer in ("conv1", "pool1") else 4)

    return sorted(jobs, key=cost, reverse=True)


@contextmanager
def _one_thread_per_job() -> Iterator[None]:
    """PyTorch's and the BLAS library's thread pools held to one thread for the block.

    The cross-check already runs one projection per core; each of them also
    spreading over every core only oversubscribes the machine (OpenBLAS's
    threads spin between calls: twice the wall time measured on 2 cores).
    The BLAS limit needs threadpoolctl; without it BLAS keeps its own setting.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(limits=1, user_api="blas"):
                yield
    finally:
        torch.set_num_threads(previous)


def _check_batch(
    numpy_side: Engine,
    torch_side: Engine,
    images: np.ndarray,
    first: int,
    jobs: Sequence[tuple[str, str]],
    report: CrossCheck,
    pool: ThreadPoolExecutor,
) -> None:
    """Forward, switches and every projection for one batch."""
    ref = numpy_side.trace(images)
    other = torch_side.trace(images)
    for layer in LAYER_NAMES:
        # Relative to the NumPy float64 reference: ||torch - numpy|| / ||numpy||.
        error = relative_error(other.activations[layer], ref.activations[layer])
        report.forward_error[layer] = max(report.forward_error.get(layer, 0.0), error)
    flipped = _flips(ref, other, first, report)
    t_activations = {k: torch.from_numpy(v) for k, v in other.activations.items()}
    pending = []
    for layer, mode in jobs:
        mode_arg = "max" if mode == FC_MODE else mode
        units = unit_selections(layer) if mode == "unit" else None
        plan = plan_selection(layer, mode_arg, None, units)
        mine_signal = np_select(ref.activations[layer], plan)
        with torch.inference_mode():
            their_signal = torch_select(t_activations[layer], plan).numpy()
        # A selection that keeps only zeros on both sides projects to exact zeros on
        # both (every mirror step maps 0 to 0): it agrees by construction, so only
        # the others are computed. Most fc units are zero after ReLU for any image.
        live = _nonzero(mine_signal) | _nonzero(their_signal)
        rows = np.nonzero(live)
        crossed = np.zeros(len(rows[0]), dtype=bool)
        theirs = pool.submit(
            _project_rows, torch_side, layer, their_signal[rows], other.switches, rows[0]
        )
        mine = pool.submit(
            _project_rows,
            numpy_side,
            layer,
            mine_signal[rows],
            ref.switches,
            rows[0],
            _crossing_observer(flipped, rows[0], crossed),
        )
        pending.append((layer, mode, live.shape, rows, theirs, mine, crossed))
    try:
        for layer, mode, shape, rows, theirs, mine, crossed_rows in pending:
            diff, norm, crossed = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool)
            diff[rows], norm[rows] = _squared_norms(theirs.result(), mine.result())
            crossed[rows] = crossed_rows
            report.projections[(layer, mode)].add(diff, norm, crossed)
    finally:
        for *_, theirs, mine, _crossed in pending:
            theirs.cancel()
            mine.cancel()


def _project_rows(
    engine: Engine,
    layer: str,
    signals: np.ndarray,
    switches: dict[str, np.ndarray],
    images: np.ndarray,
    observe: Callable[[slice, str, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Projections (m, 28, 28) of single-selection signals (m, *shape) of images ``images``.

    Row r is projected through the switches of image ``images[r]``, ROWS_PER_CALL
    rows at a time (bounds the transposed-convolution buffers).
    """
    out = np.empty((len(signals), *INPUT_SHAPE[1:]), dtype=signals.dtype)
    for start in range(0, len(signals), ROWS_PER_CALL):
        chunk = slice(start, start + ROWS_PER_CALL)
        picked = {k: v[images[chunk]] for k, v in switches.items()}
        watch = None if observe is None else functools.partial(observe, chunk)
        out[chunk] = engine.backproject(layer, signals[chunk][:, None], picked, watch)[:, 0, 0]
    return out


def _nonzero(signal: np.ndarray) -> np.ndarray:
    """(n, S): whether selection s of image i keeps any non-zero value."""
    return np.any(signal.reshape(*signal.shape[:2], -1) != 0, axis=2)


def _crossing_observer(
    flipped: dict[str, np.ndarray], images: np.ndarray, crossed: np.ndarray
) -> Callable[[slice, str, np.ndarray], None] | None:
    """An ``observe`` that marks in ``crossed`` (m,) the rows whose signal enters a flipped
    unpool window non-zero; None when no switch flipped."""
    if not flipped:
        return None

    def observe(chunk: slice, name: str, signal: np.ndarray) -> None:
        if name in flipped:
            mask = flipped[name][images[chunk]]
            crossed[chunk] |= np.any((signal[:, 0] != 0) & mask, axis=(1, 2, 3))

    return observe


def _flips(ref: Trace, other: Trace, first: int, report: CrossCheck) -> dict[str, np.ndarray]:
    """Record every flipped switch; return the (n, C, h, w) mask of flipped windows of each
    pool that has any."""
    masks = {}
    for pool in POOL_NAMES:
        pre = ref.activations[PRE_POOL[pool]]
        flips = switch_flips(pre, ref.switches[pool], other.switches[pool])
        if not len(flips):
            continue
        masks[pool] = ref.switches[pool] != other.switches[pool]
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


def _squared_norms(other: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared norms of the difference and of the reference, per projection (leading axis)."""
    axes = tuple(range(1, reference.ndim))
    diff = other.astype(np.float64)
    diff -= reference
    np.square(diff, out=diff)
    return np.sum(diff, axis=axes), np.sum(np.square(reference), axis=axes)
