"""Time the switched step's chunk size on NumPy's fast path: ms/image per CHUNK_BYTES.

    python benchmarks/bench_switched.py [--images 200] [--repeat 3] [--chunks 0.5,2,8]
                                        [--clock cpu]

For each dtype and chunk size (MB of products computed at once,
numpy_lenet._fast_unpool_conv.CHUNK_BYTES), the
best of --repeat timings of the fast path's fc1, fc2 and conv2 map projections
(deconvnet rule) on the first --images test images with the shipped weights,
one thread, in milliseconds per image. The chunk sizes are tried in turn
within each repeat, so that a change in the machine's load hits all of them.
Prints the load average: other processes on a shared machine slow every number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenet_deconv.backends import make_engine  # noqa: E402
from lenet_deconv.crosscheck.jobs import plan_for  # noqa: E402
from lenet_deconv.workers import one_thread  # noqa: E402
from numpy_lenet import _fast_unpool_conv as switched  # noqa: E402
from numpy_lenet.params import load_npz  # noqa: E402
from torch_lenet.data import images_to_float, load_mnist  # noqa: E402

JOBS = (("fc1", "fc"), ("fc2", "fc"), ("conv2", "map"))


def main() -> None:
    """Print one row per (dtype, chunk size): ms/image of each job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--images", type=int, default=200, help="test images per timing")
    parser.add_argument("--repeat", type=int, default=3, help="timings per size; the best counts")
    parser.add_argument("--chunks", default="0.5,2,8", help="chunk sizes in MB")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="cpu",
        help="the thread's CPU time (steadier on a shared machine) or wall time",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    params = load_npz(REPO / "weights" / "lenet5-mnist.npz")
    images, _ = load_mnist(args.data_dir, "test", download=False)
    pixels = images_to_float(images[: args.images], np.float64)
    sizes = [float(v) for v in args.chunks.split(",")]
    print(
        f"load average at start: {os.getloadavg()}; {args.images} test images, {args.clock} clock"
    )
    names = "".join(f" {'/'.join(job):>10}" for job in JOBS)
    print(f"{'dtype':<8} {'chunk MB':>8}{names}  (ms/image)")
    default = switched.CHUNK_BYTES
    with one_thread():
        for dtype in (np.float64, np.float32):
            engine = make_engine(params, "numpy", dtype)
            trace = engine.trace(pixels)
            best = {(mb, job): float("inf") for mb in sizes for job in JOBS}
            for _ in range(args.repeat):
                for mb in sizes:
                    switched.CHUNK_BYTES = int(mb * 2**20)
                    for job in JOBS:
                        start = clock()
                        engine.project_live(trace, plan_for(job), "deconvnet", fast=True)
                        elapsed = clock() - start
                        best[mb, job] = min(best[mb, job], elapsed)
            switched.CHUNK_BYTES = default
            for mb in sizes:
                row = "".join(f" {1e3 * best[mb, job] / args.images:>10.2f}" for job in JOBS)
                print(f"{np.dtype(dtype).name:<8} {mb:>8g}{row}")


if __name__ == "__main__":
    main()
