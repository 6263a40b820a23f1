"""`lenet-deconv study`: Zeiler & Fergus's section 4 (training, invariance, occlusion)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..images import parse_int_list
from ..outputs import check_gallery_folder, output_folder_arg
from .options import (
    add_backend,
    add_force,
    add_inputs,
    add_limit,
    add_out,
    add_quiet,
    check_at_least,
    load_split,
)

SUMMARY = "Zeiler & Fergus section 4: features during training, invariance, occlusion"
DESCRIPTION = """\
Three experiments of Zeiler & Fergus's section 4 (docs/study.md), each computed
in float64 by --backend and checked array by array by the other backend:
  evolution   Figure 4: each feature's strongest activation projected after
              each of --epochs (weights from --epochs-dir);
  invariance  Figure 5: feature distances and p(true class) as --images are
              translated, rotated and scaled;
  occlusion   Figure 7: a square slid over --occlusion-images.
Writes PNGs, their numbers (JSON) and an index.html to --out. Exit status 1 when
the backends disagree (after everything is written).
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `study`."""
    add_inputs(parser)
    add_out(parser, "folder for the PNGs, JSON and index.html", kind=output_folder_arg)
    parser.add_argument(
        "--epochs-dir",
        type=Path,
        metavar="DIR",
        help="a run's per-epoch weights, epoch-NN.npz (default: epochs/ beside --weights; "
        "without one the feature-evolution figure is left out)",
    )
    parser.add_argument(
        "--epochs",
        metavar="LIST",
        help="epochs shown in the evolution figure, increasing, e.g. 1,2,5,10,15 (default: "
        "those of 1,2,5,10,15 that the folder holds, and its last epoch)",
    )
    add_limit(
        parser, "search the first N test images for the evolution figure (default: all 10,000)"
    )
    for flag, kind, metavar, default, what in (
        ("--images", str, "LIST", "0,1,2,3,4", "test images of the invariance figure"),
        ("--occlusion-images", str, "LIST", "0,1,2", "test images of the occlusion figure"),
        ("--occluder-size", int, "PX", 8, "side of the square occluder in pixels"),
        ("--occluder-stride", int, "PX", 2, "pixels between occluder positions"),
        ("--occluder-value", float, "V", "0", "pixel value in [0, 1]; 0 is MNIST's background"),
    ):
        parser.add_argument(
            flag, type=kind, metavar=metavar, default=default, help=f"{what} (default: {default})"
        )
    add_backend(parser, " the figures; the other checks them")
    add_quiet(parser, "no progress bars, only the summary")
    add_force(parser, "replace a study or gallery already in --out")


def run(args: argparse.Namespace) -> int:
    """Check every input, run the study, print where its files are and whether backends agree."""
    from ..figures.page import write_index
    from ..study.occlusion import Occluder
    from ..study.run import plan_study, run_study
    from ..study.snapshots import check_epochs

    # Cheap checks first, so that a typo costs nothing and writes nothing.
    epochs = None if args.epochs is None else check_epochs(parse_int_list(args.epochs, "--epochs"))
    invariance_images = parse_int_list(args.images, "--images")
    occlusion_images = parse_int_list(args.occlusion_images, "--occlusion-images")
    occluder = Occluder(args.occluder_size, args.occluder_stride, args.occluder_value)
    check_at_least(args, 1, "limit")
    check_gallery_folder(args.out, args.force)  # the output policy, as visualize's
    images, labels = load_split(args)
    plan = plan_study(
        args.weights,
        images,
        labels,
        epochs_dir=args.epochs_dir,
        epochs=epochs,
        limit=args.limit,
        invariance_images=invariance_images,
        occlusion_images=occlusion_images,
        occluder=occluder,
        backend=args.backend,
    )
    result = run_study(plan, args.out, quiet=args.quiet)
    index = write_index(
        args.out,
        "LeNet-5: Zeiler & Fergus's section 4",
        f"Weights {args.weights}; figures computed by the {args.backend} backend in float64 "
        "and checked by the other backend. Projections: red pixels push the projected "
        "activation up, blue ones down.",
        result.entries,
    )
    print(result.summary())
    print(f"wrote {index}")
    return 0 if result.passed else 1
