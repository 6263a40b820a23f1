"""The end-to-end agreement of the two backends (docs/agreement.md): a float64 verdict and a
float32 drift report.

For every batch of images each engine - NumPy float64 (the reference: its fast
path), PyTorch float64 (the verdict's other side: PyTorch's own layer ops), and
for the drift report (every image, or only the first ``drift_images``) NumPy
float32 and PyTorch float32 - runs its own forward pass, its own selections and its own
deconvnet from every layer, in every mode, for every channel. Each of the
three others is then compared with the reference:

- forward: each named layer's activations, relative error over all images;
- switches: every window whose switch differs is a ``Flip``, classified by
  lenet_deconv/crosscheck/ties.py as a near-tie or a real disagreement;
- projections: each projection's own relative error (agreement.py). For the
  verdict PyTorch projects from the reference's trace (the same activations and
  switches: the forward pass is judged on its own just above), so that an
  activation that is itself a tiny difference of large sums - whose two float64
  values may differ relatively by far more than 1e-12 - cannot raise a false
  alarm (docs/agreement.md). The drift report takes each side's own trace, end
  to end; a projection there is *crossed* when its image has a flipped switch
  in a pool it goes through, or when the two sides selected different
  activations (an argmax near-tie, or a ReLU at the edge of zero): crossed
  projections are set aside and counted.
"""

from __future__ import annotations

import collections
import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from numpy_lenet.architecture import LAYER_NAMES, SELECTION_MODES, is_spatial
from numpy_lenet.deconv import LiveProjections
from numpy_lenet.model import Trace
from numpy_lenet.rules import DEFAULT_RULE, check_rule
from numpy_lenet.selection import selections_differ

from ..backends import Engine, make_engine
from ..workers import one_thread, process_context, worker_start
from .agreement import (
    FLOOR_RATIO,
    UNIT_ROUNDOFF,
    VERDICT_TOLERANCE,
    projection_errors,
    row_norms,
    rows_of,
    squared_norms,
)
from .jobs import FC_MODE, Job, jobs_for, plan_for, pools_below
from .ties import Flip, find_flips, flipped_images

#: PyTorch float32's worst projection error may be this many times NumPy float32's own
#: on the same (layer, mode) before the drift report flags it (docs/agreement.md).
DRIFT_FACTOR = 8.0
#: The comparisons, by the name of the side compared with NumPy float64.
VERDICT = "torch float64"
DRIFTS = ("numpy float32", "torch float32")
#: The drift report's default sample: the first this many images (it is a report, not
#: the verdict, which always takes every image).
DRIFT_IMAGES = 1000

__all__ = ["FC_MODE", "Comparison", "CrossCheck", "Flip", "JobStats", "crosscheck"]


@dataclass
class JobStats:
    """One (layer, mode) of one comparison: per-projection squared norms over every image."""

    layer: str
    mode: str
    sq_diff: list[np.ndarray] = field(default_factory=list)  # (n, S) per batch
    sq_norm: list[np.ndarray] = field(default_factory=list)
    crossed: list[np.ndarray] = field(default_factory=list)  # (n, S) bool per batch
    projections: int = 0  # live projections compared
    set_aside: int = 0  # crossed projections left out (drift report)

    def errors(self, channel_largest: np.ndarray, keep_crossed: bool) -> np.ndarray:
        """(N, S) per-projection relative errors; crossed ones as NaN unless ``keep_crossed``."""
        errors = projection_errors(
            np.concatenate(self.sq_diff), np.concatenate(self.sq_norm), channel_largest
        )
        if not keep_crossed:
            errors[np.concatenate(self.crossed)] = np.nan
        return errors

    def largest(self) -> np.ndarray:
        """(S,) the largest reference projection norm of each channel."""
        return np.sqrt(np.max(np.concatenate(self.sq_norm), axis=0))


@dataclass
class Comparison:
    """One side against the NumPy float64 reference: forward, switches, every projection."""

    name: str
    dtype: type
    images: int = 0  # images compared (the drift report may take only the first ones)
    sq_forward: dict[str, list[float]] = field(default_factory=dict)  # [sum diff^2, sum ref^2]
    flips: list[Flip] = field(default_factory=list)
    jobs: dict[Job, JobStats] = field(default_factory=dict)

    @property
    def is_verdict(self) -> bool:
        """Whether this side projects from the reference's trace (verdict) or its own (drift)."""
        return self.dtype == np.float64

    def forward_errors(self) -> dict[str, float]:
        """Each named layer's relative error over every image compared."""
        out = {}
        for layer, (diff, ref) in self.sq_forward.items():
            out[layer] = float(np.sqrt(diff / ref)) if ref > 0 else (0.0 if diff == 0 else np.inf)
        return out

    def job_summary(self, job: Job, largest: np.ndarray) -> dict[str, Any]:
        """Worst projection error of a job, where it is, and the counts."""
        stats = self.jobs[job]
        errors = stats.errors(largest, keep_crossed=self.is_verdict)
        per_channel = np.nanmax(np.where(np.isnan(errors), -1.0, errors), axis=0)
        per_channel = np.maximum(per_channel, 0.0)
        worst_channel = int(np.argmax(per_channel))
        worst_image = int(np.nanargmax(np.where(np.isnan(errors), -1.0, errors)[:, worst_channel]))
        return {
            "layer": job[0],
            "mode": job[1],
            "projections": stats.projections,
            "max_relative_error": float(per_channel.max()),
            "worst_channel": worst_channel,
            "worst_image": worst_image,
            "channel_errors": per_channel,
            "set_aside": stats.set_aside,
        }


@dataclass
class CrossCheck:
    """The whole report: the float64 verdict and, unless skipped, the float32 drift."""

    rule: str
    tolerance: float = VERDICT_TOLERANCE
    images: int = 0
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    largest: dict[Job, np.ndarray] = field(default_factory=dict)  # filled by finish()
    summaries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def verdict(self) -> Comparison:
        """NumPy float64 against PyTorch float64."""
        return self.comparisons[VERDICT]

    def finish(self) -> None:
        """Compute the per-job summaries once every batch is in."""
        ref = self.verdict
        self.largest = {job: stats.largest() for job, stats in ref.jobs.items()}
        self.summaries = {
            name: [c.job_summary(job, self.largest[job]) for job in c.jobs]
            for name, c in self.comparisons.items()
        }

    def failures(self) -> list[str]:
        """One line per way the float64 verdict fails (empty when it passed)."""
        tol = self.tolerance
        ref = self.verdict
        lines = [
            f"forward {layer}: relative error {error:.3g} > {tol:g}"
            for layer, error in ref.forward_errors().items()
            if not error <= tol
        ]
        for flip in ref.flips:
            if not flip.near_tie:
                lines.append(
                    f"switch {flip.pool} image {flip.image} channel {flip.channel} window "
                    f"({flip.y}, {flip.x}): {flip.why} (gap {flip.gap:.3g}, bound {flip.bound:.3g})"
                )
        for row in self.summaries[VERDICT]:
            over = np.flatnonzero(~(row["channel_errors"] <= tol))
            if len(over):
                shown = ", ".join(map(str, over[:10].tolist())) + (
                    ", ..." if len(over) > 10 else ""
                )
                lines.append(
                    f"projections {row['layer']}/{row['mode']}: {len(over)} channel(s) over "
                    f"{tol:g} ({shown}); worst channel {row['worst_channel']} at "
                    f"{row['max_relative_error']:.3g} (image {row['worst_image']})"
                )
        return lines

    @property
    def passed(self) -> bool:
        """The verdict: float64 forward, switches and every projection within the tolerance."""
        return not self.failures()

    def drift_bounds(self) -> dict[Job, float]:
        """Per job, the bound on PyTorch float32's worst error: DRIFT_FACTOR x NumPy's own."""
        if "numpy float32" not in self.summaries:
            return {}
        u = UNIT_ROUNDOFF[np.float32]
        return {
            (row["layer"], row["mode"]): DRIFT_FACTOR * max(row["max_relative_error"], u)
            for row in self.summaries["numpy float32"]
        }

    def drift_beyond_bound(self) -> list[str]:
        """(layer/mode) rows where PyTorch float32 drifts past its bound (a note, not a failure)."""
        bounds = self.drift_bounds()
        out = []
        for row in self.summaries.get("torch float32", []):
            bound = bounds[(row["layer"], row["mode"])]
            if not row["max_relative_error"] <= bound:
                out.append(
                    f"{row['layer']}/{row['mode']}: {row['max_relative_error']:.3g} > {bound:.3g}"
                )
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        bounds = self.drift_bounds()

        def rows(name: str) -> list[dict[str, Any]]:
            out = []
            for row in self.summaries[name]:
                item = {k: v for k, v in row.items() if k != "channel_errors"}
                if name == "torch float32":
                    item["bound"] = bounds[(row["layer"], row["mode"])]
                out.append(item)
            return out

        document: dict[str, Any] = {
            "passed": self.passed,
            "failures": self.failures(),
            "rule": self.rule,
            "images": self.images,
            "tolerance": self.tolerance,
            "floor_ratio": FLOOR_RATIO,
            "verdict": {
                "comparison": "numpy float64 (reference) vs torch float64",
                "images": self.verdict.images,
                "forward_relative_error": self.verdict.forward_errors(),
                "switch_flips": [f.as_dict() for f in self.verdict.flips],
                "projections": rows(VERDICT),
            },
        }
        if "torch float32" in self.comparisons:
            document["drift"] = {
                "drift_factor": DRIFT_FACTOR,
                "images": self.comparisons[DRIFTS[1]].images,
                "beyond_bound": self.drift_beyond_bound(),
                **{
                    name: {
                        "forward_relative_error": self.comparisons[name].forward_errors(),
                        "switch_flips": [f.as_dict() for f in self.comparisons[name].flips],
                        "projections": rows(name),
                    }
                    for name in DRIFTS
                },
            }
        return document


def crosscheck(
    params: dict[str, np.ndarray],
    batches: Iterable[np.ndarray],
    *,
    layers: Sequence[str] = LAYER_NAMES,
    modes: Sequence[str] = SELECTION_MODES,
    rule: str = DEFAULT_RULE,
    drift: bool = True,
    drift_images: int | None = None,
    device: torch.device | str = "cpu",
    fast: bool = True,
    on_batch: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> CrossCheck:
    """Run every engine on every batch of float64 images (n, 1, 28, 28) and gather the report.

    ``drift=False`` skips the float32 engines; ``drift_images`` limits them to
    the first that many images (None: every image). Batches are independent: with
    more than one batch they are shared among ``workers`` processes (default:
    one per CPU core), each checking whole batches on one thread; the results
    are folded in batch order, so the report does not depend on ``workers``.
    A single batch, or ``workers=1``, runs in this process. ``fast=False``
    takes the straightforward reference path.
    """
    check_rule(rule)
    jobs = jobs_for(layers, modes)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if drift_images is not None and drift_images < 1:
        raise ValueError(f"drift_images must be at least 1, got {drift_images}")
    report = CrossCheck(rule)
    for name, _, dtype in _comparisons(drift):
        comparison = Comparison(name, dtype)
        comparison.jobs = {job: JobStats(*job) for job in jobs}
        report.comparisons[name] = comparison
    batches = iter(batches)
    first_two = list(itertools.islice(batches, 2))
    batches = itertools.chain(first_two, batches)
    task = functools.partial(
        _batch_task, jobs=jobs, rule=rule, fast=fast, drift_images=drift_images
    )
    if workers == 1 or len(first_two) < 2:
        with one_thread():
            _start_worker(params, drift, device)
            try:
                for first, images in _numbered(batches):
                    _fold(report, task(images, first), len(images), on_batch)
            finally:
                _stop_worker()
    else:
        with _worker_pool(workers, params, drift, device) as pool:
            # At most two batches waiting per worker: memory stays bounded, workers stay busy.
            pending: collections.deque[tuple[Future, int]] = collections.deque()
            for first, images in _numbered(batches):
                pending.append((pool.submit(task, images, first), len(images)))
                while len(pending) > 2 * workers:
                    future, size = pending.popleft()
                    _fold(report, future.result(), size, on_batch)
            while pending:
                future, size = pending.popleft()
                _fold(report, future.result(), size, on_batch)
    if report.images == 0:
        raise ValueError("no images to compare")
    report.finish()
    return report


@dataclass
class BatchResult:
    """One batch checked: what each comparison adds to the report."""

    #: per comparison, per layer: [sum of squared differences, sum of squared reference values]
    forward: dict[str, dict[str, list[float]]]
    #: per comparison: the batch's images it compared (its first ones; the drift sample)
    sizes: dict[str, int]
    flips: dict[str, list[Flip]]
    #: per comparison, per job: (n, S) squared differences, squared norms, crossed; two counts
    jobs: dict[str, dict[Job, tuple[np.ndarray, np.ndarray, np.ndarray, int, int]]]


def _comparisons(drift: bool) -> list[tuple[str, str, type]]:
    """(name, backend, dtype) of each side compared with the reference, in report order."""
    sides = [(VERDICT, "torch", np.float64)]
    if drift:
        sides += [(DRIFTS[0], "numpy", np.float32), (DRIFTS[1], "torch", np.float32)]
    return sides


def _numbered(batches: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """(index of the batch's first image, the batch as float64) for every batch."""
    first = 0
    for images in batches:
        images = np.asarray(images, np.float64)
        yield first, images
        first += len(images)


def _fold(
    report: CrossCheck, result: BatchResult, size: int, on_batch: Callable[[int], None] | None
) -> None:
    """Add one batch's result to the report (always in batch order)."""
    for name, comparison in report.comparisons.items():
        if name not in result.sizes:
            continue  # past the drift report's sample
        comparison.images += result.sizes[name]
        for layer, (diff, ref) in result.forward[name].items():
            sums = comparison.sq_forward.setdefault(layer, [0.0, 0.0])
            sums[0] += diff
            sums[1] += ref
        comparison.flips += result.flips[name]
        for job, (diff, norm, crossed, projections, set_aside) in result.jobs[name].items():
            stats = comparison.jobs[job]
            stats.projections += projections
            stats.set_aside += set_aside
            stats.sq_diff.append(diff)
            stats.sq_norm.append(norm)
            stats.crossed.append(crossed)
    report.images += size
    if on_batch is not None:
        on_batch(size)


#: This process's engines while it checks batches: (params, reference, the other sides).
_ENGINES: tuple[dict[str, np.ndarray], Engine, dict[str, Engine]] | None = None


def _start_worker(params: dict[str, np.ndarray], drift: bool, device: torch.device | str) -> None:
    """Make this process's engines: NumPy float64 and every side compared with it."""
    global _ENGINES
    reference = make_engine(params, "numpy", np.float64)
    others = {
        name: make_engine(params, backend, dtype, device)
        for name, backend, dtype in _comparisons(drift)
    }
    _ENGINES = (params, reference, others)


def _stop_worker() -> None:
    """Drop this process's engines."""
    global _ENGINES
    _ENGINES = None


def _init_pool_worker(
    params: dict[str, np.ndarray], drift: bool, device: torch.device | str
) -> None:
    """A worker process: signals left to the parent, one thread for PyTorch and BLAS, engines."""
    worker_start()
    _start_worker(params, drift, device)


@contextmanager
def _worker_pool(
    workers: int, params: dict[str, np.ndarray], drift: bool, device: torch.device | str
) -> Iterator[ProcessPoolExecutor]:
    """Worker processes (lenet_deconv/workers.py), each with its own engines.

    Work still pending is dropped on the way out.
    """
    pool = ProcessPoolExecutor(
        workers,
        mp_context=process_context(device),
        initializer=_init_pool_worker,
        initargs=(params, drift, device),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _batch_task(
    images: np.ndarray,
    first: int,
    *,
    jobs: Sequence[Job],
    rule: str,
    fast: bool,
    drift_images: int | None = None,
) -> BatchResult:
    """Forward, switches and every projection of one batch, for every comparison.

    The drift sides see only the batch's images among the first ``drift_images``.
    """
    if _ENGINES is None:
        raise RuntimeError("no engines in this process: _start_worker was not called")
    params, reference, engines = _ENGINES
    sizes = {
        name: len(images)
        if engine.dtype == np.float64 or drift_images is None
        else min(len(images), max(0, drift_images - first))
        for name, engine in engines.items()
    }
    others = {name: engine for name, engine in engines.items() if sizes[name]}
    ref_trace = reference.trace(images)
    result = BatchResult({}, {name: sizes[name] for name in others}, {}, {n: {} for n in others})
    # Each side's trace to project from and, for the drift report, its flipped images.
    sides: dict[str, tuple[Trace, dict[str, np.ndarray] | None]] = {}
    for name, engine in others.items():
        mine = _first_images(ref_trace, sizes[name])
        trace = engine.trace(images[: sizes[name]])
        result.forward[name] = {}
        for layer in LAYER_NAMES:
            diff, ref = squared_norms(trace.activations[layer], mine.activations[layer])
            result.forward[name][layer] = [float(diff.sum()), float(ref.sum())]
        result.flips[name] = find_flips(params, images[: sizes[name]], mine, trace, first)
        if engine.dtype == np.float64:
            sides[name] = (ref_trace, None)  # the verdict: the reference's trace, nothing crossed
        else:
            sides[name] = (trace, flipped_images(mine, trace))
    for group in _job_groups(jobs):
        plans = [plan_for(job) for job in group]
        refs = reference.project_live_many(ref_trace, plans, rule, fast=fast)
        ref_norms = [row_norms(ref.values) for ref in refs]
        for name, engine in others.items():
            trace, flipped = sides[name]
            theirs = engine.project_live_many(trace, plans, rule, fast=fast)
            for job, ref, norms, other in zip(group, refs, ref_norms, theirs, strict=True):
                ref, norms = _first_projections(ref, norms, sizes[name])
                result.jobs[name][job] = _compared(job, ref, norms, other, flipped)
    return result


def _first_images(trace: Trace, count: int) -> Trace:
    """The trace of the first ``count`` images only (views)."""
    if count == len(trace.log_probs):
        return trace
    return Trace(
        {k: v[:count] for k, v in trace.activations.items()},
        {k: v[:count] for k, v in trace.switches.items()},
        trace.log_probs[:count],
    )


def _first_projections(
    projections: LiveProjections, norms: np.ndarray, count: int
) -> tuple[LiveProjections, np.ndarray]:
    """The projections (and their squared norms) of the first ``count`` images only."""
    if count == len(projections.live):
        return projections, norms
    rows = int(np.count_nonzero(projections.live[:count]))  # live rows are in image order
    kept = LiveProjections(
        projections.plan,
        projections.activations[:count],
        projections.live[:count],
        projections.values[:rows],
    )
    return kept, norms[:rows]


def _job_groups(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs in their order, each on its own except the fc jobs, which go together.

    The fast path projects an image's fc units of every layer in one pass
    (project_live_many); the other jobs share nothing, and one at a time keeps
    only one job's projections in memory.
    """
    groups: list[list[Job]] = []
    for job in jobs:
        if groups and not is_spatial(job[0]) and not is_spatial(groups[-1][0][0]):
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


def _compared(
    job: Job,
    ref: LiveProjections,
    ref_norms: np.ndarray,
    other: LiveProjections,
    flipped: dict[str, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """One side's projections of one job against the reference's: (n, S) norms and counts.

    ``flipped`` is None for the verdict (same trace as the reference: nothing is
    crossed), else the images whose switches flipped in each pool (drift report).
    """
    if flipped is None:
        crossed = np.zeros(ref.live.shape, dtype=bool)
    else:
        crossed = _crossed(job[0], flipped, ref, other)
    diff, norm = compare_live(other, ref, ref_norms)
    projections = int(np.count_nonzero(ref.live | other.live))
    set_aside = int(np.count_nonzero(crossed & ref.live))
    return diff, norm, crossed, projections, set_aside


def _crossed(
    layer: str, flipped: dict[str, np.ndarray], ref: LiveProjections, other: LiveProjections
) -> np.ndarray:
    """(n, S): projections through a flipped switch, or whose two selections differ."""
    images = np.zeros(len(ref.live), dtype=bool)
    for pool in pools_below(layer):
        images |= flipped[pool]
    return images[:, None] | selections_differ(ref.plan, ref.activations, other.activations)


def compare_live(
    other: LiveProjections, ref: LiveProjections, ref_norms: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(n, S) squared norms of other - ref and of ref, from the live projections only.

    ``ref_norms``, the squared norm of each live reference projection, may be
    given when the caller already has them (they serve every comparison).
    """
    shape = ref.live.shape
    sq_diff, sq_norm = np.zeros(shape), np.zeros(shape)
    if ref_norms is None:
        ref_norms = row_norms(ref.values)
    sq_norm[ref.live] = ref_norms
    if np.array_equal(ref.live, other.live):
        # The usual case: the same projections are live, in the same (image, selection) order.
        sq_diff[ref.live] = _squared_differences(rows_of(other.values), rows_of(ref.values))
        return sq_diff, sq_norm
    at_ref = np.full(shape, -1)
    at_ref[ref.live] = np.arange(int(ref.live.sum()))
    at_other = np.full(shape, -1)
    at_other[other.live] = np.arange(int(other.live.sum()))
    both = ref.live & other.live
    only_ref, only_other = ref.live & ~other.live, other.live & ~ref.live
    sq_diff[both] = _squared_differences(
        rows_of(other.values[at_other[both]]), rows_of(ref.values[at_ref[both]])
    )
    sq_diff[only_ref] = sq_norm[only_ref]
    sq_diff[only_other] = row_norms(other.values[at_other[only_other]])
    return sq_diff, sq_norm


def _squared_differences(a: np.ndarray, b: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(m,) squared norms of the rows of a - b (m, k), in float64.

    A few hundred rows at a time through one small buffer: a full-size
    difference would be a fresh array of tens of MB (page faults) per call.
    """
    out = np.empty(len(a))
    buffer = np.empty((min(chunk, len(a)), a.shape[1]))
    # Rows of another dtype are cast into the buffer first, then subtracted in place: the
    # same values as a mixed-dtype subtract, which measured 1.7x slower (float32 rows).
    cast = a.dtype != np.float64 or b.dtype != np.float64
    for start in range(0, len(a), chunk):  # a loop over chunks of rows
        rows = slice(start, start + chunk)
        part = buffer[: len(a[rows])]
        if cast:
            np.copyto(part, a[rows])
            np.subtract(part, b[rows], out=part)
        else:
            np.subtract(a[rows], b[rows], out=part)
        out[rows] = np.einsum("ij,ij->i", part, part)
    return out
