"""Time numpy_lenet's ops against torch.nn.functional at LeNet shapes; print a table.

    python benchmarks/bench_ops.py [--images 10000] [--signals 4000] [--repeat 5]
                                   [--threads 2] [--dtype float32]

Forward ops run on ``--images`` images; deconvnet ops (unpool, relu,
conv_transpose2d) on one chunk of ``--signals`` single-image signals, with the
switches either of one image broadcast over the chunk (``bcast``) or one set
per signal (``full``). NumPy and torch runs alternate and the best of
``--repeat`` counts, so that load from other processes hurts both alike.
The last column is numpy time / torch time (the goal: at most 1.5).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from timing import Job, best_times

from numpy_lenet.conv import conv2d, conv_transpose2d
from numpy_lenet.functional import linear, log_softmax, relu
from numpy_lenet.pool import max_pool2d, max_unpool2d


def main() -> None:
    """Build LeNet-shaped data, time every op both ways, print one row per op."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="images for forward ops")
    parser.add_argument("--signals", type=int, default=4_000, help="signals per deconvnet chunk")
    parser.add_argument("--repeat", type=int, default=5, help="timings per op; the best counts")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--only", default="", help="run only ops whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)

    rng = np.random.default_rng(0)

    def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    w1, b1 = normal(6, 1, 5, 5, scale=0.2), normal(6, scale=0.1)
    w2, b2 = normal(16, 6, 5, 5, scale=0.08), normal(16, scale=0.1)
    fw = [normal(120, 400, scale=0.05), normal(84, 120, scale=0.09), normal(10, 84, scale=0.1)]
    fb = [normal(120, scale=0.1), normal(84, scale=0.1), normal(10, scale=0.1)]
    images = rng.random((args.images, 1, 28, 28)).astype(dtype)
    images[images < 0.8] = 0  # MNIST-like: mostly background

    def numpy_forward() -> object:
        a = relu(conv2d(images, w1, b1, padding=2))
        a, _ = max_pool2d(a, 2, 2)
        a = relu(conv2d(a, w2, b2))
        a, _ = max_pool2d(a, 2, 2)
        a = a.reshape(len(a), -1)
        a = relu(linear(a, fw[0], fb[0]))
        a = relu(linear(a, fw[1], fb[1]))
        return log_softmax(linear(a, fw[2], fb[2]))

    t = {name: torch.from_numpy(v) for name, v in (("w1", w1), ("b1", b1), ("w2", w2))}
    t.update(b2=torch.from_numpy(b2), images=torch.from_numpy(images))
    tfw, tfb = [torch.from_numpy(w) for w in fw], [torch.from_numpy(b) for b in fb]

    def torch_forward() -> object:
        with torch.inference_mode():
            a = F.relu(F.conv2d(t["images"], t["w1"], t["b1"], padding=2))
            a, _ = F.max_pool2d(a, 2, 2, return_indices=True)
            a = F.relu(F.conv2d(a, t["w2"], t["b2"]))
            a, _ = F.max_pool2d(a, 2, 2, return_indices=True)
            a = torch.flatten(a, 1)
            a = F.relu(F.linear(a, tfw[0], tfb[0]))
            a = F.relu(F.linear(a, tfw[1], tfb[1]))
            return F.log_softmax(F.linear(a, tfw[2], tfb[2]), dim=1)

    # Intermediate activations and switches, computed once by torch.
    with torch.inference_mode():
        c1 = F.relu(F.conv2d(t["images"], t["w1"], t["b1"], padding=2))
        p1, s1 = F.max_pool2d(c1, 2, 2, return_indices=True)
        c2 = F.relu(F.conv2d(p1, t["w2"], t["b2"]))
        _, s2 = F.max_pool2d(c2, 2, 2, return_indices=True)
    n_c1, n_p1, n_c2 = c1.numpy(), p1.numpy(), c2.numpy()

    m = args.signals
    sig_fc1 = normal(m, 120)
    sig2 = normal(m, 16, 5, 5)
    sig1 = normal(m, 6, 14, 14)
    up2 = normal(m, 16, 10, 10)
    up1 = normal(m, 6, 28, 28)
    one_s2, one_s1 = s2[:1].numpy(), s1[:1].numpy()
    full_s2 = s2[np.arange(m) % len(s2)].numpy()
    full_s1 = s1[np.arange(m) % len(s1)].numpy()
    n_p2 = F.max_pool2d(c2, 2, 2).flatten(1).numpy()
    signals = dict(sig_fc1=sig_fc1, sig2=sig2, sig1=sig1, up2=up2, up1=up1)
    ts = {k: torch.from_numpy(v) for k, v in signals.items()}
    tsw = {
        k: torch.from_numpy(v)
        for k, v in dict(o2=one_s2, o1=one_s1, f2=full_s2, f1=full_s1).items()
    }

    def numpy_chain(s2_: np.ndarray, s1_: np.ndarray) -> Job:
        def job() -> object:
            a = relu(max_unpool2d(sig2, s2_, 2, 2))
            a = conv_transpose2d(a, w2)
            a = relu(max_unpool2d(a, s1_, 2, 2))
            return conv_transpose2d(a, w1, padding=2)

        return job

    def torch_chain(s2_: torch.Tensor, s1_: torch.Tensor) -> Job:
        def job() -> object:
            with torch.inference_mode():
                a = F.relu(F.max_unpool2d(ts["sig2"], s2_.expand(m, -1, -1, -1), 2, 2))
                a = F.conv_transpose2d(a, t["w2"])
                a = F.relu(F.max_unpool2d(a, s1_.expand(m, -1, -1, -1), 2, 2))
                return F.conv_transpose2d(a, t["w1"], padding=2)

        return job

    def tm(fn: Callable[..., object], *a: object, **k: object) -> Job:
        def job() -> object:
            with torch.inference_mode():
                return fn(*a, **k)

        return job

    n = args.images
    jobs: list[tuple[str, Job, Job]] = [
        (f"conv1 fwd {n}x1x28x28 -> 6, 5x5 pad 2",
         lambda: conv2d(images, w1, b1, padding=2),
         tm(F.conv2d, t["images"], t["w1"], t["b1"], padding=2)),
        (f"relu {n}x6x28x28", lambda: relu(n_c1), tm(F.relu, c1)),
        (f"pool1 {n}x6x28x28 2x2/2 + switches",
         lambda: max_pool2d(n_c1, 2, 2), tm(F.max_pool2d, c1, 2, 2, return_indices=True)),
        (f"conv2 fwd {n}x6x14x14 -> 16, 5x5",
         lambda: conv2d(n_p1, w2, b2), tm(F.conv2d, p1, t["w2"], t["b2"])),
        (f"pool2 {n}x16x10x10 2x2/2 + switches",
         lambda: max_pool2d(n_c2, 2, 2), tm(F.max_pool2d, c2, 2, 2, return_indices=True)),
        (f"fc1 fwd {n}x400 -> 120",
         lambda: linear(n_p2, fw[0], fb[0]), tm(F.linear, torch.from_numpy(n_p2), tfw[0], tfb[0])),
        (f"FORWARD {n} images (conv..fc3, log_softmax)", numpy_forward, torch_forward),
        (f"fc1^T {m}x120 -> 400 (deconv, W^T)",
         lambda: linear(sig_fc1, fw[0].T), tm(F.linear, ts["sig_fc1"], tfw[0].t())),
        (f"unpool2 bcast {m}x16x5x5",
         lambda: max_unpool2d(sig2, one_s2, 2, 2),
         tm(F.max_unpool2d, ts["sig2"], tsw["o2"].expand(m, -1, -1, -1), 2, 2)),
        (f"unpool2 full {m}x16x5x5",
         lambda: max_unpool2d(sig2, full_s2, 2, 2),
         tm(F.max_unpool2d, ts["sig2"], tsw["f2"], 2, 2)),
        (f"convT2 {m}x16x10x10 -> 6", lambda: conv_transpose2d(up2, w2),
         tm(F.conv_transpose2d, ts["up2"], t["w2"])),
        (f"unpool1 bcast {m}x6x14x14",
         lambda: max_unpool2d(sig1, one_s1, 2, 2),
         tm(F.max_unpool2d, ts["sig1"], tsw["o1"].expand(m, -1, -1, -1), 2, 2)),
        (f"unpool1 full {m}x6x14x14",
         lambda: max_unpool2d(sig1, full_s1, 2, 2),
         tm(F.max_unpool2d, ts["sig1"], tsw["f1"], 2, 2)),
        (f"relu {m}x6x28x28", lambda: relu(up1), tm(F.relu, ts["up1"])),
        (f"convT1 {m}x6x28x28 -> 1, pad 2", lambda: conv_transpose2d(up1, w1, padding=2),
         tm(F.conv_transpose2d, ts["up1"], t["w1"], padding=2)),
        (f"DECONV chain pool2->pixels bcast, {m} signals",
         numpy_chain(one_s2, one_s1), torch_chain(tsw["o2"], tsw["o1"])),
        (f"DECONV chain pool2->pixels full, {m} signals",
         numpy_chain(full_s2, full_s1), torch_chain(tsw["f2"], tsw["f1"])),
    ]  # fmt: skip

    print(
        f"# {platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {dtype}, "
        f"best of {args.repeat}"
    )
    print(f"{'op':<48} {'numpy ms':>9} {'torch ms':>9} {'ratio':>6}")
    for name, numpy_job, torch_job in jobs:
        if args.only and args.only not in name:
            continue
        np_s, torch_s = best_times(numpy_job, torch_job, args.repeat, warm_up=True)
        print(
            f"{name:<48} {np_s * 1e3:9.1f} {torch_s * 1e3:9.1f} {np_s / torch_s:6.2f}", flush=True
        )


if __name__ == "__main__":
    main()
