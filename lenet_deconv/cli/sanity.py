"""`lenet-deconv sanity`: Adebayo et al.'s sanity checks of the three backward rules on LeNet-5."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from torch_lenet.progress import progress_bar
from torch_lenet.weights import load_params

from ..images import check_indices, parse_int_list
from ..outputs import check_gallery_folder, output_folder_arg
from ..shipped import SHUFFLED_NAME
from .options import (
    add_force,
    add_inputs,
    add_limit,
    add_out,
    add_quiet,
    check_at_least,
    load_split,
)

DEFAULT_LIMIT = 100
DEFAULT_SHOWN = (0, 1)

SUMMARY = "sanity checks of the three backward rules: randomised weights and labels"
DESCRIPTION = """\
Adebayo et al.'s sanity checks of the three rules (docs/rules.md): each of the
first --limit test images' true-class logit is projected to pixels by every rule
for the trained model, for copies with layers re-initialised (cascading and
independent, seeded as init-weights) and for a model trained on permuted labels
(--shuffled-weights), and scored against the trained model's projection
(Spearman rank correlation of absolute values, SSIM). Writes the figures,
sanity.json and an index.html to --out.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `sanity`."""
    add_inputs(parser, "the trained weight file (.npz or .pt)")
    parser.add_argument(
        "--shuffled-weights",
        type=Path,
        metavar="FILE",
        help=f"weights of the model trained on permuted labels (default: {SHUFFLED_NAME} "
        "beside --weights if it is there; without it that test is left out)",
    )
    add_out(parser, "folder for figures and JSON", kind=output_folder_arg)
    add_limit(
        parser,
        f"score over the first N MNIST test images (default: {DEFAULT_LIMIT})",
        DEFAULT_LIMIT,
    )
    parser.add_argument(
        "--images",
        help="indices (among those N) of the images drawn row by row, e.g. 0,3 "
        f"(default: {','.join(map(str, DEFAULT_SHOWN))})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="torch seed of the random re-initialisation, as init-weights --seed (default: 0)",
    )
    add_quiet(parser, "no progress bar and no summary on stdout")
    add_force(parser, "replace the results already in --out")


def run(args: argparse.Namespace) -> int:
    """Check every input, run the study, write figures, JSON and index.html."""
    began = time.perf_counter()
    # Cheap checks first: a typo costs nothing and writes nothing.
    check_at_least(args, 1, "limit")
    check_at_least(args, 0, "seed")
    shown = list(DEFAULT_SHOWN) if args.images is None else parse_int_list(args.images, "--images")
    shown = [i for i in shown if args.images is not None or i < args.limit]
    check_indices(shown, args.limit, f"the first {args.limit} test images", "--images")
    check_gallery_folder(args.out, args.force)  # the output policy, as visualize's
    trained = load_params(args.weights)
    shuffled_path = args.shuffled_weights
    if shuffled_path is None and (args.weights.parent / SHUFFLED_NAME).is_file():
        shuffled_path = args.weights.parent / SHUFFLED_NAME
    shuffled = None if shuffled_path is None else load_params(shuffled_path)

    from ..figures.sanity import JSON_NAME, figure_count, write_sanity
    from ..sanity.study import run_study, study_steps

    images, labels = load_split(args)
    if args.limit > len(images):
        raise ValueError(f"--limit {args.limit} exceeds the {len(images)} test images")
    total = study_steps(shuffled is not None) + figure_count(shuffled is not None)
    with progress_bar(total, "sanity", "step", quiet=args.quiet) as tick:

        def advance(message: str) -> None:
            tick(note=message)

        study = run_study(
            trained,
            images[: args.limit],
            labels[: args.limit],
            seed=args.seed,
            shuffled=shuffled,
            advance=advance,
        )
        index = write_sanity(
            study,
            args.out,
            shown,
            sources={"weights": str(args.weights), "shuffled_weights": str(shuffled_path)},
            advance=advance,
        )
    if not args.quiet:
        print(f"wrote {index} and {args.out / JSON_NAME} in {time.perf_counter() - began:.1f} s")
    return 0
