"""Time the torch switched step's chunk size on the fast fc path: ms/image per CHUNK_BYTES.

    python benchmarks/bench_switched.py [--images 200] [--repeat 3] [--chunks 0.5,1,2,4,8,16]

For each dtype and each chunk size (MB of products computed at once,
torch_lenet.switched.CHUNK_BYTES), the best of --repeat timings of the torch
fast path's fc1 and fc2 projections (deconvnet rule) on the first --images
test images with the shipped weights, one thread, in milliseconds per image.
Prints the load average: other processes on a shared machine slow every number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenet_deconv.backends import make_engine  # noqa: E402
from lenet_deconv.crosscheck.jobs import plan_for  # noqa: E402
from numpy_lenet.params import load_npz  # noqa: E402
from torch_lenet import switched  # noqa: E402
from torch_lenet.data import images_to_float, load_mnist  # noqa: E402


def main() -> None:
    """Print one row per (dtype, chunk size): fc1 and fc2 fast-path ms/image."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--images", type=int, default=200, help="test images per timing")
    parser.add_argument("--repeat", type=int, default=3, help="timings per size; the best counts")
    parser.add_argument("--chunks", default="0.5,1,2,4,8,16", help="chunk sizes in MB")
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = load_npz(REPO / "weights" / "lenet5-mnist.npz")
    images, _ = load_mnist(args.data_dir, "test", download=False)
    pixels = images_to_float(images[: args.images], np.float64)
    print(f"load average at start: {os.getloadavg()}; {args.images} test images")
    print(f"{'dtype':<8} {'chunk MB':>8} {'fc1':>7} {'fc2':>7}  (ms/image)")
    for dtype in (np.float64, np.float32):
        engine = make_engine(params, "torch", dtype)
        trace = engine.trace(pixels)
        for mb in (float(v) for v in args.chunks.split(",")):
            switched.CHUNK_BYTES = int(mb * 2**20)
            row = []
            for layer in ("fc1", "fc2"):
                plan = plan_for((layer, "fc"))
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    engine.project_live(trace, plan, "deconvnet", fast=True)
                    times.append(time.perf_counter() - start)
                row.append(1e3 * min(times) / args.images)
            print(f"{np.dtype(dtype).name:<8} {mb:>8g} {row[0]:>7.2f} {row[1]:>7.2f}")


if __name__ == "__main__":
    main()
