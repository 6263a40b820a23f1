"""Time the cross-check's projections per layer and mode, for each engine.

    python benchmarks/bench_crosscheck.py [--images 200] [--repeat 2] [--rule deconvnet]
                                          [--engines numpy:float64,torch:float64,...]
                                          [--compare N] [--jobs conv2/map,pool2/map]

For every engine (backend and dtype) and every (layer, mode) job of
`lenet-deconv compare`, the best of --repeat timings of ``Engine.project_live``
on the first --images test images with the shipped weights, one thread (as in
compare, which runs one job per core), in milliseconds per image, two ways and
their ratio. NumPy: its straightforward reference (``reference``) and its fast
path. PyTorch (its own layer ops either way): every live selection on whole
layers (``reference``) and single units cropped to their receptive fields (what
compare runs). Then the fc jobs together, as the cross-check asks for them
(``Engine.project_live_many``: NumPy's fast path shares one pass below pool2),
which the total counts in place of their separate times.
--compare N also times the whole crosscheck (verdict and drift) over the first
N test images, with the default threads. Prints the load average: other
processes on a shared machine slow every number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenet_deconv.backends import Engine, make_engine, trace_to_torch  # noqa: E402
from lenet_deconv.crosscheck.check import crosscheck  # noqa: E402
from lenet_deconv.crosscheck.jobs import jobs_for, plan_for  # noqa: E402
from lenet_deconv.top_activations import image_batches  # noqa: E402
from lenet_deconv.workers import one_thread  # noqa: E402
from numpy_lenet import deconv as np_deconv  # noqa: E402
from numpy_lenet.params import load_npz  # noqa: E402
from numpy_lenet.rules import RULES  # noqa: E402
from torch_lenet import deconv as torch_deconv  # noqa: E402
from torch_lenet.data import images_to_float, load_mnist  # noqa: E402

ENGINES = "numpy:float64,torch:float64,numpy:float32,torch:float32"


def best(job: Callable[[], object], repeat: int, clock=time.perf_counter) -> float:
    """The best time of ``repeat`` calls of ``job`` on ``clock``, in seconds."""
    times = []
    for _ in range(repeat):
        start = clock()
        job()
        times.append(clock() - start)
    return min(times)


def reference(engine: Engine, trace, plan, rule: str) -> object:
    """The slow way: NumPy's straightforward reference; PyTorch's layer ops on whole layers."""
    if engine.model is None:
        return np_deconv.project_live(engine.params, trace, plan, rule=rule)
    with torch.inference_mode():
        tensors = trace_to_torch(trace, engine.device)
        return torch_deconv.project_live(engine.model, tensors, plan, rule=rule, crop=False)


def main() -> None:
    """Print one row per (engine, layer, mode) and a total per engine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--images", type=int, default=200, help="test images per timing")
    parser.add_argument("--repeat", type=int, default=2, help="timings per job; the best counts")
    parser.add_argument("--rule", choices=RULES, default="deconvnet")
    parser.add_argument("--engines", default=ENGINES, help=f"default: {ENGINES}")
    parser.add_argument("--compare", type=int, default=0, help="also time crosscheck on N images")
    parser.add_argument(
        "--jobs",
        default="",
        help="only these jobs, comma-separated layer/mode (e.g. conv2/map,pool2/map); default: all",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the thread's CPU time (steadier on a machine shared with other work)",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    jobs = jobs_for()
    if args.jobs:
        wanted = [tuple(job.split("/")) for job in args.jobs.split(",")]
        unknown = [job for job in wanted if job not in jobs]
        if unknown:
            parser.error(f"unknown jobs {unknown}; choose from {['/'.join(j) for j in jobs]}")
        jobs = wanted
    params = load_npz(REPO / "weights" / "lenet5-mnist.npz")
    images, _ = load_mnist(args.data_dir, "test", download=False)
    pixels = images_to_float(images[: args.images], np.float64)
    print(
        f"load average at start: {os.getloadavg()}; {args.images} test images, rule {args.rule}, "
        f"{args.clock} clock"
    )
    print(f"{'engine':<14} {'job':<11} {'reference':>10} {'fast':>8} {'speed-up':>8}  (ms/image)")
    with one_thread():
        for spec in args.engines.split(","):
            backend, dtype = spec.split(":")
            engine = make_engine(params, backend, np.dtype(dtype).type)
            trace = engine.trace(pixels)
            totals = [0.0, 0.0]
            fc_jobs = [job for job in jobs if job[1] == "fc"]
            fc_times = [0.0, 0.0]
            for job in jobs:
                plan = plan_for(job)
                project = partial(engine.project_live, trace, plan, args.rule)
                slow = best(partial(reference, engine, trace, plan, args.rule), 1, clock)
                fast = best(project, args.repeat, clock)
                totals[0] += slow
                totals[1] += fast
                if job in fc_jobs:
                    fc_times[0] += slow
                    fc_times[1] += fast
                print(
                    f"{spec:<14} {'/'.join(job):<11} {1e3 * slow / args.images:>10.2f} "
                    f"{1e3 * fast / args.images:>8.2f} {slow / fast:>7.1f}x"
                )
            if len(fc_jobs) > 1:
                # The cross-check asks for its fc jobs together (project_live_many): one
                # pass below pool2 for all of them. The total counts that time, not the sum.
                plans = [plan_for(job) for job in fc_jobs]
                together = best(
                    partial(engine.project_live_many, trace, plans, args.rule), args.repeat, clock
                )
                totals[1] += together - fc_times[1]
                print(
                    f"{spec:<14} {'fc together':<11} {1e3 * fc_times[0] / args.images:>10.2f} "
                    f"{1e3 * together / args.images:>8.2f} {fc_times[0] / together:>7.1f}x"
                )
            print(
                f"{spec:<14} {'total':<11} {1e3 * totals[0] / args.images:>10.2f} "
                f"{1e3 * totals[1] / args.images:>8.2f} {totals[0] / totals[1]:>7.1f}x"
            )
    if args.compare:
        with torch.inference_mode():
            start = time.perf_counter()
            report = crosscheck(params, image_batches(images[: args.compare], 100))
            elapsed = time.perf_counter() - start
        print(
            f"crosscheck (verdict + drift) over {args.compare} images: {elapsed:.1f} s wall, "
            f"passed={report.passed}"
        )


if __name__ == "__main__":
    main()
