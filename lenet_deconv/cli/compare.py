"""`lenet-deconv compare`: the end-to-end agreement of the two backends over MNIST."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from numpy_lenet.rules import check_rule
from torch_lenet.evaluate import resolve_device
from torch_lenet.progress import progress_bar

from ..crosscheck.agreement import VERDICT_TOLERANCE
from ..crosscheck.check import DRIFT_FACTOR, DRIFT_IMAGES, DRIFTS, VERDICT, CrossCheck, crosscheck
from ..crosscheck.ties import Flip
from ..top_activations import image_batches
from .options import (
    add_device,
    add_inputs,
    add_limit,
    add_no_download,
    add_quiet,
    add_rule,
    add_split,
    check_at_least,
    load_inputs,
)

#: Images per batch: a few hundred MB at the peak.
DEFAULT_BATCH_SIZE = 100
#: Flipped switches listed in the text report; --json lists them all.
MAX_FLIPS_SHOWN = 20

SUMMARY = "NumPy vs PyTorch over MNIST in float64 (the verdict) and float32 (drift report)"
DESCRIPTION = f"""\
The end-to-end agreement of the two backends (docs/agreement.md). The verdict:
NumPy (the reference) and PyTorch, both in float64, run their own forward pass,
selections and deconvnet on the same weights and images; every activation,
switch (but near-ties within rounding) and projection - every layer, mode and
channel - must agree within {VERDICT_TOLERANCE:g}. The float32 drift report (skip
it with --no-drift; on the first {DRIFT_IMAGES} images unless --drift-images says
otherwise) flags PyTorch float32 errors beyond {DRIFT_FACTOR:g} x NumPy float32's own,
without changing the exit status.

Exit status: 0 when the verdict holds; 1 when the backends disagree (what failed
goes to stderr); 2 for bad input (missing or corrupt weights, unreadable MNIST,
bad option values, --device cuda without CUDA).
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `compare`."""
    add_inputs(parser)
    add_split(parser)
    add_limit(
        parser, "only the first N images of the split (default: all); the verdict holds for any N"
    )
    add_rule(parser, "projections compared")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"images per batch; memory grows with it (default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--no-drift",
        action="store_true",
        help="skip the float32 drift report (the float64 verdict only)",
    )
    parser.add_argument(
        "--drift-images",
        default=str(DRIFT_IMAGES),
        metavar="N|all",
        help=f"the float32 drift report on the first N images, or all (default: {DRIFT_IMAGES})",
    )
    add_device(parser)
    add_no_download(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (every flipped switch included; infinite or NaN numbers "
        'as the strings "inf", "nan") instead of the text report',
    )
    add_quiet(parser)


def run(args: argparse.Namespace) -> int:
    """Check the arguments, load weights and images, cross-check, report; 1 on disagreement."""
    # The cheap checks first: a typo should not wait for MNIST or the first batch.
    check_at_least(args, 1, "limit", "batch_size")
    check_rule(args.rule)
    sampled = drift_images(args.drift_images)
    device = resolve_device(args.device)
    params, images, _ = load_inputs(args)
    total = len(images)
    images = images[: args.limit]
    with progress_bar(len(images), "compare", "img", quiet=args.quiet) as tick:
        report = crosscheck(
            params,
            image_batches(images, args.batch_size),
            rule=args.rule,
            drift=not args.no_drift,
            drift_images=sampled,
            device=device,
            on_batch=tick,
        )
    if args.json:
        print(json.dumps({"weights": str(args.weights), "split": args.split, **report.as_dict()}))
    else:
        print(format_report(report, str(args.weights), args.split, total))
    if report.passed:
        return 0
    print(
        "lenet-deconv compare: the backends DISAGREE (docs/agreement.md):\n"
        + "\n".join(f"  {line}" for line in report.failures()),
        file=sys.stderr,
    )
    return 1


def drift_images(text: str) -> int | None:
    """--drift-images: a number of images (at least 1), or ``all`` (None)."""
    if text == "all":
        return None
    if not text.isdecimal() or int(text) < 1:
        raise ValueError(
            f"--drift-images must be a number of images (at least 1) or all, got {text}"
        )
    return int(text)


def format_report(report: CrossCheck, weights: str, split: str, total: int) -> str:
    """The text report (``total``: the split's size): verdict tables, drift report, verdict."""
    tol = VERDICT_TOLERANCE
    scope = f"{report.images} {split} images"
    if report.images < total:
        scope = f"the first {report.images} of {total} {split} images"
    verdict = report.verdict
    lines = [
        f"NumPy float64 (reference) vs PyTorch float64 on {scope}, weights {weights}, "
        f"rule {report.rule}",
        f"the verdict: relative error within {tol:g} (docs/agreement.md)",
        "",
        "forward pass (relative error over all images):",
    ]
    lines += [
        f"  {layer:<6} {error:.3g}{_mark(error <= tol, 'over tolerance')}"
        for layer, error in verdict.forward_errors().items()
    ]
    lines += [
        "",
        "projections, both backends from NumPy's trace (worst relative error of one projection):",
        f"  {'layer':<6} {'mode':<5} {'projections':>11} {'max error':>10} {'worst ch':>8} "
        f"{'image':>6}",
    ]
    for row in report.summaries[VERDICT]:
        lines.append(
            f"  {row['layer']:<6} {row['mode']:<5} {row['projections']:>11} "
            f"{row['max_relative_error']:>10.3g} {row['worst_channel']:>8} "
            f"{row['worst_image']:>6}{_mark(row['max_relative_error'] <= tol, 'over tolerance')}"
        )
    lines += ["", *format_flips(verdict.flips, "float64")]
    if DRIFTS[1] in report.comparisons:
        lines += ["", *format_drift(report)]
    lines.append("")
    if report.passed:
        lines.append(
            f"PASSED: every activation, switch and projection within {tol:g}"
            + (", every flipped switch a near-tie" if verdict.flips else "")
        )
    else:
        lines.append("FAILED: " + "; ".join(report.failures()))
    return "\n".join(lines)


def format_drift(report: CrossCheck) -> list[str]:
    """The float32 drift table: NumPy's and PyTorch's float32 error and PyTorch's bound."""
    sampled = report.comparisons[DRIFTS[1]].images
    scope = (
        f"the first {sampled} of {report.images} images (--drift-images all for every one)"
        if sampled < report.images
        else f"{sampled} images"
    )
    lines = [
        f"float32 drift against the float64 reference on {scope} (a report; bound = "
        f"{DRIFT_FACTOR:g} x NumPy float32's own worst error, docs/agreement.md):",
        f"  {'layer':<6} {'mode':<5} {'numpy f32':>10} {'torch f32':>10} {'bound':>10} "
        f"{'set aside':>9}",
    ]
    for mine, theirs in zip(*(report.summaries[name] for name in DRIFTS), strict=True):
        lines.append(
            f"  {theirs['layer']:<6} {theirs['mode']:<5} {mine['max_relative_error']:>10.3g} "
            f"{theirs['max_relative_error']:>10.3g} {theirs['bound']:>10.3g} "
            f"{mine['set_aside'] + theirs['set_aside']:>9}"
            + _mark(theirs["max_relative_error"] <= theirs["bound"], "beyond bound")
        )
    forward = {name: report.comparisons[name].forward_errors() for name in DRIFTS}
    lines.append(
        "  forward, worst layer: "
        + ", ".join(
            f"{name} {max(errors.values()):.3g} ({max(errors, key=errors.get)})"
            for name, errors in forward.items()
        )
    )
    for name in DRIFTS:
        flips = report.comparisons[name].flips
        lines += [f"  {name}:", *("  " + line for line in format_flips(flips, "float32"))]
    beyond = report.drift_beyond_bound()
    lines.append(
        "  drift: PyTorch float32 within its bound everywhere"
        if not beyond
        else "  drift: PyTorch float32 beyond its bound at " + ", ".join(beyond)
    )
    return lines


def format_flips(flips: Sequence[Flip], precision: str) -> list[str]:
    """The flipped switches, at most MAX_FLIPS_SHOWN of them, with what decides each."""
    if not flips:
        return [f"switch flips ({precision}): none"]
    ties = sum(f.near_tie for f in flips)
    lines = [
        f"switch flips ({precision}): {len(flips)} ({ties} near-tie(s), {len(flips) - ties} "
        "not); values are the reference's pre-pool values at each side's pick",
        f"  {'pool':<5} {'image':>6} {'ch':>3} {'y':>2} {'x':>2} {'reference pick':>22} "
        f"{'other pick':>22} {'gap':>9} {'bound':>9}  verdict",
    ]
    for f in flips[:MAX_FLIPS_SHOWN]:
        lines.append(
            f"  {f.pool:<5} {f.image:>6} {f.channel:>3} {f.y:>2} {f.x:>2} "
            f"{f.reference_value:>22.16g} {f.other_pick_value:>22.16g} {f.gap:>9.3g} "
            f"{f.bound:>9.3g}  {'near-tie' if f.near_tie else f.why.upper()}"
        )
    if len(flips) > MAX_FLIPS_SHOWN:
        lines.append(f"  ... and {len(flips) - MAX_FLIPS_SHOWN} more (--json lists them all)")
    return lines


def _mark(within: bool, what: str) -> str:
    """A flag after a row whose error is not within its limit."""
    return "" if within else f"  <- {what}"
