"""Wall-clock timing shared by the benchmark scripts."""

from __future__ import annotations

import time
from collections.abc import Callable

Job = Callable[[], object]


def best_times(
    numpy_job: Job, torch_job: Job, repeat: int, warm_up: bool = False
) -> tuple[float, float]:
    """The fastest of ``repeat`` interleaved wall-clock timings of each job, in seconds.

    NumPy and torch runs alternate, so that load from other processes (these
    benchmarks often share a small machine) hurts both alike. ``warm_up`` runs
    each job once first, untimed (first-touch page faults, thread pools).
    """
    if warm_up:
        numpy_job(), torch_job()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, job in enumerate((numpy_job, torch_job)):
            start = time.perf_counter()
            job()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]
