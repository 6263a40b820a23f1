"""The whole gallery: compute what each figure needs, draw it, and write index.html."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, is_spatial
from numpy_lenet.model import Trace
from numpy_lenet.rules import DEFAULT_RULE, RULES
from torch_lenet.data import images_to_float
from torch_lenet.progress import progress_over

from ..backends import Engine, make_engine
from ..images import check_indices
from ..rule_comparison import ink_share, project_strongest
from ..top_activations import TOP_K, TopK, image_batches, most_active_units, top_activations
from .activations import plot_activations
from .curves import load_metrics, plot_curves
from .filters import plot_filters
from .page import Entry, write_index
from .projections import plot_projections
from .rules import RULE_LINES, RULE_TITLES, plot_rule_grid
from .tiles import crop_fields
from .top9 import plot_top9

#: fc1 and fc2 in the top-9 figures: this many of the most active units, unless all are asked for.
TOP_UNITS = 16
#: fc units shown in an image's projection figure: its most active ones.
FC_UNITS_SHOWN = 8
#: Images per batch of the streaming top-9 search: bounds memory whatever the set's size.
SEARCH_BATCH = 1000
DEFAULT_CHOSEN = (0, 1, 2)
PROJECTION_MODES = ("map", "max")

FILTER_CAPTIONS = {
    "conv1": "conv1's six 5x5 filters, applied to the raw pixels: red weights reward ink, blue "
    "ones penalise it, so most filters read as oriented stroke or edge detectors.",
    "conv2": "conv2's 16 filters, each 6 slices of 5x5 (one per conv1 map): a column is one "
    "conv2 channel, a row the conv1 map it reads. One colour scale for the whole layer.",
}

Progress = Callable[[str], None]


def make_gallery(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    out: Path,
    *,
    chosen: Sequence[int] | None = None,
    backend: str = "numpy",
    metrics_path: Path | None = None,
    all_units: bool = False,
    progress: Progress | None = None,
    set_name: str = "the images",
    image_name: str = "image",
    extra_entries: Sequence[Entry] | Callable[[], Sequence[Entry]] = (),
    rule: str = DEFAULT_RULE,
    device: str = "cpu",
    bar: bool = False,
) -> Path:
    """Write every figure for uint8 ``images`` (N, 28, 28) into ``out``; return index.html."""
    say = progress or (lambda message: None)
    chosen = list(DEFAULT_CHOSEN[: len(images)] if chosen is None else chosen)
    check_indices(chosen, len(images), set_name)
    engine = make_engine(params, backend, np.float32, device)
    epochs = None if metrics_path is None else load_metrics(metrics_path)
    out.mkdir(parents=True, exist_ok=True)
    entries: list[Entry] = []

    if epochs is not None:
        plot_curves(epochs, out / "curves.png")
        entries.append(
            Entry(
                "Training",
                "curves.png",
                f"Loss and accuracy after each of the {len(epochs)} epochs, on the training set "
                "(mean over the epoch's batches) and on the test set (after the epoch).",
            )
        )
    say("filters")
    for layer, caption in FILTER_CAPTIONS.items():
        plot_filters(params, layer, out / f"filters-{layer}.png")
        entries.append(Entry("Filters", f"filters-{layer}.png", caption))
    say(f"activations and projections of {len(chosen)} chosen image(s)")
    picked = images_to_float(images[chosen], np.float32)
    trace = engine.trace(picked)
    for row, index in enumerate(chosen):
        name = f"{image_name} {index} (label {labels[index]})"
        entries += _one_image(engine, trace, row, index, picked[row], name, out, rule)
    say("the three backward rules side by side")
    entries.append(_rules(engine, trace, picked, chosen, image_name, out))
    say(f"top-{TOP_K} search over {set_name}")
    batches = image_batches(images, SEARCH_BATCH, np.float32)
    count = -(-len(images) // SEARCH_BATCH)
    batches = progress_over(batches, count, f"top-{TOP_K} search", "batch", quiet=not bar)
    topk = top_activations(batches, engine.trace)
    for layer in LAYER_NAMES:
        say(f"top-{TOP_K} figure of {layer}")
        entries.append(_top9(engine, images, topk[layer], layer, all_units, set_name, out, rule))
    # Figures already in ``out`` (the study's); a function is called only now, as `all`
    # computes the study in another process meanwhile.
    entries += extra_entries() if callable(extra_entries) else extra_entries
    title = "LeNet-5 through the deconvnet"
    kind = "deconvnet reconstructions" if rule == DEFAULT_RULE else f"{RULE_TITLES[rule]} maps"
    intro = (
        f"Figures of the {backend} backend for {set_name}. Projections are {kind} in pixel "
        "space: red pixels push the selected activation up, blue ones down; each projection "
        "is scaled to its own largest value."
    )
    return write_index(out, title, intro, entries)


def _one_image(
    engine: Engine,
    trace: Trace,
    row: int,
    index: int,
    image: np.ndarray,
    name: str,
    out: Path,
    rule: str = DEFAULT_RULE,
) -> list[Entry]:
    """Activations of one chosen image, and its projections in each mode."""
    one = trace.subset([row])
    predicted = int(np.argmax(one.log_probs[0]))
    title = f"{name}, predicted {predicted}"
    file = f"activations-{index}.png"
    plot_activations(one, 0, image, title, out / file)
    entries = [
        Entry(
            "Activations",
            file,
            f"{title}: every conv and pool map after ReLU on one scale per layer, then the fc "
            "units (fc3: the logits).",
        )
    ]
    for mode in PROJECTION_MODES:
        rows = {}
        for layer in LAYER_NAMES:
            values = one.activations[layer][0]
            # fc layers have too many units to show: keep this image's most active ones.
            shown = (
                list(range(len(values)))
                if is_spatial(layer)
                else [int(j) for j in np.argsort(-values, kind="stable")[:FC_UNITS_SHOWN]]
            )
            rows[layer] = (shown, engine.project(one, layer, mode, shown, rule=rule)[0, :, 0])
        file = f"projections-{index}-{mode}.png"
        what_rule = f"{RULE_TITLES[rule]} projections"
        plot_projections(rows, image, f"{title}: {what_rule}, {mode} mode", out / file)
        what = (
            "each whole feature map (map mode)"
            if mode == "map"
            else "only the strongest activation of each feature map (max mode)"
        )
        entries.append(
            Entry(
                what_rule[0].upper() + what_rule[1:],
                file,
                f"{title}. Each tile projects {what} back to pixel space; conv/pool rows show "
                f"every channel, fc rows the image's {FC_UNITS_SHOWN} most active units "
                "(the modes coincide there).",
            )
        )
    return entries


def _top9(
    engine: Engine,
    images: np.ndarray,
    topk: TopK,
    layer: str,
    all_units: bool,
    set_name: str,
    out: Path,
    rule: str = DEFAULT_RULE,
) -> Entry:
    """Zeiler & Fergus's Figure 2 for one layer, from the streaming search's result."""
    count = topk.values.shape[1]
    if layer in ("fc1", "fc2") and not all_units:
        channels = [int(c) for c in most_active_units(topk, min(TOP_UNITS, count))]
    else:
        channels = list(range(count))
    k = len(topk)
    # Channel-major: entries [c * k + r] are rank r of channel c.
    picks = topk.images[:, channels].T.ravel()
    units = [topk.unit(layer, r, c) for c in channels for r in range(k)]
    pixels = images_to_float(images[picks], np.float32)
    projected = engine.project_each(engine.trace(pixels), layer, units, rule)[:, 0]
    unit_array = np.asarray(units)
    crops = crop_fields(projected, layer, unit_array)
    patches = crop_fields(pixels[:, 0], layer, unit_array)
    shape = (len(channels), k, *crops.shape[1:])
    file = f"top9-{layer}.png"
    plot_top9(
        layer,
        channels,
        crops.reshape(shape),
        patches.reshape(shape),
        topk.values[:, channels],
        out / file,
    )
    which = (
        f"the {len(channels)} units with the highest activation over the set"
        if len(channels) < count
        else f"all {count} {'channels' if is_spatial(layer) else 'units'}"
    )
    return Entry(
        f"Top {k} images per channel (Zeiler & Fergus, Figure 2)",
        file,
        f"{layer}, {which}: the {k} images of {set_name} that drive each one hardest, each "
        "projected on its own from its strongest activation (max mode), beside the input "
        "patch under that activation's receptive field. The title gives the strongest and "
        "the 9th activation." + ("" if rule == DEFAULT_RULE else f" Rule: {RULE_TITLES[rule]}."),
    )


def _rules(
    engine: Engine,
    trace: Trace,
    picked: np.ndarray,
    chosen: Sequence[int],
    image_name: str,
    out: Path,
) -> Entry:
    """Each layer's strongest activation of each chosen image, projected under every rule."""
    projections = {layer: project_strongest(engine, trace, layer) for layer in LAYER_NAMES}
    pixels = picked[:, 0]
    shares = ", ".join(
        f"{RULE_TITLES[r]} {100 * ink_share(projections['fc3'][r], pixels).mean():.0f}%"
        for r in RULES
    )
    names = ", ".join(str(i) for i in chosen)
    file = "rules.png"
    plot_rule_grid(
        projections, pixels, f"{image_name}s {names}: the three backward rules", out / file
    )
    lines = "; ".join(f"{RULE_TITLES[r]} {RULE_LINES[r]}" for r in RULES)
    return Entry(
        "Three backward rules",
        file,
        "The deconvnet and its two siblings share the unpooling with switches and the "
        "transposed filters and differ only in each mirror ReLU step, where the forward "
        f"ReLU's input was z and the signal coming down is r: {lines}. Each row projects "
        "the layer's strongest activation of each image under each rule. conv1 and pool1 "
        "agree (one positive activation passes every rule); from conv2 up the deconvnet also "
        "sends signal through units the forward pass switched off, the gradient keeps "
        "negative signal, and guided backprop keeps only positive evidence that the forward "
        f"pass used. Share of each fc3 map on the digit's ink here: {shares}.",
    )
