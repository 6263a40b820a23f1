"""Time the NumPy and PyTorch backends on the jobs the README quotes; print a table.

    python benchmarks/bench_backends.py [--images 10000] [--project-images 1000] [--repeat 3]
                                        [--workers N]

Float32 throughout, weights from a seeded PyTorch initialisation (timing does
not depend on training), random sparse images. Reports the best of
``--repeat`` interleaved runs of each job, and the load average at the start:
other processes on the machine slow both backends, torch's threads most.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
import torch
from timing import best_times

from lenet_deconv.backends import torch_model
from numpy_lenet import deconv as np_deconv
from numpy_lenet.architecture import LAYER_NAMES
from numpy_lenet.model import forward
from torch_lenet import deconv as torch_deconv
from torch_lenet.model import LeNet5
from torch_lenet.weights import state_dict_to_params


def main() -> None:
    """Run the benchmark and print one row per job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="images for the forward pass")
    parser.add_argument("--project-images", type=int, default=1_000, help="images to project")
    parser.add_argument("--repeat", type=int, default=3, help="timings per job; the best counts")
    parser.add_argument(
        "--workers", type=int, default=None, help="NumPy threads (default: one per CPU)"
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    params = state_dict_to_params(LeNet5().state_dict())
    rng = np.random.default_rng(0)
    images = rng.random((args.images, 1, 28, 28), dtype=np.float32)
    images[images < 0.8] = 0
    model = torch_model(params, np.float32)
    tensor = torch.from_numpy(images)

    def numpy_forward() -> object:
        return forward(params, images, workers=args.workers)

    def torch_forward() -> object:
        with torch.inference_mode():
            return model.trace(tensor)

    few = images[: args.project_images]
    np_trace = forward(params, few)
    with torch.inference_mode():
        t_trace = model.trace(torch.from_numpy(few))

    def numpy_project() -> object:
        return [
            np_deconv.project(params, np_trace, layer, "max", workers=args.workers)
            for layer in LAYER_NAMES
        ]

    def torch_project() -> object:
        with torch.inference_mode():
            return [torch_deconv.project(model, t_trace, layer, "max") for layer in LAYER_NAMES]

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, numpy {np.__version__}, "
        f"torch threads {torch.get_num_threads()}, numpy workers {args.workers or 'all'}, "
        f"float32, best of {args.repeat}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'job':<48} {'numpy s':>9} {'torch s':>9} {'numpy/torch':>12}")
    jobs = [
        (f"forward pass, {args.images} images", numpy_forward, torch_forward),
        (
            f"project, max mode, all 258 channels, {args.project_images} images",
            numpy_project,
            torch_project,
        ),
    ]
    for name, np_job, torch_job in jobs:
        np_s, torch_s = best_times(np_job, torch_job, args.repeat)
        print(f"{name:<48} {np_s:>9.3f} {torch_s:>9.3f} {np_s / torch_s:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
