"""`lenet-deconv project`: deconvnet projections of chosen activations, to a .npy file."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, SELECTION_MODES
from numpy_lenet.params import atomic_path
from torch_lenet.weights import load_params

from ..backends import BACKENDS, DTYPES, project_images
from ..inputs import load_images_npy, load_mnist_images, parse_int_list
from .options import add_data_dir, add_device


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `project` subcommand."""
    parser = subparsers.add_parser(
        "project",
        help="project chosen activations of a layer back to pixel space (deconvnet)",
        description=(
            "Run the network on some images, keep the chosen activations of one layer, zero "
            "the rest, and project them down to pixel space with the deconvnet. The result is "
            "a .npy array of shape (images, 1, 28, 28) when exactly one selection is asked "
            "for (one --channel, or one --unit), and (images, selections, 1, 28, 28) "
            "otherwise (--all-channels, several channels or units), selections in the order "
            "given."
        ),
    )
    parser.add_argument("--weights", type=Path, required=True, help="weight file (.npz or .pt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", type=Path, help="a .npy of (N, 1, 28, 28) or (N, 28, 28) pixels in [0, 1]"
    )
    source.add_argument("--index", help="MNIST image indices instead, e.g. 0 or 0,7,42")
    add_data_dir(parser, "; used with --index")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="MNIST split")
    parser.add_argument("--layer", required=True, choices=LAYER_NAMES, help="layer to project from")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--channel", help="channel(s) of the layer, e.g. 3 or 0,5 (map/max modes)")
    which.add_argument("--all-channels", action="store_true", help="every channel of the layer")
    which.add_argument(
        "--unit",
        action="append",
        help="one activation: c,y,x for conv/pool layers, j for fc layers (unit mode; repeatable)",
    )
    parser.add_argument(
        "--mode",
        choices=SELECTION_MODES,
        default="max",
        help="map: a whole feature map; max: its strongest activation; unit: one activation "
        "(default: max)",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="numpy", help="default: numpy")
    parser.add_argument(
        "--dtype", choices=tuple(DTYPES), default="float64", help="default: float64"
    )
    parser.add_argument("--out", type=Path, required=True, help="the .npy file to write")
    add_device(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load weights and images, project, write the array atomically."""
    from torch_lenet.evaluate import resolve_device

    channels, units = _selections(args)
    device = resolve_device(args.device)
    params = load_params(args.weights)
    if args.input is not None:
        if args.index is not None:
            raise ValueError("--index picks MNIST images; it does not go with --input")
        images = load_images_npy(args.input)
    else:
        if args.index is None:
            raise ValueError("--data-dir needs --index (which MNIST images to project)")
        images = load_mnist_images(
            args.data_dir or None, args.split, parse_int_list(args.index, "--index")
        )
    projections = project_images(
        params,
        images,
        args.layer,
        args.mode,
        backend=args.backend,
        dtype=DTYPES[args.dtype],
        channels=channels,
        units=units,
        device=device,
    )
    single = (channels is not None and len(channels) == 1) or (
        units is not None and len(units) == 1
    )
    if single:
        projections = projections[:, 0]
    with atomic_path(args.out) as tmp, open(tmp, "wb") as handle:
        np.save(handle, projections)
    print(f"wrote {args.out}: {projections.dtype} array of shape {projections.shape}")
    return 0


def _selections(args: argparse.Namespace) -> tuple[list[int] | None, list[list[int]] | None]:
    """Channels and units from the flags, checked against the mode."""
    if args.unit is not None:
        if args.mode != "unit":
            raise ValueError(f"--unit goes with --mode unit, not --mode {args.mode}")
        return None, [parse_int_list(u, "--unit") for u in args.unit]
    if args.mode == "unit":
        raise ValueError("--mode unit needs --unit c,y,x (or --unit j for an fc layer)")
    if args.all_channels:
        return None, None
    return parse_int_list(args.channel, "--channel"), None
