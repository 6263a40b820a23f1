"""The fast path of ``deconv.project_live`` in PyTorch: mirror of ``numpy_lenet.fast_deconv``.

Same three facts, same names (numpy_lenet/fast_deconv.py explains them): a
``max``/``unit`` projection from a conv or pool layer is one value times a
pattern on a small window, put through the switches and the mirror ReLU of the
chosen rule; a ``map`` projection needs only its own channel's filter in the
first transposed convolution; under the deconvnet rule an fc unit's signal
above pool2 is computed once and scaled; below pool2 (fc units) and pool1
(conv2/pool2 maps) the unpooling and transposed filter are one switched step
(torch_lenet/switched.py). Built from torch ops only (F.linear, scatters,
advanced indexing, matrix products, shifted in-place adds). F.conv_transpose2d
is left to the reference: on CPU, with one input or one output channel, it
measured 1.3-15x slower than the shifted adds here (one thread; float32 worst).
F.max_unpool2d too: its first call imports sympy (_unpool).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from numpy_lenet.architecture import (
    CONV1_PADDING,
    INPUT_SHAPE,
    LAYER_SHAPES,
    is_spatial,
)
from numpy_lenet.rules import DEFAULT_RULE, check_rule

from . import deconv
from .deconv import LiveProjections
from .model import LeNet5, TorchTrace
from .rules import rectify, rectify_each, rectify_last
from .selection import SelectionPlan, live_selections, selected_units
from .switched import (
    block_for,
    block_positions,
    chunks,
    phase_table,
    switch_phases,
    switched_blocks,
    table_rows,
    to_blocks,
)

#: Rows of small windows handled at once (bounds the temporaries).
_ROWS = 4096
#: Projections put side by side in one group of images (projections-last layout).
_GROUP_ROWS = 512
#: Projections of whole conv2/pool2 maps per group of images (_maps_below_conv2): few
#: enough that a group's map rows and products stay in cache (as NumPy's).
_MAP_ROWS = 128
#: conv1's and conv2's kernel (both 5 x 5): the switched steps' windows.
_KERNEL = (5, 5)


def project_live(
    model: LeNet5,
    trace: TorchTrace,
    plan: SelectionPlan,
    *,
    rule: str = DEFAULT_RULE,
) -> LiveProjections:
    """Same result as ``deconv.project_live`` (within rounding), computed on small windows.

    On a GPU the reference is taken for every job (reference_is_faster).
    """
    check_rule(rule)
    activations = trace.activations[plan.layer]
    float32, on_gpu = activations.dtype == torch.float32, activations.device.type != "cpu"
    if reference_is_faster(plan, rule, float32, on_gpu=on_gpu):
        return deconv.project_live(model, trace, plan, rule=rule)
    if not is_spatial(plan.layer):
        return _fc_projections(model, trace, [plan])[0]
    with torch.no_grad():
        # Which selections are live, read from the activations: never the (n, S, *shape) copies.
        live = live_selections(activations, plan)
        images, selections = torch.nonzero(live, as_tuple=True)
        values = activations.new_empty((len(images), *INPUT_SHAPE[1:]))
        # The path that makes every row at once hands over its tensor as it is (no copy).
        if plan.mode == "map" and plan.layer in ("conv2", "pool2"):
            values = _maps_below_conv2(model, trace, plan, images, selections, rule).contiguous()
        elif plan.mode == "map":
            for s, channel in enumerate(plan.channels):
                rows = torch.nonzero(selections == s, as_tuple=True)[0]
                if len(rows):
                    values[rows] = _map(model, trace, plan.layer, channel, images[rows], rule)
        else:
            where, kept = selected_units(activations, plan)
            where, kept = where[images, selections], kept[images, selections]
            for start in range(0, len(images), _ROWS):
                rows = slice(start, start + _ROWS)
                values[rows] = _unit(
                    model, trace, plan.layer, where[rows], kept[rows], images[rows], rule
                )
    return LiveProjections(plan, activations, live, values)


def project_live_many(
    model: LeNet5,
    trace: TorchTrace,
    plans: Sequence[SelectionPlan],
    *,
    rule: str = DEFAULT_RULE,
) -> list[LiveProjections]:
    """``project_live`` of each plan; the fc plans share one pass below pool2.

    Mirror of ``numpy_lenet.fast_deconv.project_live_many`` (on a GPU, where
    the reference is taken, each plan on its own).
    """
    check_rule(rule)
    on_gpu = trace.activations["fc1"].device.type != "cpu"
    together = [i for i, plan in enumerate(plans) if _fc_path(plan, rule, on_gpu)]
    shared = {}
    if together:
        fc_plans = [plans[i] for i in together]
        shared = dict(zip(together, _fc_projections(model, trace, fc_plans), strict=True))
    return [
        shared[i] if i in shared else project_live(model, trace, plan, rule=rule)
        for i, plan in enumerate(plans)
    ]


def _fc_path(plan: SelectionPlan, rule: str, on_gpu: bool) -> bool:
    """Whether project_live takes the fc path (_fc_projections) for ``plan``."""
    return not is_spatial(plan.layer) and not reference_is_faster(plan, rule, False, on_gpu=on_gpu)


def reference_is_faster(
    plan: SelectionPlan, rule: str, float32: bool, *, on_gpu: bool = False
) -> bool:
    """Where the fast path saves nothing in PyTorch: the reference is taken there.

    Every job on a GPU: the reference's few large batched calls beat the small
    windows' many small kernels there (every job over the test set on an H200:
    1.4 s against 13.4 s in float32, 3.4 s against 16.8 s in float64;
    benchmarks/gpu_check.py). On the CPU, fc layers under the masked rules
    (nothing is shared between images). Unlike NumPy's, conv1/pool1 ``map``
    mode in float32 stays on the fast path: with shifted adds instead of
    F.conv_transpose2d's one-channel calls it measured 3-4x faster than the
    reference on one CPU thread (benchmarks/bench_crosscheck.py).
    """
    del float32  # the same answer for both dtypes; the argument mirrors NumPy's signature
    return on_gpu or (not is_spatial(plan.layer) and rule != "deconvnet")


def fc_signals(model: LeNet5, layer: str, sign: int) -> torch.Tensor:
    """(units, 16, 5, 5): the deconvnet signal above pool2 of each unit of ``layer`` at ``sign``.

    Mirror of ``numpy_lenet.fast_deconv.fc_signals``.
    """
    count = LAYER_SHAPES[layer][0]
    weight = model.fc1.weight
    signal = torch.eye(count, dtype=weight.dtype, device=weight.device) * sign
    if layer == "fc3":
        signal = F.linear(signal, model.fc3.weight.t())  # fc3 has no ReLU: W3^T straight away
        layer = "fc2"
    if layer == "fc2":
        signal = F.linear(F.relu(signal), model.fc2.weight.t())
    signal = F.linear(F.relu(signal), model.fc1.weight.t())
    return signal.reshape(count, *LAYER_SHAPES["pool2"])


def _fc_projections(
    model: LeNet5, trace: TorchTrace, plans: Sequence[SelectionPlan]
) -> list[LiveProjections]:
    """Deconvnet projections of fc plans, each live unit's signal scaled: one pass below pool2.

    Mirror of ``numpy_lenet.fast_deconv._fc_projections``.
    """
    lives, signals, which, scale, images = [], [], [], [], []
    with torch.no_grad():
        for plan in plans:
            # Which selections are live, read from the activations: never the (n, S, *shape) copies.
            live = live_selections(trace.activations[plan.layer], plan)
            rows_images, selections = torch.nonzero(live, as_tuple=True)
            units = torch.tensor(plan.channels, device=rows_images.device)[selections]
            unit_signals, unit_which, unit_scale = _fc_rows(
                model, trace, plan.layer, units, rows_images
            )
            which.append(unit_which + sum(len(x) for x in signals))  # into the joined signals
            lives.append(live)
            signals.append(unit_signals)
            scale.append(unit_scale)
            images.append(rows_images)
        values = _below_pool2(
            trace,
            torch.cat(signals),
            torch.cat(which),
            torch.cat(scale),
            torch.cat(images),
            _tables(model),
        )
    out, start = [], 0
    for plan, live, rows_images in zip(plans, lives, images, strict=True):
        stop = start + len(rows_images)
        out.append(LiveProjections(plan, trace.activations[plan.layer], live, values[start:stop]))
        start = stop
    return out


def _fc_rows(
    model: LeNet5,
    trace: TorchTrace,
    layer: str,
    units: torch.Tensor,
    images: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """_below_pool2's signals, which and scale for single fc units of ``images``."""
    value = trace.activations[layer][images, units]
    positive = fc_signals(model, layer, 1)
    negative = fc_signals(model, layer, -1) if layer == "fc3" else torch.zeros_like(positive)
    # The mirror ReLU after pool2's unpooling commutes with it, and with the scale |value|
    # (relu(|a| x) = |a| relu(x), exactly): rectify each unit's signal once, scale it later.
    signals = F.relu(torch.cat([positive, negative]))
    return signals, units + len(positive) * (value < 0), value.abs()


def _by_image(
    images: torch.Tensor, chunk: int
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Rows grouped for the projections-last layout: (images, rows, image slots, columns).

    Mirror of ``numpy_lenet.fast_deconv._by_image``: images sorted by how many
    rows they hold, cut into groups of about ``chunk`` rows; a group gives its
    images, its rows, each row's image slot in the group and its column among
    its image's rows.
    """
    device = images.device
    order = torch.argsort(images, stable=True)
    present, counts = torch.unique_consecutive(images[order], return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    column = torch.empty_like(images)
    column[order] = torch.arange(len(images), device=device) - torch.repeat_interleave(
        first, counts
    )
    by_count = torch.argsort(counts, stable=True)
    sorted_counts = counts[by_count]
    group_of = (torch.cumsum(sorted_counts, 0) - sorted_counts) // chunk
    slot = torch.full((int(images.max()) + 1,), -1, dtype=torch.long, device=device)
    groups = []
    for group in torch.unique(group_of).tolist():  # a loop over chunks of rows
        members = present[by_count[group_of == group]]
        slot[:] = -1
        slot[members] = torch.arange(len(members), device=device)
        rows = torch.nonzero(slot[images] >= 0, as_tuple=True)[0]
        rows = rows[torch.argsort(slot[images[rows]], stable=True)]
        groups.append((members, rows, slot[images[rows]], column[rows]))
    return groups


def _below_pool2(
    trace: TorchTrace,
    signals: torch.Tensor,
    which: torch.Tensor,
    scale: torch.Tensor,
    images: torch.Tensor,
    tables: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Rectified signals at pool2 -> pixels (m, 28, 28), the deconvnet rule.

    Mirror of ``numpy_lenet.fast_deconv._below_pool2``: row j's signal is
    scale[j] * signals[which[j]] for image images[j]; two switched steps
    (torch_lenet/switched.py) a few images at a time, the first one's output
    already in the blocks the second one reads.
    """
    out = signals.new_empty((len(which), *INPUT_SHAPE[1:]))
    if not len(which):
        return out
    rows_below = _table_rows(trace, "pool2")
    rows_pixels = _table_rows(trace, "pool1")
    c, h, wd = LAYER_SHAPES["pool2"]
    # (u, 5*5*16): each unit's signal, position-major as to_blocks(..., 1) lays it out.
    by_unit = signals.permute(0, 2, 3, 1).reshape(len(signals), -1)
    for picked, rows, slot, column in _by_image(images, _GROUP_ROWS):
        k, width = len(picked), int(column.max()) + 1
        # Each image's rows side by side, a row of scale 0 where an image has fewer
        # rows than the widest: (k, 5, 5, S, 16, 1, 1) = to_blocks(wide, 1).
        flat = slot * width + column
        units = which.new_zeros(k * width).index_copy_(0, flat, which[rows])
        scales = signals.new_zeros(k * width).index_copy_(0, flat, scale[rows])
        wide = by_unit.index_select(0, units).mul_(scales[:, None])
        wide = wide.reshape(k, width, h * wd, c).transpose(1, 2).contiguous()
        wide = wide.reshape(k, h, wd, width, c, 1, 1)
        parts = chunks(wide, tables["conv2"])
        starts = torch.tensor([part.start for part in parts] + [k], device=slot.device)
        bounds = torch.searchsorted(slot, starts).tolist()
        for part, start, stop in zip(parts, bounds[:-1], bounds[1:], strict=True):
            mine = picked[part]
            below = switched_blocks(wide[part], rows_below[mine], tables["conv2"], _KERNEL)
            below.clamp_(min=0)
            pixels = _below_pool1(rows_pixels[mine], below, tables)
            out[rows[start:stop]] = _pixels(pixels, flat[start:stop] - part.start * width)
    return out


def _table_rows(trace: TorchTrace, pool: str) -> torch.Tensor:
    """table_rows of every image's ``pool`` switches (torch_lenet/switched.py)."""
    _, h, wd = LAYER_SHAPES[pool]
    return table_rows(switch_phases(trace.switches[pool], h, wd), block_for(h, wd))


def _below_pool1(
    rows: torch.Tensor, below: torch.Tensor, tables: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """Rectified signals at pool1 -> pixels, both in switched blocks; rows: _table_rows(pool1).

    Mirror of ``numpy_lenet.fast_deconv._below_pool1``: below (k, 7, 7, S, 6, 2, 2)
    -> uncropped pixel planes (k, 8, 8, S, 1, 4, 4).
    """
    return switched_blocks(below, rows, tables["conv1"], _KERNEL)


def _pixels(pixels: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """(m, 28, 28): the cropped planes numbered ``flat`` (image slot * S + column) of the pixels."""
    k, hb, wb, s, _, b, _ = pixels.shape
    where = _crop_positions(b, hb, wb).to(pixels.device)
    planes = pixels.permute(0, 3, 4, 1, 2, 5, 6).reshape(k * s, -1).index_select(0, flat)
    # gather, not index_select(1, where): torch 2.14's CPU index_select along columns
    # measured about 4x slower in float64, as fast in float32 (benchmarks/bench_products.py).
    cropped = torch.gather(planes, 1, where.expand(len(flat), -1))
    return cropped.reshape(-1, *INPUT_SHAPE[1:])


@functools.cache
def _crop_positions(b: int, hb: int, wb: int) -> torch.Tensor:
    """block_positions of the 28 x 28 pixels in (hb, wb, b, b) pixel blocks (do not modify)."""
    return block_positions(b, hb, wb, CONV1_PADDING, INPUT_SHAPE[1:])


def _tables(model: LeNet5) -> dict[str, torch.Tensor]:
    """Phase tables of conv2's and conv1's transposed filters (torch_lenet/switched.py)."""
    return {
        "conv2": phase_table(model.conv2.weight, block_for(*LAYER_SHAPES["pool2"][1:])),
        "conv1": phase_table(model.conv1.weight, block_for(*LAYER_SHAPES["pool1"][1:])),
    }


def _maps_below_conv2(
    model: LeNet5,
    trace: TorchTrace,
    plan: SelectionPlan,
    images: torch.Tensor,
    selections: torch.Tensor,
    rule: str,
) -> torch.Tensor:
    """Projections (m, 28, 28) of whole conv2/pool2 channels, every selection of an image at once.

    Mirror of ``numpy_lenet.fast_deconv._maps_below_conv2``: each selection's
    map through its own channel's transposed filter (one matrix product per
    selection over every image's map rows), the mirror ReLU at pool1,
    then the switched step below it, every selection of an image side by side.
    """
    act = trace.activations
    device = images.device
    channels = torch.tensor(plan.channels, device=device)
    weight = model.conv2.weight[channels]  # (S, 6, 5, 5): each selection's own filter
    tables = _tables(model)
    rows_pixels = _table_rows(trace, "pool1")
    out = weight.new_empty((len(images), *INPUT_SHAPE[1:]))
    # The rows of each group of images, found once: every row's image, sorted.
    order = torch.argsort(images, stable=True)
    picked_images = torch.unique(images)
    step = max(1, _MAP_ROWS // len(channels))
    starts = torch.arange(0, len(picked_images), step, device=device)
    bounds = [*torch.searchsorted(images[order], picked_images[starts]).tolist(), len(images)]
    for group, start in enumerate(starts.tolist()):
        picked = picked_images[start : start + step]
        maps = act[plan.layer][picked[:, None], channels]
        if plan.layer == "pool2":
            maps = _unpool(
                maps, trace.switches["pool2"][picked[:, None], channels], LAYER_SHAPES["conv2"][1:]
            )
        # The mirror ReLU at conv2 (a kept map is non-negative: it changes nothing there).
        maps = rectify(maps[:, None], act["conv2"][picked[:, None], channels], rule)[:, 0]
        below = rectify_last(_own_filters_transposed(maps, weight), act["pool1"][picked], rule)
        below = to_blocks(below, 2)
        rows = order[bounds[group] : bounds[group + 1]]
        slot = torch.searchsorted(picked, images[rows])
        for part in chunks(below, tables["conv1"]):
            pixels = _below_pool1(rows_pixels[picked[part]], below[part], tables)
            mine = (slot >= part.start) & (slot < part.stop)
            flat = (slot[mine] - part.start) * len(channels) + selections[rows[mine]]
            out[rows[mine]] = _pixels(pixels, flat)
    return out


def _unpool(values: torch.Tensor, switches: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """F.max_unpool2d(values, switches, 2, 2, output_size=size) of (k, C, h, w) values.

    One scatter: F.max_unpool2d's first call imports sympy (0.34 s per process
    measured with torch 2.14.1), which a worker that runs no other unpooling
    need not pay. Pooling windows do not overlap, so no two switches meet.
    """
    k, c = values.shape[:2]
    plane = values.new_zeros((k, c, size[0] * size[1]))
    plane.scatter_(2, switches.reshape(k, c, -1), values.reshape(k, c, -1))
    return plane.reshape(k, c, *size)


def _own_filters_transposed(maps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Maps (k, S, h, w), each through its own transposed filter weight[s] (O, kh, kw).

    Mirror of ``numpy_lenet.fast_deconv._own_filters_transposed``: returns
    (k, O, h + kh - 1, w + kw - 1, S), selections last (a view); kh map rows
    side by side (one unfold copy) times the kernel's columns as banded
    matrices, one matrix product per selection.
    """
    k, s, h, w = maps.shape
    _, c_out, kh, kw = weight.shape
    out_h, out_w = h + kh - 1, w + kw - 1
    padded = maps.new_zeros((s, k, h + 2 * (kh - 1), w))
    padded[:, :, kh - 1 : kh - 1 + h] = maps.transpose(0, 1)
    # rows[s, i, y, a, u] = padded[s, i, y + a, u]: map row y + a - kh + 1 meets kernel row kh-1-a.
    rows = padded.unfold(2, kh, 1).transpose(3, 4).reshape(s, k * out_h, kh * w)
    bands = maps.new_zeros((s, kh, w, c_out, out_w))  # [a, u, o, u + dx]
    columns = torch.arange(w, device=maps.device)
    for dx in range(kw):  # a loop over kernel offsets
        bands[:, :, columns, :, columns + dx] = weight[:, :, :, dx].flip(2).transpose(1, 2)
    below = torch.matmul(rows, bands.reshape(s, kh * w, c_out * out_w))
    return below.reshape(s, k, out_h, c_out, out_w).permute(1, 3, 2, 4, 0)


def _map(
    model: LeNet5,
    trace: TorchTrace,
    layer: str,
    channel: int,
    images: torch.Tensor,
    rule: str,
) -> torch.Tensor:
    """Projections (k, 28, 28) of one whole channel of conv1 or pool1 for the given images.

    (conv2 and pool2 maps take _maps_below_conv2.)
    """
    act = trace.activations
    one = slice(channel, channel + 1)
    signal = act[layer][images, one]
    if layer == "pool1":
        signal = _unpool(signal, trace.switches["pool1"][images, one], LAYER_SHAPES["conv1"][1:])
    signal = rectify(signal[:, None], act["conv1"][images, one], rule)[:, 0]
    return _one_channel_transposed(signal[:, 0], model.conv1.weight[channel, 0], CONV1_PADDING)


def _unit(
    model: LeNet5,
    trace: TorchTrace,
    layer: str,
    where: torch.Tensor,
    value: torch.Tensor,
    images: torch.Tensor,
    rule: str,
) -> torch.Tensor:
    """Projections (m, 28, 28) of single values ``value`` of ``layer`` at flat indices ``where``."""
    m = value.shape[0]
    _, h, w = LAYER_SHAPES[layer]
    c, y, x = where // (h * w), (where // w) % h, where % w
    if layer in ("pool1", "pool2"):
        # Unpooling moves the value to its switch; the mirror ReLU of a positive value
        # is the value under every rule (the forward activation there is that value).
        conv = "conv1" if layer == "pool1" else "conv2"
        switch = trace.switches[layer][images, c, y, x]
        width = LAYER_SHAPES[conv][2]
        y, x = switch // width, switch % width
        layer = conv
    canvas = value.new_zeros((m, 32, 32))  # 28x28 with a 2-pixel margin
    rows = torch.arange(m, device=value.device)[:, None, None]
    offsets = torch.arange(5, device=value.device)
    if layer == "conv1":
        # conv_transpose2d of one value at (y, x), padding 2: value * filter at (y-2, x-2).
        window = value[:, None, None] * model.conv1.weight[c, 0]
        canvas[rows, (y[:, None] + offsets)[:, :, None], (x[:, None] + offsets)[:, None, :]] = (
            window
        )
        return canvas[:, 2:30, 2:30]
    return _conv2_unit(model, trace, value, c, y, x, images, rule, canvas)


def _conv2_unit(
    model: LeNet5,
    trace: TorchTrace,
    value: torch.Tensor,
    c: torch.Tensor,
    y: torch.Tensor,
    x: torch.Tensor,
    images: torch.Tensor,
    rule: str,
    canvas: torch.Tensor,
) -> torch.Tensor:
    """One conv2 value per row through conv2^T, the ReLU, pool1's switches and conv1^T.

    Mirror of ``numpy_lenet.fast_deconv._conv2_unit``: the mirror ReLU on pool1's
    5x5 window, then unpooling and conv1^T as one product of conv1's phase
    table with the values spread out by phase, rows innermost.
    """
    m = value.shape[0]
    device = value.device
    ci = torch.arange(6, device=device)[:, None, None, None]
    ky = torch.arange(5, device=device)[None, :, None, None]
    kx = torch.arange(5, device=device)[None, None, :, None]
    # (6, 5, 5, m): each row's window of pool1, rows last.
    py, px, n = y + ky, x + kx, images
    pattern = model.conv2.weight[c].permute(1, 2, 3, 0) * value
    forward = None if rule == "deconvnet" else trace.activations["pool1"][n, ci, py, px]
    pattern = rectify_each(pattern, forward, rule)
    phase = switch_phases(trace.switches["pool1"], *LAYER_SHAPES["pool1"][1:])[n, ci, py, px]
    spread = value.new_zeros((6, 4, 5, 5, m))
    spread[ci, phase, ky, kx, torch.arange(m, device=device)] = pattern
    table = phase_table(model.conv1.weight, 1).reshape(6 * 4, 36)
    products = torch.mm(table.t(), spread.reshape(6 * 4, -1)).reshape(3, 3, 2, 2, 5, 5, m)
    small = value.new_zeros((2, 2, 7, 7, m))  # conv1^T of the 10x10 window
    for q in range(3):  # a loop over window offsets: window (i, j) lands on blocks i+q, j+r
        for r in range(3):
            small[:, :, q : q + 5, r : r + 5] += products[q, r]
    small = small.permute(4, 2, 0, 3, 1).reshape(m, 14, 14)
    rows = torch.arange(m, device=device)[:, None, None]
    offsets = torch.arange(14, device=device)
    # Window pixel j is conv1^T output 2y + j - 2, i.e. canvas index 2y + j.
    canvas[rows, (2 * y[:, None] + offsets)[:, :, None], (2 * x[:, None] + offsets)[:, None, :]] = (
        small
    )
    return canvas[:, 2:30, 2:30]


def _one_channel_transposed(
    signal: torch.Tensor, kernel: torch.Tensor, padding: int
) -> torch.Tensor:
    """F.conv_transpose2d of (k, H, W) planes, one input and one output channel: (k, H', W').

    25 shifted multiply-adds: F.conv_transpose2d with one input and one output
    channel measured 5x (float64) to 15x (float32) slower on CPU, one thread.
    """
    k, h, w = signal.shape
    kh, kw = kernel.shape
    full = signal.new_zeros((k, h + kh - 1, w + kw - 1))
    for dy in range(kh):  # a loop over kernel offsets
        for dx in range(kw):
            full[:, dy : dy + h, dx : dx + w].addcmul_(signal, kernel[dy, dx])
    out_h, out_w = h + kh - 1 - 2 * padding, w + kw - 1 - 2 * padding
    return full[:, padding : padding + out_h, padding : padding + out_w]


def _transposed_to_one_channel(window: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """F.conv_transpose2d(window, weight)[:, 0] of (m, C, h, w) windows, weight (C, 1, kh, kw).

    One matrix product (kernel offsets x channels) @ (channels x every pixel),
    then one shifted add per kernel offset: F.conv_transpose2d to one output
    channel measured 1.3x (float64) to 5x (float32) slower on CPU, one thread.
    """
    m, c, h, w = window.shape
    kh, kw = weight.shape[-2:]
    pixels = window.transpose(0, 1).reshape(c, m * h * w)
    products = torch.mm(weight.reshape(c, kh * kw).t(), pixels).reshape(kh * kw, m, h, w)
    full = window.new_zeros((m, h + kh - 1, w + kw - 1))
    for dy in range(kh):  # a loop over kernel offsets
        for dx in range(kw):
            full[:, dy : dy + h, dx : dx + w] += products[dy * kw + dx]
    return full
