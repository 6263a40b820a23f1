"""`lenet-deconv train`: train LeNet-5 on MNIST with the project's recipe into a run directory."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from torch_lenet.evaluate import DEVICES
from torch_lenet.progress import Progress
from torch_lenet.train import TrainConfig, resume, train

from ..mnist import resolve_data_dir
from .options import add_data_dir, add_force, add_no_download, add_out, add_quiet

SUMMARY = "train LeNet-5 on MNIST into a run directory"
DESCRIPTION = """\
Train LeNet-5 on MNIST (docs/training.md): seed 42, Adam (lr 0.001), batch size
128, 15 epochs, CrossEntropyLoss, pixels in [0, 1]. Writes OUT/model.pt,
model.npz, metrics.json, config.json, checkpoint.pt and epochs/epoch-NN.npz.
OUT must be a new or empty folder, or a run of train's own: any other folder is
refused, --force or not. --resume continues an interrupted run to the same weights.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `train`."""
    add_out(
        parser,
        "run directory to write (e.g. runs/ref): new, empty, or a run of train's own",
        "DIR",
        kind=str,  # not Path: Path("") is ".", and an empty --out must not mean this folder
    )
    add_data_dir(parser, "; downloaded there if missing")
    add_no_download(parser)
    recipe = parser.add_argument_group("recipe (defaults: those of the shipped weights)")
    for flag, kind, what in (
        ("--seed", int, "seed for Python, NumPy and torch"),
        ("--epochs", int, "number of epochs"),
        ("--batch-size", int, "images per training step"),
        ("--lr", float, "Adam learning rate"),
    ):
        default = getattr(TrainConfig, flag[2:].replace("-", "_"))
        recipe.add_argument(flag, type=kind, help=f"{what} (default: {default})")
    recipe.add_argument(
        "--shuffle-labels",
        action="store_true",
        default=None,
        help="train on randomly permuted training labels (seeded by --seed): the "
        "randomised-label model of Adebayo et al.'s sanity checks; test scores use true labels",
    )
    run = parser.add_argument_group("how to run")
    run.add_argument(
        "--device",
        choices=DEVICES,
        help=f"where to train; auto picks CUDA when present (default: {TrainConfig.device})",
    )
    run.add_argument(
        "--threads",
        type=int,
        help="PyTorch's CPU threads, at most the CPUs this process may use (default: all of "
        "them); the thread count changes the rounding, so --resume keeps the run's",
    )
    run.add_argument(
        "--train-limit",
        type=int,
        metavar="N",
        help="train on the first N training images only (for quick tests; default: all 60,000)",
    )
    run.add_argument(
        "--test-limit",
        type=int,
        metavar="N",
        help="score each epoch on the first N test images only (default: all 10,000)",
    )
    existing = run.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (ends with the same weights as "
        "an uninterrupted run); --epochs may be raised, recipe options must match",
    )
    add_force(
        existing,
        "start over in a --out that holds a run of train's own, deleting its run files "
        "(a run stopped before its first checkpoint starts over without it); never "
        "writes into a folder that is not such a run",
    )
    add_quiet(
        run, "no progress bar or per-epoch lines, only the final line (errors still go to stderr)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the `train` subcommand."""
    # Every recipe option defaults to None, so that --resume can tell one the user gave.
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    given: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    data_dir = resolve_data_dir(args.data_dir)
    options = {"progress": Progress(quiet=args.quiet), "download": not args.no_download}
    if args.resume:
        result = resume(args.out, data_dir, given, **options)
    else:
        result = train(TrainConfig(**given), data_dir, args.out, force=args.force, **options)
    final = result.metrics[-1]
    total = sum(m["seconds"] for m in result.metrics)
    print(
        f"{result.run_dir.root}: {final['epoch']} epochs, test accuracy "
        f"{100 * final['test_accuracy']:.2f}% (loss {final['test_loss']:.4f}), "
        f"{total:.1f} s of training"
    )
    return 0
