"""Figure 4 of Zeiler & Fergus: each feature's strongest activation, epoch by epoch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.params import Params
from torch_lenet.data import images_to_float

from ..backends import Engine
from ..figures.tiles import crop_fields
from ..top_activations import TopK, image_batches, most_active_units, top_activations
from .agreement import STUDY_DTYPE, Agreement, engine_pair, new_agreement

#: fc1 and fc2 have too many units to show them all: this many of the most active ones.
FC_UNITS = 8
#: Ranks kept per channel: the runner-up lets the checking backend confirm the winner.
CANDIDATES = 2
#: Images per batch of the search (two chunks of numpy_lenet's forward: both cores work).
SEARCH_BATCH = 2048


@dataclass(frozen=True)
class LayerEvolution:
    """One layer's shown channels over the epochs: each one's strongest activation over the set."""

    layer: str
    channels: list[int]
    values: np.ndarray  # (E, S)
    images: np.ndarray  # (E, S): the image holding it
    units: np.ndarray  # (E, S, d): (c, y, x) or (j,), as ``unit`` mode takes it
    projections: np.ndarray  # (E, S, 28, 28)

    def crops(self) -> np.ndarray:
        """(E, S, s, s): each projection cut to its unit's receptive field (NaN past the image)."""
        e, s = self.projections.shape[:2]
        flat_units = self.units.reshape(e * s, -1)
        crops = crop_fields(self.projections.reshape(e * s, 28, 28), self.layer, flat_units)
        return crops.reshape(e, s, *crops.shape[1:])


@dataclass(frozen=True)
class Evolution:
    """Figure 4's numbers: per layer, the shown channels at each epoch, and the backends' check."""

    epochs: list[int]
    layers: dict[str, LayerEvolution]
    agreement: Agreement


def shown_channels(final: Mapping[str, TopK]) -> dict[str, list[int]]:
    """The channels shown per layer: all, except fc1/fc2's FC_UNITS most active at the end."""
    return {
        layer: (
            [int(c) for c in most_active_units(final[layer], FC_UNITS)]
            if layer in ("fc1", "fc2")
            else list(range(LAYER_SHAPES[layer][0]))
        )
        for layer in LAYER_NAMES
    }


def search(
    trace_fn: Callable[[np.ndarray], object],
    images_uint8: np.ndarray,
    tick: Callable[[int], None] = lambda count: None,
) -> dict[str, TopK]:
    """The top-CANDIDATES images of every channel of every layer over a uint8 set (N, 28, 28)."""

    def batches() -> Iterable[np.ndarray]:
        for batch in image_batches(images_uint8, SEARCH_BATCH, STUDY_DTYPE):
            yield batch
            tick(len(batch))

    return top_activations(batches(), trace_fn, k=CANDIDATES)


def evolution(
    snapshots: Mapping[int, Params],
    images_uint8: np.ndarray,
    backend: str = "numpy",
    *,
    tick: Callable[[int], None] = lambda count: None,
) -> Evolution:
    """Figure 4's numbers for the epochs of ``snapshots`` over a set; the other backend checks."""
    epochs = sorted(snapshots)
    if not epochs:
        raise ValueError("no epoch weights to show")
    agreement = new_agreement(backend)
    searches, engines = {}, {}
    for epoch in epochs:
        engines[epoch] = engine_pair(snapshots[epoch], backend)
        searches[epoch] = search(engines[epoch][0].trace, images_uint8, tick)
    channels = shown_channels(searches[epochs[-1]])
    per_epoch = [
        _one_epoch(engines[e], searches[e], channels, images_uint8, agreement, f"epoch {e}")
        for e in epochs
    ]
    layers = {
        layer: LayerEvolution(
            layer,
            channels[layer],
            *(np.stack([found[layer][i] for found in per_epoch]) for i in range(4)),
        )
        for layer in LAYER_NAMES
    }
    return Evolution(epochs, layers, agreement)


def _one_epoch(
    engines: tuple[Engine, Engine],
    found: Mapping[str, TopK],
    channels: Mapping[str, Sequence[int]],
    images_uint8: np.ndarray,
    agreement: Agreement,
    name: str,
) -> dict[str, tuple[np.ndarray, ...]]:
    """Per layer (values, images, units, projections) of the shown channels, checked."""
    mine, theirs = engines
    rows, units, picks = {}, {}, []
    for layer in LAYER_NAMES:
        topk, shown = found[layer], list(channels[layer])
        # Rank-major: entries [r * S + s] are rank r of shown channel s.
        picks += [int(topk.images[r, c]) for r in range(len(topk)) for c in shown]
        units[layer] = np.array([topk.unit(layer, r, c) for r in range(len(topk)) for c in shown])
        rows[layer] = np.arange(len(picks) - len(units[layer]), len(picks))
    pixels = images_to_float(images_uint8[np.array(picks)], STUDY_DTYPE)
    trace, other = mine.trace(pixels), theirs.trace(pixels)
    # The check: the other backend's activations of winners and runners-up, the
    # winners' lead, and the projections given the same trace.
    agreement.compare_traces(f"{name} picks", other, trace, mine.params, pixels)
    out = {}
    for layer in LAYER_NAMES:
        topk, shown = found[layer], list(channels[layer])
        picked = other.activations[layer][rows[layer]]
        checked = picked[(np.arange(len(picked)), *units[layer].T)]  # unit i of image i
        _check_winners(agreement, f"{name}/{layer}", checked.reshape(len(topk), len(shown)), shown)
        winners = trace.subset(rows[layer][: len(shown)])
        first = units[layer][: len(shown)]
        projections = mine.project_each(winners, layer, first)[:, 0]
        agreement.compare(
            f"{name}/{layer} projections",
            theirs.project_each(winners, layer, first)[:, 0],
            projections,
        )
        out[layer] = (topk.values[0, shown], topk.images[0, shown], first, projections)
    return out


def _check_winners(agreement: Agreement, name: str, checked: np.ndarray, shown: list[int]) -> None:
    """The checking backend must rank each winner above its runner-up, but for a near-tie."""
    if len(checked) < 2:
        return
    lead = checked[0] - checked[1]
    tie = agreement.bound * max(float(np.abs(checked).max()), np.finfo(np.float64).tiny)
    for s in np.flatnonzero(lead < 0):
        if -lead[s] <= tie:
            agreement.near_ties.append(
                f"{name} channel {shown[s]}: runner-up ahead by {-lead[s]:.1e}"
            )
        else:
            agreement.failures.append(
                f"{name} channel {shown[s]}: the checking backend ranks the runner-up "
                f"{-lead[s]:.1e} above the winner"
            )


def settling(ev: LayerEvolution) -> np.ndarray:
    """(E, S) cosine similarity of each projection to the last epoch's, in receptive-field crops."""
    e, s = ev.projections.shape[:2]
    crops = np.nan_to_num(ev.crops()).reshape(e, s, -1)  # NaN: outside the image, no signal
    last = crops[-1][None]
    norms = np.linalg.norm(crops, axis=2) * np.linalg.norm(last, axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (crops * last).sum(axis=2) / norms, 0.0)


def evolution_as_dict(result: Evolution) -> dict[str, object]:
    """Figure 4's picks as JSON-ready data (projections go to an .npz beside it)."""
    layers = {}
    for layer, ev in result.layers.items():
        similarity = settling(ev)
        layers[layer] = {
            "channels": ev.channels,
            "strongest_activation": ev.values.tolist(),
            "image": ev.images.tolist(),
            "unit": ev.units.tolist(),
            "similarity_to_last_epoch": similarity.tolist(),
            "median_similarity_to_last_epoch": np.median(similarity, axis=1).tolist(),
        }
    return {
        "epochs": result.epochs,
        "layers": layers,
        "rows": "per layer, [epoch][shown channel]: epochs in the order of 'epochs', channels "
        "in the order of 'channels'",
        "similarity": "cosine similarity of a channel's projection to its projection at the "
        "last epoch, both cut to the receptive field of their unit (pixels outside the image "
        "count as 0); 0 when either projection is empty",
        "agreement": result.agreement.as_dict(),
    }
