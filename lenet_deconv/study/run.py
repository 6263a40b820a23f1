"""The whole study: check every input, compute the three experiments, write figures and numbers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from numpy_lenet.architecture import INPUT_SHAPE
from numpy_lenet.atomic import atomic_path
from numpy_lenet.params import Params
from torch_lenet.data import images_to_float
from torch_lenet.progress import progress_bar
from torch_lenet.weights import load_params

from ..figures.evolution import plot_evolution
from ..figures.invariance import plot_invariance
from ..figures.occlusion import plot_occlusion
from ..figures.page import Entry
from ..images import check_indices
from ..mnist import first_images
from .agreement import Agreement
from .evolution import FC_UNITS, Evolution, evolution, evolution_as_dict
from .invariance import TRANSFORMS, Invariance, invariance, invariance_as_dict
from .occlusion import FOLLOWED_LAYERS, Occluder, Occlusion, occlusion, occlusion_as_dict
from .snapshots import DEFAULT_EPOCHS, epochs_beside, load_snapshots

SECTION_EVOLUTION = "Features during training (Zeiler & Fergus, Figure 4)"
SECTION_INVARIANCE = "Invariance (Zeiler & Fergus, Figure 5)"
SECTION_OCCLUSION = "Occlusion (Zeiler & Fergus, Figure 7)"

#: What drawing an experiment's figure gives back: its JSON numbers, caption, other data files.
Drawn = tuple[dict[str, Any], str, tuple[str, ...]]


@dataclass(frozen=True)
class StudyPlan:
    """Everything the study needs, checked and loaded; nothing written yet."""

    params: Params
    weights: Path
    snapshots: dict[int, Params] | None  # None: Figure 4 is left out, ``skipped`` says why
    epochs_dir: Path | None
    skipped: str | None
    set_images: np.ndarray  # uint8 (N, 28, 28): the set Figure 4 searches
    set_name: str
    test_images: np.ndarray  # uint8 (10000, 28, 28)
    test_labels: np.ndarray
    invariance_images: list[int]
    occlusion_images: list[int]
    occluder: Occluder
    backend: str


@dataclass
class StudyResult:
    """What the study wrote: gallery entries, and each experiment's agreement."""

    entries: list[Entry] = field(default_factory=list)
    agreements: dict[str, Agreement] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the two backends agree on every experiment."""
        return all(a.passed for a in self.agreements.values())

    def summary(self) -> str:
        """One line per experiment: its agreement."""
        return "\n".join(f"{name:<10} {a.summary()}" for name, a in self.agreements.items())


def choose_epochs(epochs_dir: Path, asked: Sequence[int] | None) -> list[int]:
    """``asked`` (each must exist), or those of DEFAULT_EPOCHS the folder holds and its last."""
    if asked is not None:
        return list(asked)  # load_snapshots names any that is missing
    held = sorted(
        int(p.stem.split("-")[1])
        for p in epochs_dir.glob("epoch-*.npz")
        if p.stem.split("-")[1].isdigit()
    )
    if not held:
        raise FileNotFoundError(f"{epochs_dir} holds no epoch-NN.npz weight file")
    chosen = [e for e in DEFAULT_EPOCHS if e in held]
    return chosen if held[-1] in chosen else [*chosen, held[-1]]


def plan_study(
    weights: str | os.PathLike[str],
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    epochs_dir: str | os.PathLike[str] | None = None,
    epochs: Sequence[int] | None = None,
    limit: int | None = None,
    invariance_images: Sequence[int] = (0, 1, 2, 3, 4),
    occlusion_images: Sequence[int] = (0, 1, 2),
    occluder: Occluder | None = None,
    backend: str = "numpy",
) -> StudyPlan:
    """Check and load every input of the study; raise a clear error on the first bad one."""
    occluder = occluder if occluder is not None else Occluder()
    weights = Path(weights)
    test_images = np.asarray(test_images)
    if test_images.dtype != np.uint8 or test_images.shape[1:] != INPUT_SHAPE[1:]:
        raise ValueError(f"test images must be uint8 (N, 28, 28), got {test_images.shape}")
    for flag, indices in (
        ("--images", invariance_images),
        ("--occlusion-images", occlusion_images),
    ):
        if not indices:
            raise ValueError(f"{flag}: no image given")
        check_indices(indices, len(test_images), "the test set", f"{flag}: index")
    set_images, _, set_name = first_images(test_images, test_labels, "test", limit)
    params = load_params(weights)
    if epochs_dir is not None and not Path(epochs_dir).is_dir():
        raise FileNotFoundError(f"--epochs-dir {epochs_dir}: no such folder")
    epochs_dir = epochs_beside(weights) if epochs_dir is None else Path(epochs_dir)
    if epochs_dir is None and epochs is not None:
        raise FileNotFoundError(f"--epochs: no epochs folder beside {weights}; pass --epochs-dir")
    if epochs_dir is None:
        snapshots, skipped = None, f"no epochs/ folder beside {weights} (pass --epochs-dir)"
    else:
        snapshots, skipped = load_snapshots(epochs_dir, choose_epochs(epochs_dir, epochs)), None
    return StudyPlan(
        params,
        weights,
        snapshots,
        epochs_dir,
        skipped,
        set_images,
        set_name,
        test_images,
        np.asarray(test_labels, np.int64),
        list(invariance_images),
        list(occlusion_images),
        occluder,
        backend,
    )


def run_study(plan: StudyPlan, out: Path, *, quiet: bool = False) -> StudyResult:
    """Compute the three experiments, write their figures and numbers into ``out``."""
    result = StudyResult()
    evo = None
    if plan.snapshots is not None:
        steps = len(plan.snapshots) * len(plan.set_images)
        with progress_bar(steps, "Figure 4: search", "img", quiet=quiet) as tick:
            evo = evolution(plan.snapshots, plan.set_images, plan.backend, tick=tick)
    elif not quiet:
        print(f"study: no feature-evolution figure: {plan.skipped}", file=sys.stderr)
    picked = images_to_float(plan.test_images[plan.invariance_images], np.float64)
    with progress_bar(len(TRANSFORMS), "Figure 5: transforms", "transform", quiet=quiet) as tick:
        inv = invariance(
            plan.params,
            picked,
            plan.test_labels[plan.invariance_images],
            plan.invariance_images,
            plan.backend,
            tick=tick,
        )
    occluded = images_to_float(plan.test_images[plan.occlusion_images], np.float64)
    occluders = len(plan.occlusion_images)
    with progress_bar(occluders, "Figure 7: occlusion", "image", quiet=quiet) as tick:
        occ = occlusion(
            plan.params,
            occluded,
            plan.test_labels[plan.occlusion_images],
            plan.occlusion_images,
            plan.backend,
            plan.occluder,
            tick=tick,
        )
    out.mkdir(parents=True, exist_ok=True)
    drawn = [] if evo is None else [("evolution", SECTION_EVOLUTION, evo, _draw_evolution)]
    drawn += [
        ("invariance", SECTION_INVARIANCE, inv, _draw_invariance),
        ("occlusion", SECTION_OCCLUSION, occ, _draw_occlusion),
    ]
    with progress_bar(len(drawn), "figures", "figure", quiet=quiet) as tick:
        for name, section, numbers, draw in drawn:
            data, caption, extra = draw(plan, numbers, out)
            record = {
                "experiment": section[0].lower() + section[1:],
                "weights": str(plan.weights),
                "backend": f"{plan.backend} float64",
                **data,
            }
            with atomic_path(out / f"{name}.json") as tmp:
                tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
            agreement = numbers.agreement
            result.agreements[name] = agreement
            caption = f"{caption} {agreement.summary()}."
            result.entries.append(Entry(section, f"{name}.png", caption, (f"{name}.json", *extra)))
            tick()
    return result


def _draw_evolution(plan: StudyPlan, evo: Evolution, out: Path) -> Drawn:
    plot_evolution(evo, plan.set_name, out / "evolution.png")
    with atomic_path(out / "evolution.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{layer: ev.projections for layer, ev in evo.layers.items()})
    data = {
        "epochs_dir": str(plan.epochs_dir),
        "image_set": plan.set_name,
        **evolution_as_dict(evo),
        "projections": "evolution.npz: per layer (epoch, shown channel, 28, 28)",
    }
    epochs = ", ".join(str(e) for e in evo.epochs)
    caption = (
        f"How each feature develops during training. For the weights after epochs "
        f"{epochs} (left to right in each strip), the single strongest activation of the "
        f"feature over {plan.set_name} is projected to pixels by the deconvnet and cut to "
        f"its receptive field; every tile has its own colour scale (red: pushes the "
        f"activation up). Every conv/pool channel and fc3 unit is shown, and the "
        f"{FC_UNITS} fc1/fc2 units most active at epoch {evo.epochs[-1]}."
    )
    return data, caption, ("evolution.npz",)


def _draw_invariance(plan: StudyPlan, inv: Invariance, out: Path) -> Drawn:
    plot_invariance(inv, out / "invariance.png")
    caption = (
        f"Test images {', '.join(map(str, inv.indices))} moved vertically and horizontally "
        "(-6..+6 px), rotated (-60..+60 degrees) and scaled (0.6..1.4) by torchvision's "
        "affine transform. Columns: for every layer, the distance between the features of "
        "the moved and the original image divided by the norm of the original's "
        "(0: unchanged; 1: as large a change as the features themselves), then the "
        "probability of the true class."
    )
    return invariance_as_dict(inv), caption, ()


def _draw_occlusion(plan: StudyPlan, occ: Occlusion, out: Path) -> Drawn:
    pixels = images_to_float(plan.test_images[plan.occlusion_images], np.float64)
    plot_occlusion(occ, pixels[:, 0], out / "occlusion.png")
    o = occ.occluder
    count = len(o.offsets()) ** 2
    caption = (
        f"A {o.size}x{o.size} square of value {o.value:g} (MNIST's background is 0: such a "
        f"square erases ink) slid over each image every {o.stride} px ({count} positions, "
        "one batch per image); each map is drawn at the occluder's centres with the digit's "
        f"outline. (b) The total activation of the {' and '.join(FOLLOWED_LAYERS)} feature "
        "map that is strongest in the unoccluded image, (c) the deconvnet projection of "
        "that map's strongest activation, (d) the probability of the true class, (e) the "
        "most probable class."
    )
    return occlusion_as_dict(occ), caption, ()
