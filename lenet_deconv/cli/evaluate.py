"""`lenet-deconv evaluate`: loss, accuracy and confusion matrix of a weight file on MNIST."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping

import numpy as np
import torch

from numpy_lenet.atomic import atomic_path
from numpy_lenet.model import forward
from torch_lenet.data import images_to_float
from torch_lenet.evaluate import (
    EVAL_BATCH_SIZE,
    EvalResult,
    resolve_device,
    summarize,
    torch_log_probs,
)
from torch_lenet.weights import model_from_params

from ..backends import DTYPES, check_backend
from ..outputs import check_output_file, output_file_arg
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
    if args.predictions is not None:
        check_output_file(args.predictions, force=args.force, what="--predictions")
    params, uint8, labels = load_inputs(args)
    images = images_to_float(uint8, DTYPES[args.dtype])
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


def evaluate_params(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    backend: str,
    *,
    device: str = "cpu",
) -> EvalResult:
    """Evaluate parameters on float images (N, 1, 28, 28) with one backend, in their dtype."""
    check_backend(backend)
    if backend == "numpy":
        return summarize(forward(params, images, batch_size=EVAL_BATCH_SIZE).log_probs, labels)
    target = resolve_device(device)
    inputs = torch.from_numpy(images).to(target)
    model = model_from_params(params).to(device=target, dtype=inputs.dtype)
    return summarize(torch_log_probs(model, inputs), labels)


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
