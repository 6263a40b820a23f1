"""Figure 7 of Zeiler & Fergus: what an image's features and class depend on (docs/study.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from numpy_lenet.architecture import INPUT_SHAPE, LAYER_SHAPES
from numpy_lenet.params import Params

from ..rule_comparison import strongest_units
from .agreement import STUDY_DTYPE, Agreement, engine_pair, new_agreement

#: The layers whose strongest feature map is followed (the paper's layer 5 is its top conv).
FOLLOWED_LAYERS: tuple[str, ...] = ("conv2", "pool2")


@dataclass(frozen=True)
class Occluder:
    """A ``size`` x ``size`` square of ``value`` placed every ``stride`` pixels, wholly inside."""

    size: int = 8
    stride: int = 2
    value: float = 0.0

    def __post_init__(self) -> None:
        side = INPUT_SHAPE[1]
        if not 1 <= self.size <= side:
            raise ValueError(f"--occluder-size must be 1..{side} pixels, got {self.size}")
        if not 1 <= self.stride <= side:
            raise ValueError(f"--occluder-stride must be 1..{side} pixels, got {self.stride}")
        if not (np.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ValueError(f"--occluder-value must lie in [0, 1], got {self.value}")

    def offsets(self) -> np.ndarray:
        """The occluder's top (or left) edges along one axis: 0, stride, ... while it fits."""
        return np.arange(0, INPUT_SHAPE[1] - self.size + 1, self.stride)

    def centres(self) -> np.ndarray:
        """The occluder's centres along one axis, in pixel coordinates (pixel i spans i..i+1)."""
        return self.offsets() + self.size / 2

    def variants(self, image: np.ndarray) -> np.ndarray:
        """Every occluded copy (P * P, 1, 28, 28) of one image (1, 28, 28), row-major positions."""
        offsets = self.offsets()
        out = np.repeat(np.asarray(image)[None], len(offsets) ** 2, axis=0)
        for k, (top, left) in enumerate(product(offsets, repeat=2)):
            out[k, :, top : top + self.size, left : left + self.size] = self.value
        return out


@dataclass(frozen=True)
class FollowedMap:
    """One layer's strongest feature map of an image, under occlusion."""

    layer: str
    unit: tuple[int, int, int]  # the map's strongest activation in the unoccluded image
    activation: float
    unoccluded_total: float
    total: np.ndarray  # (P, P): the map's sum with the occluder at each position
    projection: np.ndarray  # (28, 28): the deconvnet projection of ``unit``


@dataclass(frozen=True)
class ImageOcclusion:
    """One image's maps: followed feature maps, p(true class) and the most probable class."""

    index: int
    label: int
    predicted: int
    probability: float
    maps: dict[str, FollowedMap]
    true_probability: np.ndarray
    predicted_class: np.ndarray


@dataclass(frozen=True)
class Occlusion:
    """Figure 7's numbers: the occluder, one ImageOcclusion per image, and the backends' check."""

    occluder: Occluder
    images: list[ImageOcclusion]
    agreement: Agreement


def occlusion(
    params: Params,
    images: np.ndarray,
    labels: Sequence[int],
    indices: Sequence[int],
    backend: str = "numpy",
    occluder: Occluder = Occluder(),
    *,
    tick: Callable[[], None] = lambda: None,
) -> Occlusion:
    """Figure 7's numbers for float images (N, 1, 28, 28): one batch per image, both backends."""
    mine, theirs = engine_pair(params, backend)
    agreement = new_agreement(backend)
    side = len(occluder.offsets())
    result = []
    for image, label, index in zip(np.asarray(images, STUDY_DTYPE), labels, indices, strict=True):
        name = f"image {index}"
        batch = np.concatenate([image[None], occluder.variants(image)])
        trace, checked = mine.trace(batch), theirs.trace(batch)
        agreement.compare_traces(name, checked, trace, mine.params, batch)
        label = int(label)
        maps, first = {}, trace.subset([0])
        for layer in FOLLOWED_LAYERS:
            # The unoccluded image's (first in the batch) largest activation; ties: first (c, y, x).
            unit = strongest_units(trace.activations[layer][:1])[0]
            totals = trace.activations[layer][1:, unit[0]].sum(axis=(1, 2))
            projection = mine.project_each(first, layer, [unit])[0, 0]
            agreement.compare(
                f"{name}/{layer} total",
                checked.activations[layer][1:, unit[0]].sum(axis=(1, 2)),
                totals,
            )
            agreement.compare(
                f"{name}/{layer} projection",
                theirs.project_each(first, layer, [unit])[0, 0],
                projection,
            )
            maps[layer] = FollowedMap(
                layer,
                unit,
                float(trace.activations[layer][(0, *unit)]),
                float(trace.activations[layer][0, unit[0]].sum()),
                totals.reshape(side, side),
                projection,
            )
        probability = np.exp(trace.log_probs[:, label])
        agreement.compare(f"{name}/probability", np.exp(checked.log_probs[:, label]), probability)
        predicted = np.argmax(trace.log_probs, axis=1)
        result.append(
            ImageOcclusion(
                int(index),
                label,
                int(predicted[0]),
                float(probability[0]),
                maps,
                probability[1:].reshape(side, side),
                predicted[1:].reshape(side, side),
            )
        )
        tick()
    return Occlusion(occluder, result, agreement)


def occlusion_as_dict(result: Occlusion) -> dict[str, Any]:
    """Figure 7's numbers as JSON-ready data."""
    o = result.occluder
    return {
        "occluder": {
            "size": o.size,
            "stride": o.stride,
            "value": o.value,
            "offsets": o.offsets().tolist(),
            "positions": "row-major: map[i][j] has the occluder's top edge at offsets[i] and "
            "its left edge at offsets[j]",
        },
        "images": [
            {
                "index": im.index,
                "label": im.label,
                "predicted": im.predicted,
                "probability_of_true_class": im.probability,
                "followed_maps": {
                    layer: {
                        "channel": m.unit[0],
                        "strongest_unit": list(m.unit),
                        "strongest_activation": m.activation,
                        "unoccluded_total": m.unoccluded_total,
                        "total_activation": m.total.tolist(),
                        "projection": m.projection.tolist(),
                    }
                    for layer, m in im.maps.items()
                },
                "probability_of_true_class_map": im.true_probability.tolist(),
                "most_probable_class_map": im.predicted_class.tolist(),
            }
            for im in result.images
        ],
        "layer_shapes": {layer: list(LAYER_SHAPES[layer]) for layer in FOLLOWED_LAYERS},
        "agreement": result.agreement.as_dict(),
    }
