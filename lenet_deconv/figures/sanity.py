"""The sanity checks drawn: similarity curves as in Adebayo et al., and rows of projections."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from numpy_lenet.atomic import atomic_path

from ..sanity.similarity import summary
from ..sanity.study import TESTS, SanityStudy
from .output import new_figure, save_png
from .page import Entry, write_index
from .panels import plot_tile_table
from .rules import RULE_LINES, RULE_TITLES, plot_rule_grid
from .tiles import gray_rgb, signed_rgb

METRIC_TITLES = {"spearman": "Spearman rank corr. of |maps|", "ssim": "SSIM of |maps|"}
TEST_TITLES = {
    "cascading": "cascading randomisation (top down)",
    "independent": "independent randomisation (one layer)",
    "labels": "model trained on permuted labels",
}
JSON_NAME = "sanity.json"
MARKERS = {"deconvnet": "o-", "gradient": "s-", "guided": "^-"}


def _stat(study: SanityStudy, test: str, step: str, rule: str, metric: str) -> tuple[float, float]:
    """Mean and standard deviation over the images (NaN when no value is defined)."""
    stats = summary(study.scores[test][step][rule][metric])
    return (float("nan"),) * 2 if stats["defined"] == 0 else (stats["mean"], stats["std"])


def figure_count(with_labels: bool) -> int:
    """How many figures write_sanity draws (for a progress bar's total)."""
    return 2 + len(TESTS) - (0 if with_labels else 1)


def plot_sanity_curves(study: SanityStudy, path: Path) -> Path:
    """Similarity to the trained model's projections per step: one line per rule, mean ± std."""
    tests = [t for t in TESTS if t in study.scores]
    figure = new_figure(10, 3.2 * len(tests))
    grid = figure.subplots(len(tests), 2, squeeze=False)
    for r, test in enumerate(tests):
        steps = study.steps(test)
        for c, metric in enumerate(METRIC_TITLES):
            axes = grid[r][c]
            if test == "labels":
                for k, rule in enumerate(study.rules):
                    mean, std = _stat(study, test, steps[0], rule, metric)
                    axes.bar(k, mean, yerr=std, capsize=4, label=RULE_TITLES[rule], color=f"C{k}")
                axes.set_xticks(range(len(study.rules)), [RULE_TITLES[r] for r in study.rules])
            else:
                # Cascading starts from the trained model itself (similarity 1 by definition).
                start = [(1.0, 0.0)] if test == "cascading" else []
                prefix = "up to " if test == "cascading" else ""
                xs = ["trained"] * len(start) + [prefix + s for s in steps]
                x = np.arange(len(xs))
                for rule in study.rules:
                    stats = start + [_stat(study, test, s, rule, metric) for s in steps]
                    means, stds = np.array(stats).T
                    axes.plot(x, means, MARKERS[rule], label=RULE_TITLES[rule], markersize=4)
                    axes.fill_between(x, means - stds, means + stds, alpha=0.15)
                axes.set_xticks(x, xs, rotation=20, fontsize=8)
                axes.set_xlabel("re-initialised layer(s)", fontsize=8)
            axes.set_ylim(-0.2, 1.05)
            axes.axhline(0, color="gray", linewidth=0.6)
            axes.grid(alpha=0.3, axis="y" if test == "labels" else "both")
            axes.set_title(f"{TEST_TITLES[test]}: {METRIC_TITLES[metric]}", fontsize=9)
    grid[0][0].legend(fontsize=8)
    figure.suptitle(
        f"Similarity to the trained model's projections, mean ± std over {len(study.images)} "
        "test images (1: unchanged)"
    )
    return save_png(figure, path)


def plot_sanity_rows(study: SanityStudy, test: str, shown: list[int], path: Path) -> Path:
    """Per shown image and rule, one row: the input, the trained model's map, then each step's."""
    steps = study.steps(test)
    rows: list[list[np.ndarray | None]] = []
    labels: list[str] = []
    for i in shown:
        for rule in study.rules:
            maps = [study.trained[rule][i]] + [study.maps[test][s][rule][i] for s in steps]
            rows.append([gray_rgb(study.images[i]), *signed_rgb(np.stack(maps))])
            labels.append(f"#{i} (class {int(study.labels[i])}) {RULE_TITLES[rule]}")
    prefix = "up to " if test == "cascading" else ""
    columns = ["input", "trained", *(prefix + s for s in steps)]
    title = f"{TEST_TITLES[test]}: the class logit projected by each rule"
    return plot_tile_table(rows, labels, columns, title, path)


def write_sanity(
    study: SanityStudy,
    out: Path,
    shown: list[int],
    *,
    sources: dict[str, str],
    advance: Callable[[str], None],
) -> Path:
    """Write every sanity figure, sanity.json and index.html into ``out``; return index.html."""
    out.mkdir(parents=True, exist_ok=True)
    record = {**study.to_json(), "sources": sources, "shown_images": shown}
    # allow_nan=False: a NaN anywhere is a bug to hear about, not invalid JSON to ship.
    text = json.dumps(record, indent=1, allow_nan=False)
    with atomic_path(out / JSON_NAME) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    entries = [_rules_entry(study, shown, out)]
    advance("figure: rules side by side")
    plot_sanity_curves(study, out / "sanity-curves.png")
    entries.append(Entry(SECTION, "sanity-curves.png", _curves_caption(study)))
    advance("figure: curves")
    for test in TESTS:
        if test not in study.maps:
            continue
        file = f"sanity-{test}.png"
        plot_sanity_rows(study, test, shown, out / file)
        entries.append(Entry(SECTION, file, ROW_CAPTIONS[test]))
        advance(f"figure: {test}")
    intro = (
        f"Adebayo et al.'s sanity checks (NeurIPS 2018) on LeNet-5 over the first "
        f"{len(study.images)} MNIST test images: each image's true-class logit projected to "
        "pixels by the three backward rules, for the trained model and for models whose "
        "weights were re-initialised (torch seed "
        f"{study.seed}, PyTorch's default initialisation) or which were trained on permuted "
        "labels. A rule that explains the trained model should change when the model does. "
        f"Every similarity value is in {JSON_NAME}."
    )
    return write_index(out, "Sanity checks of the backward rules", intro, entries)


def _rules_entry(study: SanityStudy, shown: list[int], out: Path) -> Entry:
    """The trained model's class-logit projections of the shown images under every rule."""
    file = "sanity-rules.png"
    rows = {"fc3 (class)": {rule: study.trained[rule][shown] for rule in study.rules}}
    names = ", ".join(f"#{i}" for i in shown)
    plot_rule_grid(rows, study.images[shown], f"images {names}: class logit by rule", out / file)
    lines = "; ".join(f"{RULE_TITLES[r]}: {RULE_LINES[r]}" for r in study.rules)
    return Entry(
        "Three backward rules",
        file,
        f"The trained model's class logit projected by each rule ({lines}). Red pixels push "
        "the logit up, blue ones down; each map on its own scale.",
    )


def _curves_caption(study: SanityStudy) -> str:
    """The curves' caption, with the fully randomised model's mean similarities."""
    last = study.steps("cascading")[-1]
    values = ", ".join(
        f"{RULE_TITLES[r]} {_stat(study, 'cascading', last, r, 'spearman')[0]:.2f}"
        for r in study.rules
    )
    return (
        "Similarity of each rule's projections to the trained model's, after each step of the "
        "cascading randomisation (left to right: fc3 re-initialised, then fc2 too, ... down to "
        "conv1), after re-initialising one layer alone, and for the permuted-label model. "
        "Near 1: the map barely changed, so it says little about what the model learnt. "
        f"With every layer re-initialised the mean rank correlation is {values}."
    )


SECTION = "Sanity checks (Adebayo et al. 2018)"
ROW_CAPTIONS = {
    "cascading": "Cascading randomisation: per image and rule, the trained model's map, then "
    "the maps after re-initialising fc3, fc3 and fc2, ... down to every layer.",
    "independent": "Independent randomisation: the trained model's map, then the maps with "
    "one layer re-initialised at a time.",
    "labels": "The trained model's map beside the map of the same architecture trained on "
    "permuted labels (it learnt no real digit).",
}
