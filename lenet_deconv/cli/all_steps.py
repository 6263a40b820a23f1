"""`lenet-deconv all`: the main job - train (or take weights), evaluate, compare, visualize."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from numpy_lenet.atomic import sweep_temps
from torch_lenet.checkpoint import write_json
from torch_lenet.data import images_to_float
from torch_lenet.evaluate import resolve_device
from torch_lenet.progress import Progress, progress_bar
from torch_lenet.train import TrainConfig, train
from torch_lenet.weights import load_params

from ..crosscheck import check, crosscheck
from ..images import check_indices, parse_int_list
from ..mnist import first_images, resolve_data_dir
from ..outputs import OutputError, check_gallery_folder, check_output_folder, output_folder_arg
from ..top_activations import image_batches
from ..workers import beside
from .compare import DEFAULT_BATCH_SIZE as COMPARE_BATCH_SIZE
from .evaluate import evaluate_params
from .options import (
    add_data_dir,
    add_device,
    add_force,
    add_limit,
    add_out,
    add_quiet,
    add_weights,
    check_at_least,
    load_split,
)
from .visualize import metrics_beside

SUMMARY = "the main job: evaluate, compare, visualize (and train, with --train)"
DESCRIPTION = """\
Everything in one go, each step's results in a folder of OUT:
  1. train        with --train: the default recipe into OUT/run/ (otherwise the
                  shipped model, or --weights, is used);
  2. evaluate     the weights on the test set with both backends -> OUT/evaluation.json
                  (loss, accuracy, confusion matrix; do the two predict the same classes?);
  3. compare      NumPy against PyTorch over the test set in float64 (the verdict) and
                  float32 (the drift report, on the first 1000 images), every layer,
                  mode and channel (docs/agreement.md) -> OUT/compare.json;
  4. visualize    the gallery -> OUT/gallery/index.html, with the study (`lenet-deconv
                  study`: Zeiler & Fergus's Figures 4, 5 and 7) in the same folder.
Without --train nothing is trained. The exit status is 1 when the backends
disagree (step 2, step 3's float64 verdict or the study's check), after the
gallery is written; what failed is printed.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `all`."""
    model = parser.add_mutually_exclusive_group()
    add_weights(model, "the weight file (.npz or .pt) to look into")
    model.add_argument(
        "--train", action="store_true", help="train a model first, with the default recipe"
    )
    add_data_dir(parser)
    add_out(parser, "folder for every result", kind=output_folder_arg)
    parser.add_argument(
        "--epochs",
        type=int,
        help="with --train: the number of epochs (default: the train command's 15)",
    )
    parser.add_argument(
        "--images",
        help="test images shown one by one in the gallery, e.g. 0,7,42 (default: 0,1,2)",
    )
    add_limit(
        parser, "compare and visualize over the first N test images only (default: all 10,000)"
    )
    add_device(parser)
    add_quiet(parser, "only the final summary: no progress on stderr")
    add_force(parser, "replace the results already in --out")


def run(args: argparse.Namespace) -> int:
    """Run the four steps and print where their results are."""
    from ..figures import make_gallery

    chosen = None if args.images is None else parse_int_list(args.images, "--images")
    check_at_least(args, 1, "limit")
    device = resolve_device(args.device)
    if args.epochs is not None and not args.train:
        raise ValueError("--epochs only applies when training: add --train or drop --epochs")
    _check_out(args.out, args.force)
    run_dir = args.out / "run"
    if args.train and run_dir.exists():
        raise FileExistsError(
            f"{run_dir} already exists: pass --weights {run_dir / 'model.npz'} to use its "
            "weights, `lenet-deconv train --resume` to finish it, or another --out"
        )

    def say(message: str) -> None:
        if not args.quiet:
            print(f"all: {message}", file=sys.stderr)

    images, labels = load_split(args)
    if chosen is not None:
        check_indices(chosen, min(len(images), args.limit or len(images)), "the test images")
    if args.train:
        say("step 1/4: train")
        given = {} if args.epochs is None else {"epochs": args.epochs}
        data_dir = resolve_data_dir(args.data_dir)
        result = train(TrainConfig(**given), data_dir, run_dir, progress=Progress(quiet=args.quiet))
        weights = result.run_dir.model_npz
    else:
        say(f"step 1/4: train (skipped: using {args.weights})")
        weights = args.weights
    params = load_params(weights)
    args.out.mkdir(parents=True, exist_ok=True)

    say("step 2/4: evaluate with both backends")
    pixels = images_to_float(images, np.float32)
    results = {b: evaluate_params(params, pixels, labels, b) for b in ("numpy", "torch")}
    differ = np.flatnonzero(results["numpy"].predictions != results["torch"].predictions)
    evaluation = {
        "weights": str(weights),
        "split": "test",
        **{backend: result.as_dict() for backend, result in results.items()},
        "same_predictions": not len(differ),
        "differing_images": differ.tolist(),
    }
    evaluation_path = write_json(args.out / "evaluation.json", evaluation)

    subset, subset_labels, set_name = first_images(images, labels, "test", args.limit)
    say(f"step 3/4: compare the backends over {len(subset)} test images")
    with progress_bar(len(subset), "compare", "img", quiet=args.quiet) as tick:
        report = crosscheck(
            params,
            image_batches(subset, COMPARE_BATCH_SIZE, np.float64),
            drift_images=check.DRIFT_IMAGES,
            device=device,
            on_batch=tick,
        )
    compare_path = write_json(args.out / "compare.json", report.as_dict())

    say("step 4/4: visualize, with the study (Zeiler & Fergus section 4) beside it")
    # The study: its figures in the gallery's folder, its entries at the end of the page.
    # It runs in a process of its own while this one draws the gallery: one core each.
    from ..study.run import plan_study, run_study

    plan = plan_study(weights, images, labels, limit=args.limit)
    if plan.snapshots is None:
        say(f"study: no feature-evolution figure: {plan.skipped}")
    (args.out / "gallery").mkdir(parents=True, exist_ok=True)
    with beside(run_study, plan, args.out / "gallery", quiet=True) as study_result:
        index = make_gallery(
            params,
            subset,
            subset_labels,
            args.out / "gallery",
            chosen=chosen,
            metrics_path=metrics_beside(weights),
            progress=say,
            set_name=set_name,
            image_name="test image",
            extra_entries=lambda: study_result().entries,
            device=str(device),
            bar=not args.quiet,
        )
        study = study_result()

    accuracy = {backend: f"{100 * result.accuracy:.2f}%" for backend, result in results.items()}
    beyond = report.drift_beyond_bound()
    failed = report.failures()
    if len(differ):
        failed.append(f"the backends predict differently on {len(differ)} test image(s)")
    lines = [
        f"weights      {weights}",
        f"evaluation   {evaluation_path}: test accuracy {accuracy['numpy']} (NumPy) / "
        f"{accuracy['torch']} (PyTorch), "
        + (f"{len(differ)} differ" if len(differ) else "same prediction for every image"),
        f"agreement    {compare_path}: float64 verdict {'PASSED' if report.passed else 'FAILED'}"
        f" over {report.images} images, {len(report.verdict.flips)} flipped switch(es); "
        + (
            "float32 drift beyond its bound at " + ", ".join(beyond)
            if beyond
            else "float32 drift within its bound"
        )
        + f" (first {report.comparisons['torch float32'].images} images)",
        *(f"  failed: {line}" for line in failed),
        f"gallery      {index}",
        f"study        backends {'agree' if study.passed else 'DISAGREE'} on "
        + ", ".join(study.agreements),
    ]
    print("\n".join(lines))
    return 0 if not failed and study.passed else 1


def _check_out(out: Path, force: bool) -> None:
    """The output policy: --out is a folder, and no earlier results are replaced without --force."""
    check_output_folder(out)
    done = [name for name in ("evaluation.json", "compare.json") if (out / name).exists()]
    if done and not force:
        raise OutputError(f"{out} already holds results ({', '.join(done)}); pass --force")
    check_gallery_folder(out / "gallery", force)
    sweep_temps(out)  # temporaries of a killed run
