"""Time `train` against the plainest PyTorch loop of the same recipe, in the same run.

    python benchmarks/bench_train.py [--data-dir ../shared/data] [--epochs 15] [--repeat 1]
                                     [--threads N]

The plain loop is what anyone would write first: the whole split as tensors in
memory, a fresh ``randperm`` per epoch, LeNet-5 with ``F.max_pool2d`` (no
indices), Adam (lr 0.001), ``CrossEntropyLoss`` on the logits, batch 128, seed
42, one test-set evaluation at the end and nothing else. ``train`` is the
project's command (``torch_lenet.train.train``) with its checkpoints, per-epoch
evaluation and files, into a temporary directory. Both are timed wall-clock
from loading MNIST to the last weight written, on the same thread count, and
alternate ``--repeat`` times so that load from other processes hurts both
alike. Prints each run's wall and CPU seconds, then the ratios train / plain
of the medians. On a machine shared with other work, wall time measures the
load as much as the code; with ``--threads 1`` the CPU time is the steadier
figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from torch_lenet.batches import float_split
from torch_lenet.progress import Progress
from torch_lenet.train import TrainConfig, available_cpus, train


class PlainLeNet5(nn.Module):
    """LeNet-5 as a first version would be written: logits out, pooling without indices."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) of images (N, 1, 28, 28)."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(F.relu(self.fc2(x)))


def plain_loop(data_dir: str, epochs: int) -> float:
    """Train the plain loop; return its test accuracy."""
    torch.manual_seed(42)
    train_x, train_y = (torch.from_numpy(a) for a in float_split(data_dir, "train"))
    test_x, test_y = (torch.from_numpy(a) for a in float_split(data_dir, "test"))
    model = PlainLeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(42)
    for _ in range(epochs):
        order = torch.randperm(len(train_y), generator=shuffle)
        for start in range(0, len(order), 128):
            index = order[start : start + 128]
            loss = loss_fn(model(train_x[index]), train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predictions = torch.cat([model(x).argmax(1) for x in test_x.split(2000)])
    return (predictions == test_y).double().mean().item()


def project_train(data_dir: str, epochs: int, threads: int) -> float:
    """Run the project's ``train`` into a temporary directory; return its test accuracy."""
    config = TrainConfig(epochs=epochs, threads=threads, device="cpu")
    with tempfile.TemporaryDirectory() as out:
        result = train(config, data_dir, out, progress=Progress(quiet=True), download=False)
    return result.metrics[-1]["test_accuracy"]


def main() -> None:
    """Alternate the two loops, print every timing and the ratio of the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data", help="MNIST torchvision root")
    parser.add_argument("--epochs", type=int, default=15, help="epochs per run (default 15)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each loop, alternated")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads for both (default: one per CPU)"
    )
    args = parser.parse_args()
    threads = args.threads or available_cpus()
    torch.set_num_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {platform.machine()}, {available_cpus()} CPUs, torch {torch.__version__}, "
        f"threads {threads}, {args.epochs} epochs, load average {load:.1f} at the start"
    )
    print(
        f"{'run':>4} {'plain s':>8} {'cpu s':>8} {'acc':>7}  {'train s':>8} {'cpu s':>8} "
        f"{'acc':>7}  ratio"
    )
    times: dict[str, list[float]] = {"plain": [], "train": []}
    cpu: dict[str, list[float]] = {"plain": [], "train": []}
    for run in range(1, args.repeat + 1):
        row = []
        for name, job in (
            ("plain", lambda: plain_loop(args.data_dir, args.epochs)),
            ("train", lambda: project_train(args.data_dir, args.epochs, threads)),
        ):
            torch.set_num_threads(threads)
            start, start_cpu = time.perf_counter(), time.process_time()
            accuracy = job()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            row += [times[name][-1], cpu[name][-1], accuracy]
        print(
            f"{run:>4} {row[0]:8.2f} {row[1]:8.2f} {100 * row[2]:6.2f}%  {row[3]:8.2f} "
            f"{row[4]:8.2f} {100 * row[5]:6.2f}%  {row[3] / row[0]:5.2f}"
        )
    median = {k: statistics.median(v) for k, v in times.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"median wall: plain {median['plain']:.2f} s, train {median['train']:.2f} s, "
        f"train/plain {median['train'] / median['plain']:.2f}"
    )
    print(
        f"median CPU:  plain {median_cpu['plain']:.2f} s, train {median_cpu['train']:.2f} s, "
        f"train/plain {median_cpu['train'] / median_cpu['plain']:.2f}"
    )


if __name__ == "__main__":
    main()
