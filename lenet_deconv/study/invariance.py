"""Figure 5 of Zeiler & Fergus: how features and the prediction change as a digit is moved."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES
from numpy_lenet.model import Trace
from numpy_lenet.params import Params

from .agreement import STUDY_DTYPE, Agreement, engine_pair, new_agreement


@dataclass(frozen=True)
class Transform:
    """One family of transformations: its name, what its amount means, the amounts tried."""

    name: str
    unit: str
    amounts: tuple[float, ...]
    identity: float


def _steps(low: float, high: float, step: float) -> tuple[float, ...]:
    count = round((high - low) / step) + 1
    return tuple(float(round(low + i * step, 10)) for i in range(count))


TRANSFORMS: tuple[Transform, ...] = (
    Transform("vertical translation", "pixels, + is down", _steps(-6, 6, 1), 0.0),
    Transform("horizontal translation", "pixels, + is right", _steps(-6, 6, 1), 0.0),
    Transform("rotation", "degrees, + is clockwise", _steps(-60, 60, 5), 0.0),
    Transform("scaling", "factor", _steps(0.6, 1.4, 0.05), 1.0),
)


def transform_images(images: np.ndarray, transform: Transform, amount: float) -> np.ndarray:
    """Images (N, 1, 28, 28) transformed by one amount of ``transform``, dtype kept."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    angle, translate, scale = 0.0, [0, 0], 1.0
    nearest = False
    if transform.name == "vertical translation":
        translate, nearest = [0, int(amount)], True
    elif transform.name == "horizontal translation":
        translate, nearest = [int(amount), 0], True
    elif transform.name == "rotation":
        angle = float(amount)
    elif transform.name == "scaling":
        scale = float(amount)
    else:
        raise ValueError(f"unknown transformation {transform.name!r}")
    out = F.affine(
        torch.from_numpy(np.ascontiguousarray(images)),
        angle=angle,
        translate=translate,
        scale=scale,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.NEAREST if nearest else InterpolationMode.BILINEAR,
        fill=0.0,
    )
    return out.numpy()


@dataclass(frozen=True)
class Curves:
    """One transformation's curves for every image, each (amounts A, images N)."""

    transform: Transform
    distances: dict[str, np.ndarray]  # layer -> normalised feature distance
    probability: np.ndarray  # of the true class
    predicted: np.ndarray  # the most probable class


@dataclass(frozen=True)
class Invariance:
    """Figure 5's numbers: the images, their labels, one Curves per transformation, the check."""

    indices: list[int]
    labels: np.ndarray
    curves: list[Curves]
    agreement: Agreement


def feature_distances(original: Trace, moved: Trace) -> dict[str, np.ndarray]:
    """||f(T(x_i)) - f(x_i)|| / ||f(x_i)|| per layer; moved holds A rounds of the N originals."""
    n = len(original)
    out = {}
    for layer in LAYER_NAMES:
        base = original.activations[layer].reshape(n, -1)
        other = moved.activations[layer].reshape(-1, n, base.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[layer] = np.linalg.norm(other - base, axis=2) / np.linalg.norm(base, axis=1)
    return out


def curves_of(transform: Transform, original: Trace, moved: Trace, labels: np.ndarray) -> Curves:
    """The distances and class probabilities of one transformation's traced images."""
    log_probs = moved.log_probs.reshape(len(transform.amounts), len(original), -1)
    probability = np.exp(np.take_along_axis(log_probs, labels[None, :, None], axis=2)[..., 0])
    return Curves(
        transform, feature_distances(original, moved), probability, np.argmax(log_probs, axis=2)
    )


def invariance(
    params: Params,
    images: np.ndarray,
    labels: np.ndarray,
    indices: Sequence[int],
    backend: str = "numpy",
    *,
    transforms: Sequence[Transform] = TRANSFORMS,
    tick: Callable[[], None] = lambda: None,
) -> Invariance:
    """Figure 5's numbers for float images (N, 1, 28, 28) with their true ``labels``, checked."""
    images = np.asarray(images, STUDY_DTYPE)
    labels = np.asarray(labels, np.int64)
    mine, theirs = engine_pair(params, backend)
    agreement = new_agreement(backend)
    original, original_checked = mine.trace(images), theirs.trace(images)
    agreement.compare_traces("original", original_checked, original, mine.params, images)
    result = []
    for transform in transforms:
        batch = np.concatenate([transform_images(images, transform, a) for a in transform.amounts])
        moved, checked = mine.trace(batch), theirs.trace(batch)
        agreement.compare_traces(transform.name, checked, moved, mine.params, batch)
        curves = curves_of(transform, original, moved, labels)
        other = curves_of(transform, original_checked, checked, labels)
        for layer in LAYER_NAMES:
            agreement.compare(
                f"{transform.name}/distance {layer}",
                other.distances[layer],
                curves.distances[layer],
            )
        agreement.compare(f"{transform.name}/probability", other.probability, curves.probability)
        result.append(curves)
        tick()
    return Invariance(list(indices), labels, result, agreement)


def invariance_as_dict(result: Invariance) -> dict[str, object]:
    """Figure 5's numbers as JSON-ready data."""
    return {
        "images": result.indices,
        "labels": result.labels.tolist(),
        "distance": "||f(T(x)) - f(x)|| / ||f(x)||, Euclidean over the whole layer's values "
        "(conv/pool maps after ReLU, fc1/fc2 after ReLU, fc3 logits)",
        "rows": "[amount][image]",
        "transforms": {
            c.transform.name: {
                "amount": {
                    "unit": c.transform.unit,
                    "values": list(c.transform.amounts),
                    "identity": c.transform.identity,
                },
                "distance": {layer: d.tolist() for layer, d in c.distances.items()},
                "probability_of_true_class": c.probability.tolist(),
                "predicted_class": c.predicted.tolist(),
            }
            for c in result.curves
        },
        "agreement": result.agreement.as_dict(),
    }
