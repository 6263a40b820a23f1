"""On a CUDA machine: is CUDA float64 equal to NumPy float64, and how fast is the GPU?

    python benchmarks/gpu_check.py --data-dir DIR [--check-images 200]
        [--compare-limit 1000] [--chunk 1000]

Prints one line per check:
  (a) the float64 verdict of PyTorch on CUDA against NumPy on the CPU, every
      layer, mode and rule, over the first --check-images test images: the
      worst projection error (must be at most 1e-12);
  (b) the time of all map+max projections of the whole test set on CUDA, in
      float32 and in float64 (PyTorch only);
  (c) the time of every cross-check job (all layers and modes, all live
      selections) over the whole test set, in chunks of --chunk images, as
      `compare --device cuda` computes them (PyTorch only);
  (d) the wall time of `compare --device cuda --no-drift` over the first
      --compare-limit test images (0: the whole test set). Batches of 100
      images on one worker process per CPU core, each with a CUDA context of
      its own: launches bound this time, not the GPU's arithmetic
      (benchmarks/bench_workers.py --device cuda compares worker counts).
Needs only the repository, torch, numpy, the shipped weights and MNIST.
With --compare-limit 0 it finished in under 2 minutes on an H200 (16 cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lenet_deconv.backends import torch_model  # noqa: E402
from lenet_deconv.crosscheck import crosscheck  # noqa: E402
from lenet_deconv.crosscheck.jobs import jobs_for, plan_for  # noqa: E402
from lenet_deconv.top_activations import image_batches  # noqa: E402
from numpy_lenet.architecture import LAYER_NAMES  # noqa: E402
from numpy_lenet.params import load_npz  # noqa: E402
from numpy_lenet.rules import RULES  # noqa: E402
from torch_lenet import deconv as torch_deconv  # noqa: E402
from torch_lenet.data import images_to_float, load_mnist  # noqa: E402

WEIGHTS = REPO / "weights" / "lenet5-mnist.npz"


def check_float64(params: dict, images: np.ndarray, count: int) -> None:
    """(a) every layer, mode and rule: CUDA float64 against NumPy float64."""
    start = time.perf_counter()
    worst, passed = 0.0, True
    for rule in RULES:
        report = crosscheck(
            params, image_batches(images[:count], 100), rule=rule, drift=False, device="cuda"
        )
        passed &= report.passed
        worst = max(worst, max(r["max_relative_error"] for r in report.summaries[report_key()]))
        if not report.passed:
            print(f"  {rule}: " + "; ".join(report.failures()))
    print(
        f"(a) CUDA float64 vs NumPy float64, {count} test images, every layer/mode/rule: "
        f"worst projection error {worst:.3g} -> {'PASSED' if passed else 'FAILED'} "
        f"(bound 1e-12; {time.perf_counter() - start:.1f} s)"
    )


def report_key() -> str:
    from lenet_deconv.crosscheck.check import VERDICT

    return VERDICT


def time_projections(params: dict, images: np.ndarray) -> None:
    """(b) all map+max projections of every image on CUDA, float32 and float64."""
    for dtype, torch_dtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        model = torch_model(params, dtype, "cuda")
        pixels = torch.from_numpy(images_to_float(images, dtype)).to("cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        count = 0
        with torch.inference_mode():
            trace = model.trace(pixels)
            for layer in LAYER_NAMES:
                for mode in ("map", "max") if layer.startswith(("conv", "pool")) else ("max",):
                    out = torch_deconv.project(model, trace, layer, mode, batch_size=65536)
                    count += out.shape[0] * out.shape[1]
                    del out
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        print(
            f"(b) CUDA {torch_dtype}: {count:,} map+max projections of {len(images)} test "
            f"images in {elapsed:.2f} s"
        )


def time_jobs(params: dict, images: np.ndarray, chunk: int) -> None:
    """(c) every cross-check job on CUDA, as `compare --device cuda` computes them."""
    for dtype in (np.float32, np.float64):
        model = torch_model(params, dtype, "cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        count = 0
        with torch.inference_mode():
            for first in range(0, len(images), chunk):
                pixels = images_to_float(images[first : first + chunk], dtype)
                trace = model.trace(torch.from_numpy(pixels).to("cuda"))
                for job in jobs_for():
                    count += len(torch_deconv.project_live(model, trace, plan_for(job)).values)
        torch.cuda.synchronize()
        print(
            f"(c) CUDA {np.dtype(dtype).name}: {count:,} live projections (every job) of "
            f"{len(images)} test images in {time.perf_counter() - start:.2f} s"
        )


def time_compare(data_dir: str, limit: int) -> None:
    """(d) the compare command with the PyTorch side on CUDA."""
    command = [
        sys.executable,
        "-m",
        "lenet_deconv",
        "compare",
        "--weights",
        str(WEIGHTS),
        "--data-dir",
        data_dir,
        "--no-download",
        "--device",
        "cuda",
        "--no-drift",
        "--quiet",
    ]
    if limit:
        command += ["--limit", str(limit)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    scope = f"first {limit}" if limit else "all 10000"
    print(
        f"(d) compare --device cuda --no-drift over the {scope} test images: exit "
        f"{done.returncode} in {elapsed:.1f} s wall; {last}"
    )
    if done.returncode:
        print(done.stderr[-2000:])


def main() -> None:
    """Run the four checks and print one line for each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="MNIST root holding MNIST/raw/")
    parser.add_argument("--check-images", type=int, default=200, help="images for check (a)")
    parser.add_argument(
        "--compare-limit", type=int, default=1000, help="images for (d); 0 = the whole set"
    )
    parser.add_argument("--chunk", type=int, default=1000, help="images per chunk in (c)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: PyTorch sees no CUDA device here")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    params = load_npz(WEIGHTS)
    images, _ = load_mnist(args.data_dir, "test", download=False)
    check_float64(params, images, args.check_images)
    time_projections(params, images)
    time_jobs(params, images, args.chunk)
    time_compare(args.data_dir, args.compare_limit)


if __name__ == "__main__":
    main()
