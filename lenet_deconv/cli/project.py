"""`lenet-deconv project`: deconvnet projections of chosen activations, to a .npy file."""

from __future__ import annotations

import argparse
import errno
import shutil
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, SELECTION_MODES
from numpy_lenet.atomic import atomic_path
from numpy_lenet.rules import check_rule
from torch_lenet.evaluate import resolve_device
from torch_lenet.weights import load_params

from ..backends import DTYPES, make_engine
from ..images import load_images_npy, parse_int_list
from ..memory_budget import MEMORY_ENV_VAR, human, memory_budget, projection_bytes_per_image
from ..mnist import load_mnist_images
from ..outputs import check_output_file, output_file_arg
from ..overflow import overflow_checked_after
from .options import (
    add_backend,
    add_device,
    add_dtype,
    add_force,
    add_inputs,
    add_out,
    add_rule,
    add_split,
)

SUMMARY = "project chosen activations of a layer back to pixel space (deconvnet, or --rule)"
DESCRIPTION = """\
Run the network on some images, keep the chosen activations of one layer, zero
the rest, and project them down to pixel space with the deconvnet (or, with
--rule, by backpropagation or guided backpropagation). The result is a .npy
array of shape (images, 1, 28, 28) when exactly one selection is asked for (one
--channel, or one --unit), and (images, selections, 1, 28, 28) otherwise
(--all-channels, several channels or units), selections in the order given.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `project`."""
    add_inputs(parser, purpose="; used with --index")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", type=Path, help="a .npy of (N, 1, 28, 28) or (N, 28, 28) pixels in [0, 1]"
    )
    source.add_argument("--index", help="MNIST image indices instead, e.g. 0 or 0,7,42")
    add_split(parser)
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
    add_backend(parser)
    add_dtype(parser, "float64")
    add_rule(parser)
    add_out(
        parser,
        "the .npy file to write (a new path or, with "
        "--force, an existing regular file that is not an input)",
        kind=output_file_arg,
    )
    add_force(parser)
    parser.add_argument(
        "--max-memory",
        metavar="SIZE",
        help=f"memory budget, e.g. 8G (default: ${MEMORY_ENV_VAR}, else 4G); the output is "
        "streamed to disk in chunks of images that fit it",
    )
    add_device(parser)


def run(args: argparse.Namespace) -> int:
    """Check the output, load weights and images, project in chunks that fit the budget."""
    check_rule(args.rule)
    device = resolve_device(args.device)
    channels, units = _selections(args)
    budget = memory_budget(args.max_memory)
    out = check_output_file(args.out, force=args.force)
    dtype = DTYPES[args.dtype]
    count = len(units) if units is not None else len(channels or range(LAYER_SHAPES[args.layer][0]))
    single = count == 1 and (channels is not None or units is not None)
    chunk = _images_per_chunk(count, np.dtype(dtype).itemsize, budget, args.dtype)
    params = load_params(args.weights)
    if args.input is not None:  # --input and --index: one of them, never both (argparse)
        images = load_images_npy(args.input, max_bytes=budget)
    else:
        indices = parse_int_list(args.index, "--index")
        images = load_mnist_images(args.data_dir or None, args.split, indices)
    engine = make_engine(params, args.backend, dtype, device)  # refuses weights that overflow dtype
    shape = (len(images), 1, 28, 28) if single else (len(images), count, 1, 28, 28)
    _check_disk(out, int(np.prod(shape)) * np.dtype(dtype).itemsize)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        # Streamed to disk chunk by chunk with plain writes: the whole output never sits in
        # memory (a memory map would, as dirty mapped pages, count against the process).
        np.lib.format.write_array_header_2_0(handle, {**header, "shape": shape})
        for start in range(0, len(images), chunk):
            with overflow_checked_after():  # NaN/inf refused just below
                trace = engine.trace(images[start : start + chunk])
                part = engine.project(trace, args.layer, args.mode, channels, units, args.rule)
            if single:
                part = part[:, 0]
            if not np.all(np.isfinite(part)):
                raise ValueError(
                    f"the projections hold NaN or infinite values (images {start}.."
                    f"{start + len(part) - 1}): the weights overflow {args.dtype}; nothing written"
                )
            handle.write(np.ascontiguousarray(part, dtype=dtype).data)
    print(f"wrote {out}: {np.dtype(dtype).name} array of shape {shape}")
    return 0


def _images_per_chunk(selections: int, itemsize: int, budget: int, dtype: str) -> int:
    """How many images to trace and project at once to stay within the memory budget."""
    per_image = projection_bytes_per_image(selections, itemsize)
    if per_image > budget:
        raise ValueError(
            f"one image with {selections} selection(s) in {dtype} needs about {human(per_image)}, "
            f"beyond the memory budget of {human(budget)}; raise it with --max-memory "
            f"(or ${MEMORY_ENV_VAR}) or ask for fewer channels"
        )
    return max(1, budget // per_image)


def _check_disk(out: Path, size: int) -> None:
    """Refuse up front an output the disk has no room for."""
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if size > free:
        raise OSError(
            errno.ENOSPC,
            f"the output needs {human(size)} but only {human(free)} is free",
            str(out),
        )


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
