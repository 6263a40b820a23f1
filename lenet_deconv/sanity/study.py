"""The sanity study: the trained model's class-logit projections against randomised models'."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES
from numpy_lenet.model import Trace
from numpy_lenet.rules import RULES
from torch_lenet.data import images_to_float

from ..backends import Engine, make_engine
from ..rule_comparison import ink_share, project_strongest, switched_off_share
from .randomize import WEIGHT_LAYERS, cascading, independent, initial_params
from .similarity import similarities, summary

#: The randomisation tests, in the order figures and JSON show them.
TESTS: tuple[str, ...] = ("cascading", "independent", "labels")
#: The permuted-label test's one step.
LABELS_STEP = "shuffled labels"

Advance = Callable[[str], None]


@dataclass
class SanityStudy:
    """Projections and scores of the whole study; ``to_json`` holds every similarity value."""

    rules: tuple[str, ...]
    seed: int
    images: np.ndarray  # (N, 28, 28) floats in [0, 1]
    labels: np.ndarray  # (N,) the explained classes
    trained: dict[str, np.ndarray]  # rule -> (N, 28, 28)
    # test -> step -> rule -> (N, 28, 28), and the same keys -> metric -> per-image values
    maps: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    scores: dict[str, dict[str, dict[str, dict[str, list[float | None]]]]] = field(
        default_factory=dict
    )
    rule_stats: dict[str, Any] = field(default_factory=dict)

    def steps(self, test: str) -> list[str]:
        """The steps of ``test`` that were run, in order."""
        return list(self.maps.get(test, {}))

    def to_json(self) -> dict[str, Any]:
        """Every similarity value with its mean, spread and count; JSON-ready, no NaN."""
        tests = {}
        for test, steps in self.scores.items():
            tests[test] = {
                step: {
                    rule: {
                        metric: {**summary(values), "values": values}
                        for metric, values in by_metric.items()
                    }
                    for rule, by_metric in by_rule.items()
                }
                for step, by_rule in steps.items()
            }
        return {
            "explained": "each image's true-class logit (fc3), seeded with 1",
            "rules": list(self.rules),
            "metrics": {
                "spearman": "Spearman rank correlation of |trained| and |randomised| projections",
                "ssim": "SSIM of |projection| / max|projection| (data range 1), 7x7 windows",
            },
            "randomisation": {
                "init": f"torch.manual_seed({self.seed}); LeNet5() default init "
                "(as init-weights --seed)",
                "cascading": "re-initialise the named layer and every layer above it",
                "independent": "re-initialise the named layer only",
                "labels": "a model trained like the main one on permuted training labels",
            },
            "seed": self.seed,
            "images": len(self.images),
            "tests": tests,
            "rules_on_trained_model": self.rule_stats,
        }


def study_steps(with_labels: bool) -> int:
    """How many (model, rule) projections ``run_study`` makes, for a progress bar's total."""
    models = 1 + 2 * len(WEIGHT_LAYERS) + (1 if with_labels else 0)
    return models + len(LAYER_NAMES)  # + one step per layer for the rule statistics


def run_study(
    trained: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    shuffled: Mapping[str, np.ndarray] | None = None,
    advance: Advance | None = None,
) -> SanityStudy:
    """The whole study over uint8 ``images`` (N, 28, 28), explaining class ``labels``."""
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need one label per image and at least one image, got {len(images)}")
    tick = advance or (lambda message: None)
    pixels = images_to_float(np.asarray(images), np.float64)
    study = SanityStudy(RULES, seed, pixels[:, 0], np.asarray(labels), {})
    engine = make_engine(trained, "numpy", np.float64)
    trace = engine.trace(pixels)
    study.trained = _explain(engine, trace, study.labels)
    tick("trained model")
    fresh = initial_params(seed)
    variants: dict[str, list[tuple[str, Mapping[str, np.ndarray]]]] = {
        "cascading": cascading(trained, fresh),
        "independent": independent(trained, fresh),
    }
    if shuffled is not None:
        variants["labels"] = [(LABELS_STEP, shuffled)]
    for test, models in variants.items():
        study.maps[test], study.scores[test] = {}, {}
        for step, params in models:
            variant = make_engine(params, "numpy", np.float64)
            maps = _explain(variant, variant.trace(pixels), study.labels)
            study.maps[test][step] = maps
            study.scores[test][step] = {
                rule: similarities(study.trained[rule], maps[rule]) for rule in RULES
            }
            tick(f"{test}: {step}")
    study.rule_stats = _rule_stats(engine, trace, pixels, tick)
    return study


def _explain(engine: Engine, trace: Trace, labels: np.ndarray) -> dict[str, np.ndarray]:
    """rule -> (N, 28, 28): the class logit ``labels[i]`` of image i projected, seeded with 1."""
    signal = np.zeros((len(labels), 1, 10), dtype=np.float64)
    signal[np.arange(len(labels)), 0, labels] = 1.0
    return {
        rule: engine.backproject(
            "fc3", signal, trace.switches, rule=rule, activations=trace.activations
        )[:, 0, 0]
        for rule in RULES
    }


def _rule_stats(engine: Engine, trace: Trace, pixels: np.ndarray, tick: Advance) -> dict[str, Any]:
    """Per layer: each rule's mean ink share, and where the deconvnet crosses switched-off units."""
    stats: dict[str, Any] = {
        "what": "each image's strongest activation of the layer, projected",
        "ink_share": "mean share of sum |projection| on pixels with ink (> 0)",
        "deconvnet_switched_off_share": "share of the positive signal reaching each mirror "
        "ReLU that sits on units the forward pass switched off (the deconvnet passes it, "
        "gradient and guided block it)",
        "layers": {},
    }
    for layer in LAYER_NAMES:
        maps = project_strongest(engine, trace, layer)
        stats["layers"][layer] = {
            "ink_share": {r: float(ink_share(maps[r], pixels[:, 0]).mean()) for r in RULES},
            "deconvnet_switched_off_share": switched_off_share(engine, trace, layer),
        }
        tick(f"rule statistics: {layer}")
    return stats
