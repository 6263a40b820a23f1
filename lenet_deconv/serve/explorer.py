"""What the explorer page asks for, computed: prediction, activations, projections, top-9.

One ``Explorer`` holds one Engine (NumPy or PyTorch, in one dtype), the MNIST
test images and the top-9 table of every channel. Its methods take already
validated requests (lenet_deconv/serve/schemas.py) and return NumPy arrays;
the routes (app.py) turn them into JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, is_spatial
from numpy_lenet.selection import plan_selection

from ..backends import Engine, make_engine
from ..top_activations import TopK, image_batches, top_activations
from .steps import Stage, step_through
from .topcache import cache_key, cached_topk

#: Images per forward pass in the start-up top-9 search.
SEARCH_BATCH = 1000


@dataclass(frozen=True)
class Exploration:
    """One drawn image through the network and back, for one chosen layer."""

    probabilities: np.ndarray  # (10,)
    activations: dict[str, np.ndarray]  # one image's activations per layer
    projections: np.ndarray  # (C, 28, 28): every channel of the chosen layer
    stages: list[Stage] | None  # the step-through of the selected channel or unit


@dataclass(frozen=True)
class TopImages:
    """A channel's strongest test images, best first, and their projections."""

    indices: np.ndarray  # (k,) test-set indices
    labels: np.ndarray  # (k,)
    values: np.ndarray  # (k,) the channel's largest activation in each image
    units: list[tuple[int, ...]]  # where that activation sits, as unit mode takes it
    images: np.ndarray  # (k, 28, 28) pixels in [0, 1]
    projections: np.ndarray  # (k, 28, 28) projections of those units


@dataclass
class Explorer:
    """The network, the test set and the top-9 table behind the page."""

    engine: Engine
    test_images: np.ndarray  # (N, 28, 28) uint8
    test_labels: np.ndarray  # (N,)
    topk: dict[str, TopK]
    topk_source: str = ""

    def __post_init__(self) -> None:
        self.top_images = lru_cache(maxsize=256)(self._top_images)

    def explore(
        self,
        image: np.ndarray,
        layer: str,
        mode: str,
        rule: str,
        channel: int | None = None,
        unit: tuple[int, ...] | None = None,
    ) -> Exploration:
        """Prediction, all activations, every channel's projection and one step-through.

        ``mode`` map or max projects every channel that way; unit mode projects
        them in max mode and uses ``unit`` for the selected channel only.
        """
        trace = self.engine.trace(image.reshape(1, 1, 28, 28))
        grid_mode = "map" if mode == "map" else "max"
        projections = self.engine.project(trace, layer, grid_mode, rule=rule)[0, :, 0]
        stages = None
        if channel is not None:
            if mode == "unit":
                full = (channel, *unit) if is_spatial(layer) else (channel,)
                plan = plan_selection(layer, "unit", units=[full])
            else:
                plan = plan_selection(layer, mode, [channel])
            stages = step_through(self.engine.params, trace, plan, rule)
        return Exploration(
            np.exp(trace.log_probs[0]),
            {name: trace.activations[name][0] for name in LAYER_NAMES},
            projections,
            stages,
        )

    def test_image(self, index: int) -> tuple[np.ndarray, int]:
        """Test image ``index`` as (28, 28) pixels in [0, 1], and its label."""
        pixels = self.test_images[index].astype(np.float32) / np.float32(255)
        return pixels, int(self.test_labels[index])

    def _top_images(self, layer: str, channel: int, rule: str) -> TopImages:
        top = self.topk[layer]
        indices = top.images[:, channel]
        units = [top.unit(layer, rank, channel) for rank in range(len(top))]
        images = self.test_images[indices].astype(self.engine.dtype) / self.engine.dtype(255)
        trace = self.engine.trace(images[:, None])
        projections = self.engine.project_each(trace, layer, units, rule)[:, 0]
        return TopImages(
            indices, self.test_labels[indices], top.values[:, channel], units, images, projections
        )


def build_explorer(
    params: Mapping[str, np.ndarray],
    backend: str,
    dtype: type,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    cache_dir: Path | None,
    progress: Callable[[Iterator[np.ndarray], int], Iterator[np.ndarray]] | None = None,
) -> Explorer:
    """An Explorer: the engine, and the top-9 table read from ``cache_dir`` or searched now.

    ``progress(batches, count)``, if given, wraps the search's batches (a progress bar).
    """
    engine = make_engine(params, backend, dtype)

    def search() -> dict[str, TopK]:
        batches = image_batches(test_images, SEARCH_BATCH, dtype)
        if progress is not None:
            batches = progress(batches, math.ceil(len(test_images) / SEARCH_BATCH))
        return top_activations(batches, engine.trace)

    key = cache_key(engine.params, test_images, backend, dtype)
    topk, source = cached_topk(cache_dir, key, search)
    return Explorer(engine, test_images, test_labels, topk, source)
