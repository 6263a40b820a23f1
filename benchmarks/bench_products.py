"""The matrix products the fast paths lean on: PyTorch (MKL) against NumPy (OpenBLAS), one thread.

    python benchmarks/bench_products.py [--repeat 20] [--rows 93] [--images 4]

Prints GFLOP/s of ``torch.matmul`` and ``np.matmul`` on the same operands,
float64 and float32: one large square product, and the batched products of
the fc path's two switched steps (``--rows`` projections per image: 93 is the
mean number of live fc units per test image with the shipped weights). Then
the crop of ``torch_lenet.fast_deconv._pixels`` two ways: ``index_select``
along columns against ``torch.gather``. Runs alternate and the best of
``--repeat`` counts, so that load from other processes hurts both alike.

Why it exists: compare's PyTorch engines spend about 1.6x the CPU time of
NumPy's on the same projections; the small batched products, where MKL trails
OpenBLAS on this project's AMD machine, are one reason (this prints the ratio
on the machine at hand).
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
from timing import best_times

from lenet_deconv.workers import one_thread
from torch_lenet.fast_deconv import _crop_positions

#: (batch, rows, depth, columns) of the fc path's products per image, rows filled in later:
#: below pool2, 5 x 5 blocks of 16 channels against 216 window values (conv2's 6 x 6 x 6);
#: below pool1, 7 x 7 blocks of 6 x 2 x 2 values against 64 pixels (conv1's 8 x 8).
FC_STEPS = {"below pool2": (25, 16, 216), "below pool1": (49, 24, 64)}


def gflops(flops: float, seconds: float) -> str:
    """GFLOP/s, formatted."""
    return f"{flops / seconds / 1e9:8.1f}"


def main() -> None:
    """Time each product both ways and print one row per product and dtype."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timings per job; the best counts")
    parser.add_argument("--rows", type=int, default=93, help="projections per image (fc path)")
    parser.add_argument("--images", type=int, default=4, help="images per batched product")
    args = parser.parse_args()
    with one_thread():  # PyTorch and NumPy's BLAS (through threadpoolctl) on one thread each
        run(args)


def run(args: argparse.Namespace) -> None:
    """Print the table of products, then the crop's two ways."""
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, one thread, best of {args.repeat}"
    )
    print(
        f"{'product':<34} {'dtype':<8} {'torch GF/s':>10} {'numpy GF/s':>10} "
        f"{'torch time / numpy':>18}"
    )
    generator = torch.Generator().manual_seed(0)
    shapes = {"square 1024": (1, 1024, 1024, 1024)}
    for name, (blocks, depth, columns) in FC_STEPS.items():
        shapes[f"fc path, {name}"] = (args.images * blocks, args.rows, depth, columns)
    for dtype in (torch.float64, torch.float32):
        for name, (batch, rows, depth, columns) in shapes.items():
            a = torch.randn(batch, rows, depth, generator=generator, dtype=dtype)
            b = torch.randn(batch, depth, columns, generator=generator, dtype=dtype)
            out_t = torch.empty(batch, rows, columns, dtype=dtype)
            a_n, b_n, out_n = a.numpy(), b.numpy(), np.empty_like(out_t.numpy())
            # Into kept outputs: the fresh pages of a new result would be timed too.
            numpy_s, torch_s = best_times(
                lambda a_n=a_n, b_n=b_n, out_n=out_n: np.matmul(a_n, b_n, out=out_n),
                lambda a=a, b=b, out_t=out_t: torch.matmul(a, b, out=out_t),
                args.repeat,
                warm_up=True,
            )
            flops = 2.0 * batch * rows * depth * columns
            print(
                f"{name:<34} {str(dtype)[6:]:<8} {gflops(flops, torch_s):>10} "
                f"{gflops(flops, numpy_s):>10} {torch_s / numpy_s:>17.1f}x"
            )
    print()
    print(
        f"{'crop of _pixels (rows x 1024 -> 784)':<40} {'dtype':<8} {'index_select':>12} "
        f"{'gather':>8}  (microseconds)"
    )
    where = _crop_positions(4, 8, 8)
    for dtype in (torch.float64, torch.float32):
        planes = torch.randn(args.images * args.rows, 1024, generator=generator, dtype=dtype)
        index = where.expand(len(planes), -1)
        select_s, gather_s = best_times(
            lambda planes=planes: planes.index_select(1, where),
            lambda planes=planes, index=index: torch.gather(planes, 1, index),
            args.repeat,
            warm_up=True,
        )
        print(
            f"{f'{len(planes)} rows':<40} {str(dtype)[6:]:<8} {1e6 * select_s:>12.0f} "
            f"{1e6 * gather_s:>8.0f}"
        )


if __name__ == "__main__":
    main()
