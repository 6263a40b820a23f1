"""The fast path of ``deconv.project_live``: the same projections, on small windows.

A kept unit is a fixed pattern on a small window, a kept map needs its own
channel's filter only, and below the pools unpooling and the transposed filter
are one switched step (_fast_unpool_conv.py). Under the deconvnet rule an fc
unit's signal above pool2 is the same for every image up to the activation's
scale (the mirror ReLU is positively homogeneous; fc3's sign picks one of two
vectors); the masked rules mask the fc steps per image, so they take the
reference. docs/deconvnet.md ("The switched step") gives the maths;
tests/test_fast_deconv.py shows this path equal to the reference.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import deconv
from ._fast_unpool_conv import (
    block_for,
    block_positions,
    chunks,
    phase_table,
    switch_phases,
    switched_blocks,
    table_rows,
    to_blocks,
)
from .architecture import (
    CONV1_PADDING,
    INPUT_SHAPE,
    LAYER_SHAPES,
    POOL_KERNEL,
    POOL_STRIDE,
    is_spatial,
)
from .deconv import LiveProjections
from .functional import linear, relu
from .model import Trace
from .params import cast_params, validate_params
from .pool import max_unpool2d
from .rules import DEFAULT_RULE, check_rule, rectify, rectify_each, rectify_last
from .selection import SelectionPlan, live_selections, selected_units

#: Rows of small windows handled at once (bounds the temporaries).
_ROWS = 4096
#: Projections put side by side in one group of images (projections-last layout).
_GROUP_ROWS = 512
#: Projections of whole maps per group of images (_maps): few
#: enough that a group's map rows and products stay in cache.
_MAP_ROWS = 128
#: conv1's and conv2's kernel (both 5 x 5): the switched steps' windows.
_KERNEL = (5, 5)


def project_live(
    params: Mapping[str, np.ndarray],
    trace: Trace,
    plan: SelectionPlan,
    *,
    rule: str = DEFAULT_RULE,
) -> LiveProjections:
    """Same result as ``deconv.project_live`` (within rounding), computed on small windows."""
    check_rule(rule)
    activations = trace.activations[plan.layer]
    if not is_spatial(plan.layer) and rule != "deconvnet":
        # The masked rules share nothing between images in the fc steps: the reference.
        return deconv.project_live(params, trace, plan, rule=rule)
    weights = cast_params(validate_params(params), activations.dtype)
    if not is_spatial(plan.layer):
        return _fc_projections(weights, trace, [plan])[0]
    # Which selections are live, read from the activations: never the (n, S, *shape) copies.
    live = live_selections(activations, plan)
    images, selections = np.nonzero(live)
    if plan.mode == "map":
        values = _maps(weights, trace, plan, images, selections, rule)
        return LiveProjections(plan, activations, live, values)
    values = np.empty((len(images), *INPUT_SHAPE[1:]), dtype=activations.dtype)
    where, kept = selected_units(activations, plan)
    where, kept = where[images, selections], kept[images, selections]
    for start in range(0, len(images), _ROWS):
        rows = slice(start, start + _ROWS)
        values[rows] = _unit(
            weights, trace, plan.layer, where[rows], kept[rows], images[rows], rule
        )
    return LiveProjections(plan, activations, live, values)


def project_live_many(
    params: Mapping[str, np.ndarray],
    trace: Trace,
    plans: Sequence[SelectionPlan],
    *,
    rule: str = DEFAULT_RULE,
) -> list[LiveProjections]:
    """``project_live`` of each plan (within rounding); the deconvnet fc plans share one pass."""
    check_rule(rule)
    fc = [i for i, plan in enumerate(plans) if not is_spatial(plan.layer)]
    shared = {}
    if fc and rule == "deconvnet":
        weights = cast_params(validate_params(params), trace.activations["fc1"].dtype)
        shared = dict(zip(fc, _fc_projections(weights, trace, [plans[i] for i in fc]), strict=True))
    return [
        shared[i] if i in shared else project_live(params, trace, plan, rule=rule)
        for i, plan in enumerate(plans)
    ]


def fc_signals(w: Mapping[str, np.ndarray], layer: str, sign: int) -> np.ndarray:
    """(units, 16, 5, 5): the deconvnet signal above pool2 when unit j alone holds ``sign``."""
    count = LAYER_SHAPES[layer][0]
    signal = np.eye(count, dtype=w["fc1.weight"].dtype) * sign
    if layer == "fc3":
        signal = linear(signal, w["fc3.weight"].T)  # fc3 has no ReLU: W3^T straight away
        layer = "fc2"
    if layer == "fc2":
        signal = linear(relu(signal), w["fc2.weight"].T)
    signal = linear(relu(signal), w["fc1.weight"].T)
    return signal.reshape(count, *LAYER_SHAPES["pool2"])


def _fc_projections(
    w: Mapping[str, np.ndarray], trace: Trace, plans: Sequence[SelectionPlan]
) -> list[LiveProjections]:
    """Deconvnet projections of fc plans, each live unit's signal scaled: one pass below pool2."""
    lives, signals, which, scale, images = [], [], [], [], []
    for plan in plans:
        # Which selections are live, read from the activations: never the (n, S, *shape) copies.
        live = live_selections(trace.activations[plan.layer], plan)
        rows_images, selections = np.nonzero(live)
        units = np.asarray(plan.channels)[selections]
        value = trace.activations[plan.layer][rows_images, units]
        positive = fc_signals(w, plan.layer, 1)
        negative = fc_signals(w, plan.layer, -1) if plan.layer == "fc3" else np.zeros_like(positive)
        # The mirror ReLU after pool2's unpooling commutes with it, and with the scale |value|
        # (relu(|a| x) = |a| relu(x), exactly): rectify each unit's signal once, scale it later.
        unit = units + len(positive) * (value < 0)
        which.append(unit + sum(len(x) for x in signals))  # into the joined signals
        signals.append(relu(np.concatenate([positive, negative])))
        lives.append(live)
        scale.append(np.abs(value))
        images.append(rows_images)
    values = _below_pool2(
        trace,
        np.concatenate(signals),
        np.concatenate(which),
        np.concatenate(scale),
        np.concatenate(images),
        _tables(w),
    )
    out, start = [], 0
    for plan, live, rows_images in zip(plans, lives, images, strict=True):
        stop = start + len(rows_images)
        out.append(LiveProjections(plan, trace.activations[plan.layer], live, values[start:stop]))
        start = stop
    return out


def _by_image(
    images: np.ndarray, chunk: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Rows in groups of about ``chunk``: (images, rows, each row's image slot, its column).

    Images are sorted by how many rows they hold, so that padding each image to
    its group's largest count wastes little.
    """
    order = np.argsort(images, kind="stable")
    present, first, counts = np.unique(images[order], return_index=True, return_counts=True)
    column = np.empty(len(images), dtype=np.intp)
    column[order] = np.arange(len(images)) - np.repeat(first, counts)
    by_count = np.argsort(counts, kind="stable")
    sorted_counts = counts[by_count]
    group_of = (np.cumsum(sorted_counts) - sorted_counts) // chunk
    slot = np.full(int(images.max()) + 1, -1, dtype=np.intp)
    groups = []
    for group in np.unique(group_of):  # a loop over chunks of rows
        members = present[by_count[group_of == group]]
        slot[:] = -1
        slot[members] = np.arange(len(members))
        rows = np.flatnonzero(slot[images] >= 0)
        rows = rows[np.argsort(slot[images[rows]], kind="stable")]
        groups.append((members, rows, slot[images[rows]], column[rows]))
    return groups


def _below_pool2(
    trace: Trace,
    signals: np.ndarray,
    which: np.ndarray,
    scale: np.ndarray,
    images: np.ndarray,
    tables: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Rectified signals at pool2 -> pixels (m, 28, 28), the deconvnet rule: two switched steps.

    Row j's signal is scale[j] * signals[which[j]] (signals: (u, 16, 5, 5)), for
    image images[j]; the rows of each image side by side (projections last).
    """
    out = np.empty((len(which), *INPUT_SHAPE[1:]), dtype=signals.dtype)
    if not len(which):
        return out
    rows_below = _table_rows(trace, "pool2")
    rows_pixels = _table_rows(trace, "pool1")
    c, h, wd = LAYER_SHAPES["pool2"]
    # (5*5*16, u): each unit's signal, position-major as to_blocks(..., 1) lays it out.
    by_unit = np.ascontiguousarray(signals.transpose(2, 3, 1, 0).reshape(-1, len(signals)))
    for picked, rows, slot, column in _by_image(images, _GROUP_ROWS):
        k, width = len(picked), int(column.max()) + 1
        # Each image's rows side by side, a column of scale 0 where an image has fewer
        # rows than the widest: (5*5*16, k, S), viewed as to_blocks(wide, 1).
        units = np.zeros((k, width), dtype=np.intp)
        units[slot, column] = which[rows]
        scales = np.zeros((k, width), dtype=signals.dtype)
        scales[slot, column] = scale[rows]
        wide = np.take(by_unit, units, axis=1)
        wide *= scales
        wide = wide.transpose(1, 0, 2).reshape(k, h, wd, c, 1, 1, width)
        parts = chunks(wide, tables["conv2"])
        bounds = np.searchsorted(slot, [part.start for part in parts] + [k])
        for part, start, stop in zip(parts, bounds[:-1], bounds[1:], strict=True):
            mine = picked[part]
            below = switched_blocks(wide[part], rows_below[mine], tables["conv2"], _KERNEL)
            np.maximum(below, 0, out=below)
            pixels = switched_blocks(below, rows_pixels[mine], tables["conv1"], _KERNEL)
            out[rows[start:stop]] = _pixels(
                pixels, slot[start:stop] - part.start, column[start:stop]
            )
    return out


def _table_rows(trace: Trace, pool: str) -> np.ndarray:
    """table_rows of every image's ``pool`` switches (numpy_lenet/_fast_unpool_conv.py)."""
    _, h, wd = LAYER_SHAPES[pool]
    return table_rows(switch_phases(trace.switches[pool], h, wd), block_for(h, wd))


def _pixels(pixels: np.ndarray, slot: np.ndarray, column: np.ndarray) -> np.ndarray:
    """(m, 28, 28): column ``column`` of image ``slot`` of the pixel blocks, cropped."""
    k, hb, wb, _, b, _, s = pixels.shape
    where = _crop_positions(b, hb, wb)
    # One take of whole S-rows, then a pick per row: a 2-D fancy index of (slot, column)
    # on the blocks themselves would read one scattered value at a time.
    taken = np.take(pixels.reshape(k, hb * wb * b * b, s), where, axis=1)
    return taken[slot, :, column].reshape(len(slot), *INPUT_SHAPE[1:])


@functools.cache
def _crop_positions(b: int, hb: int, wb: int) -> np.ndarray:
    """block_positions of the 28 x 28 pixels in (hb, wb, b, b) pixel blocks (read-only)."""
    where = block_positions(b, hb, wb, CONV1_PADDING, INPUT_SHAPE[1:])
    where.setflags(write=False)
    return where


def _tables(w: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Phase tables of conv2's and conv1's transposed filters (numpy_lenet/_fast_unpool_conv.py)."""
    return {
        "conv2": phase_table(w["conv2.weight"], block_for(*LAYER_SHAPES["pool2"][1:])),
        "conv1": phase_table(w["conv1.weight"], block_for(*LAYER_SHAPES["pool1"][1:])),
    }


def _maps(
    w: Mapping[str, np.ndarray],
    trace: Trace,
    plan: SelectionPlan,
    images: np.ndarray,
    selections: np.ndarray,
    rule: str,
) -> np.ndarray:
    """Projections (m, 28, 28) of whole channels, every selection of an image at once.

    Each map goes through its own channel's transposed filter; below conv2 the
    mirror ReLU at pool1 and the switched step follow. Groups of about _MAP_ROWS.
    """
    act = trace.activations
    conv = "conv1" if plan.layer in ("conv1", "pool1") else "conv2"
    channels = np.asarray(plan.channels)
    weight = w[f"{conv}.weight"][channels]  # (S, O, 5, 5): each selection's own filter
    if conv == "conv2":
        tables = _tables(w)
        rows_pixels = _table_rows(trace, "pool1")
    out = np.empty((len(images), *INPUT_SHAPE[1:]), dtype=weight.dtype)
    # The rows of each group of images, found once: every row's image, sorted.
    order = np.argsort(images, kind="stable")
    picked_images = np.unique(images)
    step = max(1, _MAP_ROWS // len(channels))
    starts = np.arange(0, len(picked_images), step)
    bounds = [*np.searchsorted(images[order], picked_images[starts]), len(images)]
    for group, start in enumerate(starts):
        picked = picked_images[start : start + step]
        maps = act[plan.layer][picked[:, None], channels]
        if plan.layer != conv:
            maps = max_unpool2d(
                maps,
                trace.switches[plan.layer][picked[:, None], channels],
                POOL_KERNEL,
                POOL_STRIDE,
            )
        # The mirror ReLU at the conv (a kept map is non-negative: it changes nothing there).
        maps = rectify(maps[:, None], act[conv][picked[:, None], channels], rule)[:, 0]
        full = _own_filters_transposed(maps, weight)
        rows = order[bounds[group] : bounds[group + 1]]
        slot = np.searchsorted(picked, images[rows])
        if conv == "conv1":  # (k, 1, 32, 32, S): crop conv1's padding
            pad = CONV1_PADDING
            out[rows] = full[slot, 0, pad:-pad, pad:-pad, selections[rows]]
            continue
        below = to_blocks(full, 2)
        forward = None  # only the masked rules read pool1's activations (in the same blocks)
        if rule != "deconvnet":
            forward = to_blocks(act["pool1"][picked][..., None], 2)[..., 0]
        below = rectify_last(below, forward, rule)
        for part in chunks(below, tables["conv1"]):
            pixels = switched_blocks(
                below[part], rows_pixels[picked[part]], tables["conv1"], _KERNEL
            )
            mine = (slot >= part.start) & (slot < part.stop)
            out[rows[mine]] = _pixels(pixels, slot[mine] - part.start, selections[rows[mine]])
    return out


def _own_filters_transposed(maps: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Maps (k, S, h, w), each through its own transposed filter weight[s] (O, kh, kw).

    Returns (k, O, h + kh - 1, w + kw - 1, S), selections last (a view): one
    matrix product per selection, with banded kernel columns (docs/deconvnet.md).
    """
    k, s, h, w = maps.shape
    _, c_out, kh, kw = weight.shape
    out_h, out_w = h + kh - 1, w + kw - 1
    padded = np.zeros((s, k, h + 2 * (kh - 1), w), dtype=maps.dtype)
    padded[:, :, kh - 1 : kh - 1 + h] = np.moveaxis(maps, 1, 0)
    # rows[s, i, y, a, u] = padded[s, i, y + a, u]: map row y + a - kh + 1 meets kernel row kh-1-a.
    rows = sliding_window_view(padded, kh, axis=2).transpose(0, 1, 2, 4, 3)
    rows = np.ascontiguousarray(rows).reshape(s, k * out_h, kh * w)
    bands = np.zeros((s, kh, w, c_out, out_w), dtype=maps.dtype)  # [a, u, o, u + dx]
    columns = np.arange(w)
    for dx in range(kw):  # a loop over kernel offsets
        bands[:, :, columns, :, columns + dx] = weight[:, :, ::-1, dx].transpose(0, 2, 1)
    below = np.matmul(rows, bands.reshape(s, kh * w, c_out * out_w))
    return below.reshape(s, k, out_h, c_out, out_w).transpose(1, 3, 2, 4, 0)


def _unit(
    w: Mapping[str, np.ndarray],
    trace: Trace,
    layer: str,
    where: np.ndarray,
    value: np.ndarray,
    images: np.ndarray,
    rule: str,
) -> np.ndarray:
    """Projections (m, 28, 28) of single values ``value`` of ``layer`` at flat indices ``where``."""
    c, y, x = np.unravel_index(where, LAYER_SHAPES[layer])
    if layer in ("pool1", "pool2"):
        # Unpooling moves the value to its switch; the mirror ReLU of a positive value
        # is the value under every rule (the forward activation there is that value).
        conv = "conv1" if layer == "pool1" else "conv2"
        switch = trace.switches[layer][images, c, y, x]
        y, x = np.divmod(switch, LAYER_SHAPES[conv][2])
        layer = conv
    if layer == "conv1":
        # conv_transpose2d of one value at (y, x), padding 2: value * filter at (y-2, x-2).
        return _paste(value[:, None, None] * w["conv1.weight"][c, 0], y, x)
    # Window pixel j is conv1^T output 2y + j - 2.
    return _paste(_conv2_unit(w, trace, value, c, y, x, images, rule), 2 * y, 2 * x)


def _paste(windows: np.ndarray, top: np.ndarray, left: np.ndarray) -> np.ndarray:
    """(m, 28, 28): square window i at (top[i] - 2, left[i] - 2) of a zero image, clipped."""
    m, size = windows.shape[:2]
    offsets = np.arange(size)
    canvas = np.zeros((m, 32, 32), dtype=windows.dtype)  # 28x28 with a 2-pixel margin
    canvas[
        np.arange(m)[:, None, None],
        (top[:, None] + offsets)[:, :, None],
        (left[:, None] + offsets)[:, None, :],
    ] = windows
    return canvas[:, 2:30, 2:30]


def _conv2_unit(
    w: Mapping[str, np.ndarray],
    trace: Trace,
    value: np.ndarray,
    c: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    images: np.ndarray,
    rule: str,
) -> np.ndarray:
    """(m, 14, 14): one conv2 value per row through conv2^T, the ReLU, pool1's switches, conv1^T.

    The mirror ReLU is taken on pool1's 5x5 window, before unpooling (they commute;
    the forward activation under a switch is pool1's own value); docs/deconvnet.md
    ("The switched step") gives the rest.
    """
    m = len(value)
    ci = np.arange(6)[:, None, None, None]
    ky = np.arange(5)[None, :, None, None]
    kx = np.arange(5)[None, None, :, None]
    # (6, 5, 5, m): each row's window of pool1, rows last.
    py, px, n = y + ky, x + kx, images
    pattern = np.moveaxis(w["conv2.weight"][c], 0, -1) * value
    forward = None if rule == "deconvnet" else trace.activations["pool1"][n, ci, py, px]
    pattern = rectify_each(pattern, forward, rule)
    phase = switch_phases(trace.switches["pool1"], *LAYER_SHAPES["pool1"][1:])[n, ci, py, px]
    spread = np.zeros((6, 4, 5, 5, m), dtype=value.dtype)
    spread[ci, phase, ky, kx, np.arange(m)] = pattern
    table = phase_table(w["conv1.weight"], 1).reshape(6 * 4, 36)
    products = (table.T @ spread.reshape(6 * 4, -1)).reshape(3, 3, 2, 2, 5, 5, m)
    small = np.zeros((2, 2, 7, 7, m), dtype=value.dtype)  # conv1^T of the 10x10 window
    for q in range(3):  # a loop over window offsets: window (i, j) lands on blocks i+q, j+r
        for r in range(3):
            small[:, :, q : q + 5, r : r + 5] += products[q, r]
    return small.transpose(4, 2, 0, 3, 1).reshape(m, 14, 14)
