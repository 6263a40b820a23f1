"""`lenet-deconv evaluate`: loss, accuracy and confusion matrix of a weight file on MNIST."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from torch_lenet.evaluate import EvalResult

from ..backends import DTYPES
from ..outputs import output_file_arg
from ..overflow import overflow_checked_after
from .options import (
    add_backend,
    add_device,
    add_dtype,
    add_force,
    add_inputs,
    add_no_download,
    add_split,
    load_inputs,
)

SUMMARY = "loss, accuracy and confusion matrix of a weight file on MNIST"
DESCRIPTION = """\
Score a weight file (.npz or .pt) on an MNIST split with the NumPy or the PyTorch
backend: mean negative log-likelihood (what CrossEntropyLoss reports on the
model's log-probabilities), accuracy and the 10x10 confusion matrix (rows: true
class, columns: predicted class). Both backends share everything after the
forward pass, so any difference between them is a difference in the network's
numbers.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `evaluate`."""
    add_inputs(parser)
    add_split(parser)
    add_backend(parser)
    add_dtype(parser, "float32")
    add_device(parser)
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="feed (pixel/255 - 0.1307) / 0.3081, for weights trained with train --normalize",
    )
    add_no_download(parser)
    parser.add_argument(
        "--predictions",
        type=output_file_arg,
        metavar="FILE",
        help="also write the predicted class of every image to this .npy (int64)",
    )
    add_force(parser, "replace --predictions if it exists")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the report."""
    from numpy_lenet.atomic import atomic_path
    from torch_lenet.data import images_to_float, normalize_images

    from ..evaluation import evaluate_params
    from ..outputs import check_output_file

    if not args.weights.is_file():
        raise FileNotFoundError(f"weight file {args.weights} does not exist")
    if args.predictions is not None:
        check_output_file(args.predictions, force=args.force, what="--predictions")
    params, uint8, labels = load_inputs(args)
    images = images_to_float(uint8, DTYPES[args.dtype])
    if args.normalize:
        images = normalize_images(images)
    with overflow_checked_after():  # a non-finite loss is refused just below
        result = evaluate_params(params, images, labels, args.backend, device=args.device)
    if not math.isfinite(result.loss):
        raise ValueError(
            f"the network's outputs are not finite on the {args.split} set (loss {result.loss}): "
            f"the weights overflow {args.dtype} arithmetic; nothing reported"
            + (" (try --dtype float64)" if args.dtype == "float32" else "")
        )
    if args.predictions is not None:
        with atomic_path(args.predictions) as tmp, open(tmp, "wb") as handle:
            np.save(handle, result.predictions.astype(np.int64))
    if args.json:
        report = {
            "weights": str(args.weights),
            "split": args.split,
            "backend": args.backend,
            "dtype": args.dtype,
            **result.as_dict(),
        }
        print(json.dumps(report, allow_nan=False))
    else:
        print(format_report(result, args.split, args.backend, args.dtype))
    return 0


def format_report(result: EvalResult, split: str, backend: str, dtype: str) -> str:
    """A human-readable summary with the confusion matrix."""
    lines = [
        f"{split} set, {backend} backend ({dtype}): {result.n} images",
        f"loss     {result.loss:.4f}",
        f"accuracy {100 * result.accuracy:.2f}% ({result.correct}/{result.n})",
        "confusion matrix (rows: true class, columns: predicted):",
        "       " + "".join(f"{c:>6}" for c in range(result.confusion.shape[1])),
    ]
    lines += [
        f"  {r:>3}  " + "".join(f"{v:>6}" for v in row) for r, row in enumerate(result.confusion)
    ]
    return "\n".join(lines)
