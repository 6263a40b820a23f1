"""`lenet-deconv compare`: the spec's end-to-end agreement of the two backends over MNIST."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch_lenet.data import SPLITS

from ..crosscheck.check import TOLERANCE, CrossCheck, crosscheck
from .options import add_data_dir

#: Images per batch: about 2 GB of memory at the peak (fc1's 120 projections per image).
DEFAULT_BATCH_SIZE = 200
#: Flipped switches listed in the text report; --json lists them all.
MAX_FLIPS_SHOWN = 20

DESCRIPTION = """\
The spec's end-to-end agreement: run the NumPy backend in float64 (the reference)
and the PyTorch backend in float32 on the same weights and MNIST images, and
compare every named layer of the forward pass and every deconvnet projection -
every layer, every mode (map, max, and unit at each channel's centre; fc layers
once, as mode "fc") and every channel - by relative error
||torch - numpy|| / ||numpy|| over the whole array of a channel's projections.

A pool window whose switch the two backends chose differently is listed with the
two competing values; it is a near-tie when their gap is within what float32
rounding explains (tolerance x the largest value of that plane). Projections whose
signal passes through such a window are "crossed": left out of their channel's
error, counted, and measured on their own, as the spec allows.

Exit status: 0 when everything is within the tolerance and every flip is a
near-tie; 1 when the backends disagree (what failed goes to stderr); 2 for bad
input (missing or corrupt weights, unreadable MNIST, bad option values).
The whole test set takes about 6.5 minutes on 2 CPU cores; --limit N checks the
first N images only.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `compare` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="NumPy float64 vs PyTorch float32 over MNIST: forward, switches and every projection",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--weights", type=Path, required=True, help="weight file (.npz or .pt)")
    add_data_dir(parser)
    parser.add_argument("--split", choices=SPLITS, default="test", help="default: test")
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="only the first N images of the split (default: all). The spec's bound is for the "
        "whole test set: over a few images a channel's error can rest on one tiny activation "
        "(a unit-mode centre at 0.003 where float32 keeps 5 digits) and exceed it",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"images per batch; memory grows with it, about 2 GB at {DEFAULT_BATCH_SIZE} "
        f"(default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=TOLERANCE,
        metavar="T",
        help=f"relative error bound, also scaling the near-tie bound (default: the spec's "
        f"{TOLERANCE:g})",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download MNIST: fail with a clear error if the files are missing",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (every flipped switch included; infinite or NaN numbers "
        'as the strings "inf", "nan") instead of the text report',
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (shown only when stderr is a terminal)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the arguments, load weights and images, cross-check, report; 1 on disagreement."""
    from torch_lenet.data import load_mnist, resolve_data_dir
    from torch_lenet.weights import load_params

    from ..topk import image_batches

    # The cheap checks first: a typo should not wait for MNIST or the first batch.
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not (math.isfinite(args.tolerance) and args.tolerance > 0):
        raise ValueError(f"--tolerance must be a positive number, got {args.tolerance}")
    params = load_params(args.weights)
    images, _ = load_mnist(
        resolve_data_dir(args.data_dir), args.split, download=not args.no_download
    )
    total = len(images)
    if args.limit is not None:
        images = images[: args.limit]

    with _progress(len(images), quiet=args.quiet) as tick:
        report = crosscheck(
            params,
            image_batches(images, args.batch_size),
            tolerance=args.tolerance,
            on_batch=tick,
        )
    if args.json:
        document = {"weights": str(args.weights), "split": args.split, **report.as_dict()}
        print(json.dumps(json_ready(document)))
    else:
        print(format_report(report, str(args.weights), args.split, total))
    if report.passed:
        return 0
    print(
        "lenet-deconv compare: the backends DISAGREE beyond the spec:\n"
        + "\n".join(f"  {line}" for line in failures(report)),
        file=sys.stderr,
    )
    return 1


@contextmanager
def _progress(total: int, *, quiet: bool) -> Iterator[Callable[[int], object]]:
    """Yield ``tick(images)`` for each finished batch: a tqdm bar on stderr when it is a
    terminal (and not ``quiet``), nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda count: None
        return
    from tqdm import tqdm

    bar = tqdm(
        total=total, desc="compare", unit="img", leave=False, file=sys.stderr, dynamic_ncols=True
    )
    try:
        yield bar.update
    finally:
        bar.close()


def json_ready(value: Any) -> Any:
    """``value`` with every infinite or NaN float as the string "inf", "-inf" or "nan".

    json.dumps would write them as Infinity and NaN, which strict JSON parsers reject.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def failures(report: CrossCheck) -> list[str]:
    """One line per way the report falls outside the spec (empty when it passed)."""
    tol = report.tolerance
    lines = [
        f"forward {layer}: relative error {error:.3g} > {tol:g}"
        for layer, error in report.forward_error.items()
        if not error <= tol
    ]
    real = [f for f in report.flips if not f.near_tie]
    if real:
        worst = max(real, key=lambda f: f.gap / f.bound if f.bound > 0 else math.inf)
        lines.append(
            f"{len(real)} flipped switch(es) with a gap beyond rounding, e.g. {worst.pool} "
            f"image {worst.image} channel {worst.channel} window ({worst.y}, {worst.x}): "
            f"gap {worst.gap:.3g} > bound {worst.bound:.3g}"
        )
    for stats in report.projections.values():
        over = stats.over(tol)
        if over:
            errors = stats.errors
            worst_channel = max(over, key=lambda c: errors[c])
            shown = ", ".join(map(str, over[:10])) + (", ..." if len(over) > 10 else "")
            lines.append(
                f"projections {stats.layer}/{stats.mode}: {len(over)} channel(s) over {tol:g} "
                f"({shown}); worst channel {worst_channel} at {errors[worst_channel]:.3g}"
            )
    return lines


def format_report(
    report: CrossCheck,
    weights: str,
    split: str,
    total: int | None = None,
    max_flips: int = MAX_FLIPS_SHOWN,
) -> str:
    """The human-readable report: forward errors, projections table, flipped switches, verdict.

    ``total`` is the size of the split, to say when only its first images were compared.
    """
    tol = report.tolerance
    scope = f"{report.images} {split} images"
    if total is not None and report.images < total:
        scope = f"the first {report.images} of {total} {split} images"
    lines = [
        f"NumPy float64 (reference) vs PyTorch float32 on {scope}, weights {weights}",
        f"relative error ||torch - numpy|| / ||numpy||, tolerance {tol:g}",
        "",
        "forward pass (largest relative error of a batch):",
    ]
    lines += [
        f"  {layer:<6} {_error(error)}{_mark(error, tol)}"
        for layer, error in report.forward_error.items()
    ]
    lines += [
        "",
        "projections (relative error of each channel over all its projections, crossed ones "
        "left out):",
        f"  {'layer':<6} {'mode':<5} {'projections':>11} {'max error':>10} {'worst ch':>8} "
        f"{'ch over':>7} {'crossed':>7} {'crossed max':>11}",
    ]
    for stats in report.projections.values():
        row = stats.as_dict(tol)
        crossed_max = (
            _error(row["crossed_max_relative_error"]) if row["crossed_flipped_switch"] else "-"
        )
        lines.append(
            f"  {row['layer']:<6} {row['mode']:<5} {row['projections']:>11} "
            f"{_error(row['max_relative_error']):>10} {row['worst_channel']:>8} "
            f"{len(row['channels_over_tolerance']):>7} {row['crossed_flipped_switch']:>7} "
            f"{crossed_max:>11}{_mark(row['max_relative_error'], tol)}"
        )
    lines += ["", *format_flips(report, max_flips), ""]
    if report.passed:
        lines.append(
            f"PASSED: every layer, mode and channel within {tol:g}"
            + (", every flipped switch a near-tie" if report.flips else ", no flipped switch")
        )
    else:
        lines.append("FAILED: " + "; ".join(failures(report)))
    return "\n".join(lines)


def format_flips(report: CrossCheck, max_flips: int = MAX_FLIPS_SHOWN) -> list[str]:
    """The flipped switches, at most ``max_flips`` of them, with what decides each verdict."""
    flips = report.flips
    if not flips:
        return ["switch flips: none (both backends chose the same position in every pool window)"]
    ties = sum(f.near_tie for f in flips)
    lines = [
        f"switch flips: {len(flips)} ({ties} near-tie(s), {len(flips) - ties} beyond rounding); "
        "values are NumPy's float64 pre-pool values at each backend's chosen position",
        f"  {'pool':<5} {'image':>6} {'ch':>3} {'y':>2} {'x':>2} {'numpy pick':>22} "
        f"{'torch pick':>22} {'gap':>9} {'bound':>9}  verdict",
    ]
    for f in flips[:max_flips]:
        lines.append(
            f"  {f.pool:<5} {f.image:>6} {f.channel:>3} {f.y:>2} {f.x:>2} "
            f"{f.numpy_value:>22.16g} {f.torch_pick_value:>22.16g} {f.gap:>9.3g} "
            f"{f.bound:>9.3g}  {'near-tie' if f.near_tie else 'BEYOND ROUNDING'}"
        )
    if len(flips) > max_flips:
        lines.append(f"  ... and {len(flips) - max_flips} more (--json lists them all)")
    return lines


def _error(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def _mark(error: float, tol: float) -> str:
    """A flag after a row whose error is over the tolerance."""
    return "" if error <= tol else "  <- over tolerance"
