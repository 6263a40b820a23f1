"""The explorer as a static site: the page, the model and the test data (docs/explorer.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from typing import Any

import numpy as np

from numpy_lenet.architecture import (
    INPUT_SHAPE,
    LAYER_NAMES,
    LAYER_SHAPES,
    MIRROR_BLOCKS,
    PARAM_SHAPES,
    POOL_KERNEL,
    POOL_STRIDE,
    PRE_POOL,
    SELECTION_MODES,
    is_spatial,
    receptive_field,
    receptive_field_geometry,
)
from numpy_lenet.model import forward
from numpy_lenet.params import cast_params, validate_params
from numpy_lenet.rules import DEFAULT_RULE, RULES

from ..top_activations import TopK, image_batches, top_activations

#: The page's own files, copied as they are from lenet_deconv/explorer/static/.
STATIC_FILES: tuple[str, ...] = ("index.html", "app.js", "views.js", "lenet.js", "style.css")
#: The data files site_files adds to the static ones.
DATA_FILES: tuple[str, ...] = ("model.json", "weights.f64", "data.json", "images.u8")
#: Test images shipped for the page's "test image" box (the first ones of the test set).
DEFAULT_SAMPLE = 100
#: Images per forward pass in the top-9 search.
SEARCH_BATCH = 1000
FORMAT = "lenet-deconv-site-1"


def site_file_names() -> tuple[str, ...]:
    """Every file name of the site (the folder holds nothing else)."""
    return STATIC_FILES + DATA_FILES


def model_files(params: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], bytes]:
    """model.json's content and weights.f64's bytes for validated ``params``."""
    weights = cast_params(validate_params(params), np.float64)
    offsets: dict[str, dict[str, Any]] = {}
    chunks: list[bytes] = []
    offset = 0
    for name, shape in PARAM_SHAPES.items():
        offsets[name] = {"offset": offset, "shape": list(shape)}
        chunks.append(np.ascontiguousarray(weights[name], dtype="<f8").tobytes())
        offset += int(np.prod(shape))
    spec = {
        "format": FORMAT,
        "input_shape": list(INPUT_SHAPE),
        "layers": [{"name": n, "shape": list(LAYER_SHAPES[n])} for n in LAYER_NAMES],
        "pools": {
            pool: {"input": below, "kernel": POOL_KERNEL, "stride": POOL_STRIDE}
            for pool, below in PRE_POOL.items()
        },
        "mirror": list(MIRROR_BLOCKS),
        "receptive_fields": {
            n: dict(zip(("size", "jump", "start"), receptive_field_geometry(n), strict=True))
            for n in LAYER_NAMES
            if is_spatial(n)
        },
        "modes": list(SELECTION_MODES),
        "rules": list(RULES),
        "default_rule": DEFAULT_RULE,
        "weights": {"file": "weights.f64", "dtype": "<f8", "params": offsets},
    }
    return spec, b"".join(chunks)


def site_files(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    sample: int = DEFAULT_SAMPLE,
    progress: Callable[[Iterator[np.ndarray], int], Iterator[np.ndarray]] | None = None,
) -> dict[str, bytes]:
    """Every file of the site by name, for the test set (N, 28, 28) uint8 and its labels."""
    if images.ndim != 3 or images.shape[1:] != INPUT_SHAPE[1:] or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, 28, 28) uint8, got {images.shape} {images.dtype}")
    if len(images) == 0 or len(labels) != len(images):
        raise ValueError("the test set is empty or its labels do not match its images")
    if sample < 0:
        raise ValueError(f"the sample must hold 0 or more images, got {sample}")
    spec, weights = model_files(params)
    weights64 = cast_params(validate_params(params), np.float64)
    batches = image_batches(images, SEARCH_BATCH, np.float64)
    if progress is not None:
        batches = progress(batches, -(-len(images) // SEARCH_BATCH))
    table = top_activations(batches, lambda batch: forward(weights64, batch))
    rows: dict[int, int] = {}  # test-set index -> row of images.u8

    def row(index: int) -> int:
        return rows.setdefault(index, len(rows))

    shipped = [
        {"index": i, "label": int(labels[i]), "image": row(i)}
        for i in range(min(sample, len(images)))
    ]
    top9 = {layer: _top_entries(layer, table[layer], labels, row) for layer in LAYER_NAMES}
    data = {"test_set_size": len(images), "sample": shipped, "top9": top9}
    static = resources.files(__package__) / "static"
    files = {name: static.joinpath(name).read_bytes() for name in STATIC_FILES}
    files["model.json"] = _json(spec)
    files["weights.f64"] = weights
    files["data.json"] = _json(data)
    files["images.u8"] = np.ascontiguousarray(images[list(rows)]).tobytes()
    return files


def _top_entries(
    layer: str, top: TopK, labels: np.ndarray, row: Callable[[int], int]
) -> list[list[dict[str, Any]]]:
    """Per channel, its top-9 entries best first (a value of 0: the channel never fires)."""
    channels: list[list[dict[str, Any]]] = []
    for channel in range(LAYER_SHAPES[layer][0]):
        entries = []
        for rank in range(len(top)):
            index = int(top.images[rank, channel])
            unit = top.unit(layer, rank, channel)
            y, x = unit[1:] if len(unit) == 3 else (0, 0)
            entries.append(
                {
                    "index": index,
                    "label": int(labels[index]),
                    "value": float(top.values[rank, channel]),
                    "unit": list(unit),
                    "box": list(receptive_field(layer, y, x)),
                    "image": row(index),
                }
            )
        channels.append(entries)
    return channels


def _json(value: Any) -> bytes:
    """Compact JSON; floats in their shortest exact form, so the page reads the same doubles."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
