"""`lenet-deconv site`: write the explorer as a static site, a folder any web host can serve."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .options import add_data_dir, add_quiet

#: The model the repository ships, used when --weights is not given.
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "lenet5-mnist.npz"

DESCRIPTION = """\
Write the explorer into a folder: the page (HTML, CSS, JavaScript), the model's
weights, a sample of MNIST test images and every channel's top-9 test images.
The page computes the forward pass and the projections itself, in float64, so
the folder works from any static web host (a university web folder, GitHub
Pages, python -m http.server) with no Python behind it and nothing loaded from
elsewhere. `lenet-deconv serve` serves the same files on this machine.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `site` subcommand."""
    from ..explorer.site import DEFAULT_SAMPLE

    parser = subparsers.add_parser(
        "site",
        help="write the explorer as a static site (no Python needed to host it)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_site_inputs(parser)
    # A str, not a Path: Path("") is ".", and an empty --out must not mean this folder.
    parser.add_argument("--out", required=True, help="folder to write the site into")
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        help="how many test images (the first ones) the page can browse "
        f"(default: {DEFAULT_SAMPLE})",
    )
    parser.add_argument("--force", action="store_true", help="replace a site already in --out")
    add_quiet(parser)
    return parser


def add_site_inputs(parser: argparse.ArgumentParser) -> None:
    """Add --weights and --data-dir: what goes into the site (`site` and `serve` alike)."""
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help=f"weight file (.npz or .pt) (default: the shipped model, {SHIPPED_WEIGHTS.name})",
    )
    add_data_dir(parser, "; its test split feeds the sample and the top-9 search")


def build_files(args: argparse.Namespace, sample: int) -> dict[str, bytes]:
    """The site's files for the weights and test set the options name."""
    from torch_lenet.data import load_mnist, resolve_data_dir
    from torch_lenet.weights import load_params

    from ..explorer.site import site_files

    params = load_params(SHIPPED_WEIGHTS if args.weights is None else args.weights)
    images, labels = load_mnist(resolve_data_dir(args.data_dir), "test")

    def progress(batches: Iterator[np.ndarray], total: int) -> Iterator[np.ndarray]:
        from tqdm import tqdm

        return tqdm(batches, total=total, desc="top-9 search", disable=args.quiet, file=sys.stderr)

    return site_files(params, images, labels, sample=sample, progress=progress)


def check_site_folder(folder: Path, names: Iterable[str], force: bool) -> None:
    """The output policy: a folder, and none of the site's files replaced without --force."""
    from numpy_lenet.files import OutputError, check_output_folder, existing_outputs

    check_output_folder(folder)
    present = existing_outputs(folder, names)
    if present and not force:
        raise OutputError(
            f"{folder} already holds {present[0].name} (a site?); pass --force to replace it"
        )


def run(args: argparse.Namespace) -> int:
    """Build the site and write it into --out."""
    from numpy_lenet.files import atomic_path

    from ..explorer.site import site_file_names

    if args.sample < 0:
        raise ValueError(f"--sample must be 0 or more, got {args.sample}")
    if not args.out:
        raise ValueError("--out is empty; name a folder")
    out = Path(args.out)
    check_site_folder(out, site_file_names(), args.force)
    files = build_files(args, args.sample)
    for name, body in files.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(body)
    size = sum(len(body) for body in files.values())
    print(
        f"wrote {len(files)} files ({size / 1e6:.1f} MB) to {out}; serve that folder "
        "with any static web server (a browser does not run it from file://)"
    )
    return 0
