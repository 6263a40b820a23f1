"""The end-to-end agreement of the two backends: the float64 verdict and the float32 drift
report, as docs/agreement.md defines them (what is compared, from which trace, and why).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from numpy_lenet.architecture import LAYER_NAMES, is_spatial
from numpy_lenet.deconv import LiveProjections
from numpy_lenet.model import available_cpus
from numpy_lenet.rules import DEFAULT_RULE, check_rule
from numpy_lenet.selection import selections_differ

from ..backends import DTYPES, Engine, make_engine
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
from .jobs import Job, jobs_for, plan_for, pools_below
from .ties import Flip, find_flips, flipped_images

#: PyTorch float32's worst projection error may be this many times NumPy float32's own
#: on the same (layer, mode) before the drift report flags it (docs/agreement.md).
DRIFT_FACTOR = 8.0
#: The comparisons, by the side compared with NumPy float64 ("backend dtype").
VERDICT = "torch float64"
DRIFTS = ("numpy float32", "torch float32")
#: The drift report's default sample: the first this many images (it is a report, not
#: the verdict, which always takes every image).
DRIFT_IMAGES = 1000


@dataclass
class JobStats:
    """One (layer, mode) of one comparison: per-projection squared norms, batch by batch."""

    sq_diff: list[np.ndarray] = field(default_factory=list)  # (n, S) per batch
    sq_norm: list[np.ndarray] = field(default_factory=list)
    crossed: list[np.ndarray] = field(default_factory=list)  # (n, S) bool per batch
    projections: int = 0  # live projections compared
    set_aside: int = 0  # crossed projections left out (drift report)


@dataclass
class Comparison:
    """One side against the NumPy float64 reference: forward, switches, every projection."""

    images: int = 0  # images compared (the drift report may take only the first ones)
    sq_forward: dict[str, list[float]] = field(default_factory=dict)  # [sum diff^2, sum ref^2]
    flips: list[Flip] = field(default_factory=list)
    jobs: dict[Job, JobStats] = field(default_factory=dict)

    def add(self, batch: Comparison) -> None:
        """Fold in the comparison of the next batch."""
        self.images += batch.images
        for layer, (diff, ref) in batch.sq_forward.items():
            sums = self.sq_forward.setdefault(layer, [0.0, 0.0])
            sums[0] += diff
            sums[1] += ref
        self.flips += batch.flips
        for job, new in batch.jobs.items():
            stats = self.jobs.setdefault(job, JobStats())
            for name, value in vars(new).items():  # lists joined, counts added
                setattr(stats, name, getattr(stats, name) + value)

    def forward_errors(self) -> dict[str, float]:
        """Each named layer's relative error over every image compared."""
        out = {}
        for layer, (diff, ref) in self.sq_forward.items():
            out[layer] = float(np.sqrt(diff / ref)) if ref > 0 else (0.0 if diff == 0 else np.inf)
        return out

    def job_summary(self, job: Job, largest: np.ndarray) -> dict[str, Any]:
        """Worst projection error of a job, where it is, and the counts."""
        stats = self.jobs[job]
        sq_diff, sq_norm = np.concatenate(stats.sq_diff), np.concatenate(stats.sq_norm)
        errors = projection_errors(sq_diff, sq_norm, largest)
        errors[np.concatenate(stats.crossed)] = -1.0  # set aside: never the worst
        per_channel = np.maximum(errors.max(axis=0), 0.0)
        worst_channel = int(np.argmax(per_channel))
        return {
            "layer": job[0],
            "mode": job[1],
            "projections": stats.projections,
            "max_relative_error": float(per_channel.max()),
            "worst_channel": worst_channel,
            "worst_image": int(np.argmax(errors[:, worst_channel])),
            "channel_errors": per_channel,
            "set_aside": stats.set_aside,
        }

    def as_dict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """JSON-ready forward errors, flips and projection ``rows`` (its summaries)."""
        return {
            "forward_relative_error": self.forward_errors(),
            "switch_flips": [dataclasses.asdict(f) for f in self.flips],
            "projections": [{k: v for k, v in r.items() if k != "channel_errors"} for r in rows],
        }


@dataclass
class CrossCheck:
    """The whole report: the float64 verdict and, unless skipped, the float32 drift."""

    rule: str
    images: int = 0
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    summaries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by finish()

    @property
    def verdict(self) -> Comparison:
        """NumPy float64 against PyTorch float64."""
        return self.comparisons[VERDICT]

    def finish(self) -> None:
        """Compute the per-job summaries (PyTorch float32's with its drift bound)."""
        largest = {
            job: np.sqrt(np.max(np.concatenate(stats.sq_norm), axis=0))
            for job, stats in self.verdict.jobs.items()
        }
        self.summaries = {
            name: [c.job_summary(job, largest[job]) for job in c.jobs]
            for name, c in self.comparisons.items()
        }
        if DRIFTS[1] in self.summaries:
            u = UNIT_ROUNDOFF[np.float32]
            for mine, theirs in zip(*(self.summaries[name] for name in DRIFTS), strict=True):
                theirs["bound"] = DRIFT_FACTOR * max(mine["max_relative_error"], u)

    def failures(self) -> list[str]:
        """One line per way the float64 verdict fails (empty when it passed)."""
        tol = VERDICT_TOLERANCE
        lines = [
            f"forward {layer}: relative error {error:.3g} > {tol:g}"
            for layer, error in self.verdict.forward_errors().items()
            if not error <= tol
        ]
        lines += [
            f"switch {f.pool} image {f.image} channel {f.channel} window ({f.y}, {f.x}): "
            f"{f.why} (gap {f.gap:.3g}, bound {f.bound:.3g})"
            for f in self.verdict.flips
            if not f.near_tie
        ]
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

    def drift_beyond_bound(self) -> list[str]:
        """(layer/mode) rows where PyTorch float32 drifts past its bound (a note, not a failure)."""
        return [
            f"{row['layer']}/{row['mode']}: {row['max_relative_error']:.3g} > {row['bound']:.3g}"
            for row in self.summaries.get(DRIFTS[1], [])
            if not row["max_relative_error"] <= row["bound"]
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report (infinite and NaN numbers as strings)."""
        document: dict[str, Any] = {
            "passed": self.passed,
            "failures": self.failures(),
            "rule": self.rule,
            "images": self.images,
            "tolerance": VERDICT_TOLERANCE,
            "floor_ratio": FLOOR_RATIO,
            "verdict": {
                "comparison": "numpy float64 (reference) vs torch float64",
                "images": self.verdict.images,
                **self.verdict.as_dict(self.summaries[VERDICT]),
            },
        }
        if DRIFTS[1] in self.comparisons:
            document["drift"] = {
                "drift_factor": DRIFT_FACTOR,
                "images": self.comparisons[DRIFTS[1]].images,
                "beyond_bound": self.drift_beyond_bound(),
                **{n: self.comparisons[n].as_dict(self.summaries[n]) for n in DRIFTS},
            }
        return json_ready(document)


def json_ready(value: Any) -> Any:
    """``value`` with every infinite or NaN float as "inf", "-inf" or "nan" (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def crosscheck(
    params: dict[str, np.ndarray],
    batches: Iterable[np.ndarray],
    *,
    layers: Sequence[str] = LAYER_NAMES,
    rule: str = DEFAULT_RULE,
    drift: bool = True,
    drift_images: int | None = None,
    device: torch.device | str = "cpu",
    on_batch: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> CrossCheck:
    """Run every engine on every batch of float64 images (n, 1, 28, 28) and gather the report.

    ``drift=False`` skips the float32 sides; ``drift_images`` limits them to the first
    that many images. Batches go to ``workers`` processes (default: one per CPU core)
    and are folded in batch order, so the report does not depend on ``workers``.
    """
    global _ENGINES
    check_rule(rule)
    jobs = jobs_for(layers)
    if workers is None:
        workers = available_cpus()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if drift_images is not None and drift_images < 1:
        raise ValueError(f"drift_images must be at least 1, got {drift_images}")
    sides = (VERDICT, *DRIFTS) if drift else (VERDICT,)
    report = CrossCheck(rule, comparisons={name: Comparison() for name in sides})

    def fold(result: dict[str, Comparison], size: int) -> None:
        for name, batch in result.items():
            report.comparisons[name].add(batch)
        report.images += size
        if on_batch is not None:
            on_batch(size)

    batches = iter(batches)
    first_two = list(itertools.islice(batches, 2))
    numbered = _numbered(itertools.chain(first_two, batches), drift_images)
    task = functools.partial(_batch_task, jobs=jobs, rule=rule, drift_images=drift_images)
    if workers == 1 or len(first_two) < 2:
        with one_thread():
            _start_worker(params, sides, device)
            try:
                for first, images in numbered:
                    fold(task(images, first), len(images))
            finally:
                _ENGINES = None
    else:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=process_context(device),
            initializer=_start_worker,
            initargs=(params, sides, device, True),
        )
        try:
            # At most two batches waiting per worker: memory stays bounded, workers stay busy.
            pending: collections.deque[tuple[Future, int]] = collections.deque()
            for first, images in numbered:
                pending.append((pool.submit(task, images, first), len(images)))
                while len(pending) > 2 * workers:
                    future, size = pending.popleft()
                    fold(future.result(), size)
            for future, size in pending:
                fold(future.result(), size)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # work still pending is dropped
    if report.images == 0:
        raise ValueError("no images to compare")
    report.finish()
    return report


def _numbered(
    batches: Iterable[np.ndarray], drift_images: int | None
) -> Iterator[tuple[int, np.ndarray]]:
    """(first image's index, float64 batch), each batch wholly in or out of the drift sample."""
    first = 0
    for batch in batches:
        batch = np.asarray(batch, np.float64)
        cut = len(batch) if drift_images is None else min(max(drift_images - first, 0), len(batch))
        for images in (batch[:cut], batch[cut:]):
            if len(images):
                yield first, images
                first += len(images)


#: This process's engines while it checks batches: (params, reference, the other sides).
_ENGINES: tuple[dict[str, np.ndarray], Engine, dict[str, Engine]] | None = None


def _start_worker(
    params: dict[str, np.ndarray],
    sides: Sequence[str],
    device: torch.device | str,
    pool: bool = False,
) -> None:
    """Make this process's engines; in a pool's worker, leave signals to the parent first."""
    global _ENGINES
    if pool:
        worker_start()
    reference = make_engine(params, "numpy", np.float64)
    others = {}
    for name in sides:
        backend, dtype = name.split()
        others[name] = make_engine(params, backend, DTYPES[dtype], device)
    _ENGINES = (params, reference, others)


def _batch_task(
    images: np.ndarray, first: int, *, jobs: Sequence[Job], rule: str, drift_images: int | None
) -> dict[str, Comparison]:
    """Forward, switches and every projection of one batch, for every side that takes it."""
    if _ENGINES is None:
        raise RuntimeError("no engines in this process: _start_worker was not called")
    params, reference, engines = _ENGINES
    in_sample = drift_images is None or first < drift_images
    others = {n: e for n, e in engines.items() if e.dtype == np.float64 or in_sample}
    ref_trace = reference.trace(images)
    result = {name: Comparison(len(images)) for name in others}
    sides = {}  # each side's trace to project from and, for the drift report, flipped images
    for name, engine in others.items():
        trace = engine.trace(images)
        for layer in LAYER_NAMES:
            diff, ref = squared_norms(trace.activations[layer], ref_trace.activations[layer])
            result[name].sq_forward[layer] = [float(diff.sum()), float(ref.sum())]
        result[name].flips = find_flips(params, images, ref_trace, trace, first)
        if engine.dtype == np.float64:  # the verdict: the reference's trace, nothing crossed
            sides[name] = (ref_trace, None)
        else:
            sides[name] = (trace, flipped_images(ref_trace, trace))
    for group in _job_groups(jobs):
        plans = [plan_for(job) for job in group]
        refs = reference.project_live_many(ref_trace, plans, rule)
        ref_norms = [row_norms(ref.values) for ref in refs]
        for name, engine in others.items():
            trace, flipped = sides[name]
            theirs = engine.project_live_many(trace, plans, rule)
            for job, ref, norms, other in zip(group, refs, ref_norms, theirs, strict=True):
                result[name].jobs[job] = _compared(job, ref, norms, other, flipped)
    return result


def _job_groups(jobs: Sequence[Job]) -> list[list[Job]]:
    """The jobs in their order, each alone (one job's projections in memory) but the fc jobs.

    The fc jobs go together: project_live_many projects them in one pass.
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
) -> JobStats:
    """One side's projections of one job against the reference's; ``flipped`` None: the verdict."""
    crossed = np.zeros(ref.live.shape, dtype=bool)
    if flipped is not None:
        for pool in pools_below(job[0]):
            crossed |= flipped[pool][:, None]
        crossed |= selections_differ(ref.plan, ref.activations, other.activations)
    diff, norm = compare_live(other, ref, ref_norms)
    projections = int(np.count_nonzero(ref.live | other.live))
    return JobStats(
        [diff], [norm], [crossed], projections, int(np.count_nonzero(crossed & ref.live))
    )


def compare_live(
    other: LiveProjections, ref: LiveProjections, ref_norms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n, S) squared norms of other - ref and of ref; ``ref_norms``: ref's live projections'."""
    shape = ref.live.shape
    sq_diff, sq_norm = np.zeros(shape), np.zeros(shape)
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
    """(m,) squared norms of the rows of a - b (m, k), in float64, a few hundred rows at a time."""
    out = np.empty(len(a))
    buffer = np.empty((min(chunk, len(a)), a.shape[1]))
    for start in range(0, len(a), chunk):
        rows = slice(start, start + chunk)
        part = buffer[: len(a[rows])]
        np.subtract(a[rows], b[rows], out=part)  # float32 rows are cast to float64 first
        out[rows] = np.einsum("ij,ij->i", part, part)
    return out
