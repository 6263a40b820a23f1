"""Peak memory of tracing and projecting N images, per image and selection, for every layer.

Prints what lenet_deconv/memory_budget.py's estimate must stay above:
    PYTHONPATH=. python benchmarks/projection_memory.py [N]
Each (backend, layer) runs in a fresh process: NumPy's peak from tracemalloc,
PyTorch's (whose allocations tracemalloc does not see) from the rise in peak RSS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from lenet_deconv.memory_budget import PER_IMAGE_ITEMS, PER_SELECTION_ITEMS
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES

CHILD = """
import resource, sys, tracemalloc
import numpy as np
import torch
from lenet_deconv.backends import make_engine
from numpy_lenet.params import load_npz
backend, layer, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(load_npz("weights/lenet5-mnist.npz"), backend, np.float64)
images = np.random.default_rng(0).random((n, 1, 28, 28))
engine.project(engine.trace(images[:2]), layer, "max")  # warm up lazy allocations
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
engine.project(engine.trace(images), layer, "max")
peak = tracemalloc.get_traced_memory()[1]
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024
print(max(peak, grew) if backend == "torch" else peak)
"""


def main() -> None:
    """Print measured and estimated bytes per image for both backends and every layer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=400, help="images (default: 400)")
    n = parser.parse_args().n
    print(f"{'backend':8} {'layer':6} {'S':>4} {'measured/img':>13} {'estimate/img':>13}")
    for backend in ("numpy", "torch"):
        for layer in LAYER_NAMES:
            s = LAYER_SHAPES[layer][0]
            done = subprocess.run(
                [sys.executable, "-c", CHILD, backend, layer, str(n)],
                capture_output=True,
                text=True,
                check=True,
            )
            measured = int(done.stdout.split()[-1]) / n
            estimate = 8 * (PER_IMAGE_ITEMS + PER_SELECTION_ITEMS * s)
            print(f"{backend:8} {layer:6} {s:>4} {measured:>13,.0f} {estimate:>13,}")


if __name__ == "__main__":
    main()
