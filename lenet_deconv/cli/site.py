"""`lenet-deconv site`: write the explorer as a static site, a folder any web host can serve."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np

from numpy_lenet.atomic import OutputError, atomic_path
from torch_lenet.progress import progress_over

from ..explorer.site import DEFAULT_SAMPLE, site_file_names, site_files
from ..outputs import check_output_folder
from .options import add_force, add_inputs, add_quiet, check_at_least, load_inputs

SUMMARY = "write the explorer as a static site (no Python needed to host it)"
DESCRIPTION = """\
Write the explorer (docs/explorer.md) into a folder: the page, the model's
weights, a sample of MNIST test images and every channel's top-9 test images.
The page computes everything itself, in float64, so any static web host serves
the folder, with no Python behind it. `lenet-deconv serve` serves the same files
on this machine.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `site`."""
    add_site_inputs(parser)
    # A str, not a Path: Path("") is ".", and an empty --out must not mean this folder.
    parser.add_argument("--out", required=True, help="folder to write the site into")
    add_force(parser, "replace a site already in --out")
    add_quiet(parser)


def add_site_inputs(parser: argparse.ArgumentParser) -> None:
    """Add --weights, --data-dir and --sample: what goes into the site (`site` and `serve`)."""
    add_inputs(parser, purpose="; its test split feeds the sample and the top-9 search")
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        help="how many test images (the first ones) the page can browse "
        f"(default: {DEFAULT_SAMPLE})",
    )


def build_files(args: argparse.Namespace) -> dict[str, bytes]:
    """The site's files for the weights and test set the options name."""
    params, images, labels = load_inputs(args)

    def progress(batches: Iterator[np.ndarray], total: int) -> Iterator[np.ndarray]:
        return progress_over(batches, total, "top-9 search", "batch", quiet=args.quiet)

    return site_files(params, images, labels, sample=args.sample, progress=progress)


def run(args: argparse.Namespace) -> int:
    """Build the site and write it into --out."""
    check_at_least(args, 0, "sample")
    # The output policy: a folder, and none of the site's files replaced without --force.
    out = check_output_folder(args.out)
    present = [name for name in site_file_names() if (out / name).exists()]
    if present and not args.force:
        raise OutputError(f"{out} already holds {present[0]} (a site?); pass --force to replace it")
    files = build_files(args)
    for name, body in files.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(body)
    size = sum(len(body) for body in files.values())
    print(
        f"wrote {len(files)} files ({size / 1e6:.1f} MB) to {out}; serve that folder "
        "with any static web server (a browser does not run it from file://)"
    )
    return 0
