"""Each layer's strongest activation projected under every rule, and where each rule puts it."""

from __future__ import annotations

import numpy as np

from numpy_lenet.deconv import backproject
from numpy_lenet.model import Trace
from numpy_lenet.rules import RULES

from .backends import Engine

#: Mirror blocks whose ReLU step the rules treat differently (fc3 has no ReLU, pools none).
RELU_BLOCKS: tuple[str, ...] = ("fc2", "fc1", "conv2", "conv1")


def strongest_units(activations: np.ndarray) -> list[tuple[int, ...]]:
    """Per image of (N, *shape), the unit of its largest activation (first one, row-major)."""
    flat = np.argmax(activations.reshape(len(activations), -1), axis=1)
    shape = activations.shape[1:]
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def project_strongest(engine: Engine, trace: Trace, layer: str) -> dict[str, np.ndarray]:
    """rule -> (N, 28, 28): each image's strongest ``layer`` activation projected under ``rule``."""
    units = strongest_units(trace.activations[layer])
    return {rule: engine.project_each(trace, layer, units, rule)[:, 0] for rule in RULES}


def ink_share(projections: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Per image of (N, 28, 28), the share of sum |projection| on pixels with ink (0 if none)."""
    magnitude = np.abs(np.asarray(projections, dtype=np.float64))
    on_ink = (magnitude * (np.asarray(images) > 0)).sum(axis=(1, 2))
    total = magnitude.sum(axis=(1, 2))
    return np.divide(on_ink, total, out=np.zeros_like(total), where=total > 0)


def switched_off_share(engine: Engine, trace: Trace, layer: str) -> dict[str, float]:
    """Mirror ReLU block -> share of the deconvnet's positive signal there on switched-off units."""
    if engine.model is not None:
        raise ValueError("switched_off_share needs the numpy engine (it observes the mirror)")
    activations = trace.activations[layer]
    signal = np.zeros_like(activations)
    for i, unit in enumerate(strongest_units(activations)):
        signal[(i, *unit)] = activations[(i, *unit)]
    sums: dict[str, tuple[float, float]] = {}

    def observe(name: str, arriving: np.ndarray) -> None:
        if name in RELU_BLOCKS:
            positive = np.clip(arriving, 0, None)
            off = trace.activations[name][:, None] <= 0
            sums[name] = (float((positive * off).sum()), float(positive.sum()))

    backproject(
        engine.params,
        layer,
        signal[:, None],
        trace.switches,
        observe,
        rule="deconvnet",
        activations=trace.activations,
    )
    return {name: off / total if total > 0 else 0.0 for name, (off, total) in sums.items()}
