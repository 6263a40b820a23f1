"""Time the cross-check (float64 verdict and float32 report) for several worker counts.

    python benchmarks/bench_workers.py --data-dir DIR [--device cpu|cuda] [--images 2000]
                                       [--workers 1,2]

The cross-check shares its batches of 100 images among worker processes
(docs/agreement.md, "How the work is shared"); this prints the wall time of
one run per worker count over the first --images test images, with the
shipped weights. Which count is best depends on the machine: on a CPU, one
per core; with --device cuda each worker also holds a CUDA context of its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenet_deconv.crosscheck import crosscheck  # noqa: E402
from lenet_deconv.top_activations import image_batches  # noqa: E402
from numpy_lenet.params import load_npz  # noqa: E402
from torch_lenet.data import load_mnist  # noqa: E402


def main() -> None:
    """One cross-check per worker count; one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="MNIST root holding MNIST/raw/")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--images", type=int, default=2000, help="first N test images")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    params = load_npz(REPO / "weights" / "lenet5-mnist.npz")
    images, _ = load_mnist(args.data_dir, "test", download=False)
    for workers in (int(w) for w in args.workers.split(",")):
        start = time.perf_counter()
        batches = image_batches(images[: args.images], 100)
        report = crosscheck(params, batches, device=args.device, workers=workers)
        print(
            f"{args.device} workers={workers:2d} images={args.images}: "
            f"{time.perf_counter() - start:6.1f} s wall, passed={report.passed}",
            flush=True,
        )


if __name__ == "__main__":
    main()
