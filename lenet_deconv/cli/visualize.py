"""`lenet-deconv visualize`: a gallery of PNG figures and an index.html that shows them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from numpy_lenet.rules import check_rule
from torch_lenet.evaluate import resolve_device

from ..images import parse_int_list
from ..mnist import first_images
from ..outputs import check_gallery_folder, output_folder_arg
from .options import (
    add_backend,
    add_device,
    add_force,
    add_inputs,
    add_limit,
    add_out,
    add_quiet,
    add_rule,
    add_split,
    check_at_least,
    load_inputs,
)

#: A run writes metrics.json beside its weights; the gallery picks it up unless told otherwise.
METRICS_NAME = "metrics.json"

SUMMARY = "write figures (filters, activations, deconvnet projections, top-9) and index.html"
DESCRIPTION = """\
Draw the network and its deconvnet as PNG figures with an index.html that shows
them with captions: conv filters; every layer's activations and map/max
projections of a few chosen images; the three backward rules side by side;
Zeiler & Fergus's Figure 2 for every layer (the 9 images of the set that
excite each channel most, projected and cropped to the receptive field), found
by one streaming pass over the set; and training curves when a metrics.json is
given or sits beside the weight file. Whether the backends agree is `compare`'s job.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `visualize`."""
    add_inputs(parser)
    add_out(parser, "folder for the PNGs and index.html", kind=output_folder_arg)
    parser.add_argument(
        "--images",
        help="indices (in the set) of the images shown one by one, e.g. 0,7,42 "
        "(default: the first three images of the set)",
    )
    add_backend(parser, " traces and projections")
    parser.add_argument(
        "--metrics",
        type=Path,
        help=f"a run's metrics.json for the training curves (default: {METRICS_NAME} beside "
        "the weight file, if there is one)",
    )
    parser.add_argument(
        "--all-units",
        action="store_true",
        help="top-9 figures of fc1/fc2 with every unit, not only the 16 most active",
    )
    add_rule(parser, "projection and top-9 figures (the rules section always shows all three)")
    add_split(parser)
    add_limit(parser, "use only the first N images of the split (default: all)")
    add_force(parser, "replace the gallery already in --out")
    add_device(parser)
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    """Check every argument, load weights and data, then write the gallery."""
    from ..figures import make_gallery
    from ..figures.curves import load_metrics

    # Cheap checks first, so that a typo costs nothing and writes nothing.
    check_rule(args.rule)
    chosen = None if args.images is None else parse_int_list(args.images, "--images")
    device = resolve_device(args.device)
    check_at_least(args, 1, "limit")
    check_gallery_folder(args.out, args.force)
    if args.metrics is not None:
        load_metrics(args.metrics)  # a clear error now, not after minutes of work
    params, images, labels = load_inputs(args)
    metrics = args.metrics or metrics_beside(args.weights)
    images, labels, set_name = first_images(images, labels, args.split, args.limit)
    index = make_gallery(
        params,
        images,
        labels,
        args.out,
        chosen=chosen,
        backend=args.backend,
        metrics_path=metrics,
        all_units=args.all_units,
        progress=None if args.quiet else _say,
        set_name=set_name,
        image_name=f"{args.split} image",
        rule=args.rule,
        device=str(device),
        bar=not args.quiet,
    )
    print(f"wrote {index}")
    return 0


def metrics_beside(weights: Path) -> Path | None:
    """A run's readable metrics.json beside its weight file; a warning if it is broken."""
    from ..figures.curves import load_metrics

    beside = Path(weights).parent / METRICS_NAME
    if not beside.is_file():
        return None
    try:
        load_metrics(beside)
    except ValueError as exc:
        # Not asked for by name: a broken file only costs the curves, not the gallery.
        print(f"visualize: warning: no training curves: {exc}", file=sys.stderr)
        return None
    return beside


def _say(message: str) -> None:
    print(f"visualize: {message}", file=sys.stderr)
