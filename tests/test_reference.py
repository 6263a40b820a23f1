"""The fast NumPy ops against the loop-level reference (numpy_lenet.reference), a second oracle.

Bit for bit where both sides pick, move or copy values in the same order
(pooling, unpooling, relu, rectify); within the rounding of
summing the same products in another order elsewhere: relative error
||fast - ref|| / ||ref|| <= 1e-12 in float64, 1e-5 in float32 (conftest.TOLERANCE).
Shapes stay tiny: the reference is plain Python loops.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numpy_lenet import reference as ref
from numpy_lenet import rules
from numpy_lenet.architecture import (
    LAYER_NAMES,
    LAYER_SHAPES,
    MIRROR_BLOCKS,
    POOL_KERNEL,
    POOL_STRIDE,
)
from numpy_lenet.conv import conv2d, conv_transpose2d
from numpy_lenet.deconv import backproject
from numpy_lenet.functional import linear, log_softmax, relu
from numpy_lenet.model import forward
from numpy_lenet.pool import max_pool2d, max_unpool2d
from numpy_lenet.rules import RULES
from numpy_lenet.selection import plan_selection, select

from .autograd_oracle import assert_within, derived_bound, oracle
from .conftest import assert_matches, pair_arg
from .lenet_factories import random_images, random_params

DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)
FAST = settings(max_examples=30, deadline=None)


def normal(seed: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same shape, dtype and values (NaN where NaN; -0.0 and 0.0 count as equal)."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    assert np.array_equal(actual, expected, equal_nan=True)


@st.composite
def conv_cases(draw, int_padding=False):
    """(x, weight, bias, padding) for a stride-1 conv2d with the kernel fitting the padded input.

    ``int_padding``: one int, as numpy_lenet.conv takes it; else an int or a pair.
    """
    dtype = draw(DTYPES)
    _, (kh, kw) = pair_arg(draw, 1, 3)
    if int_padding:
        padding = ph = pw = draw(st.integers(0, 2))
    else:
        padding, (ph, pw) = pair_arg(draw, 0, 2)
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(SEEDS)
    x = normal(seed, (n, c_in, h, w), dtype)
    weight = normal(seed + 1, (c_out, c_in, kh, kw), dtype)
    bias = normal(seed + 2, (c_out,), dtype) if draw(st.booleans()) else None
    return x, weight, bias, padding


@FAST
@given(conv_cases(int_padding=True))
def test_conv2d_equals_reference(case):
    x, weight, bias, padding = case
    expected = ref.conv2d(x, weight, bias, 1, padding)
    assert_matches(conv2d(x, weight, bias, padding), expected)


@st.composite
def conv_transpose_cases(draw):
    """(x, weight, bias, padding) with a positive output size."""
    dtype = draw(DTYPES)
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    assume(h - 1 - 2 * padding + kh > 0 and w - 1 - 2 * padding + kw > 0)
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(SEEDS)
    x = normal(seed, (n, c_in, h, w), dtype)
    weight = normal(seed + 1, (c_in, c_out, kh, kw), dtype)
    bias = normal(seed + 2, (c_out,), dtype) if draw(st.booleans()) else None
    return x, weight, bias, padding


@FAST
@given(conv_transpose_cases())
def test_conv_transpose2d_equals_reference_scatter(case):
    x, weight, bias, padding = case
    expected = ref.conv_transpose2d(x, weight, bias, 1, padding)
    assert_matches(conv_transpose2d(x, weight, bias, padding), expected)


@FAST
@given(conv_cases(), SEEDS)
def test_reference_col2im_is_the_adjoint_of_im2col(case, seed):
    x, weight, _, padding = case
    x, kernel = x.astype(np.float64), weight.shape[2:]
    cols = ref.im2col(x, kernel, 1, padding)
    other = normal(seed, cols.shape, np.float64)
    left, right = np.vdot(cols, other), np.vdot(x, ref.col2im(other, x.shape, kernel, 1, padding))
    assert abs(left - right) <= 1e-12 * np.linalg.norm(cols) * np.linalg.norm(other) * cols.size


def test_conv2d_reference_is_weights_times_im2col_columns():
    x, weight = normal(0, (2, 3, 6, 5), np.float64), normal(1, (4, 3, 3, 2), np.float64)
    cols = ref.im2col(x, (3, 2), 1, 1)
    product = (weight.reshape(4, -1) @ cols).reshape(2, 4, 6, 6)
    assert_matches(ref.conv2d(x, weight, None, 1, 1), product)


@st.composite
def tricky_values(draw, shape):
    """Small integers (many ties) with NaN, +inf and -inf sprinkled in, float32 or float64."""
    dtype, seed = draw(DTYPES), draw(SEEDS)
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(np.float64)
    for value, share in ((np.nan, draw(st.sampled_from([0, 0.1, 0.5]))), (np.inf, 0.05)):
        x[rng.random(shape) < share] = value
    x[rng.random(shape) < draw(st.sampled_from([0, 0.1, 0.9]))] = -np.inf
    return x.astype(dtype)


@st.composite
def pool_cases(draw):
    """(x, kernel, stride, padding): 3-D or 4-D input of even size, LeNet's 2x2 stride-2 window."""
    lead = draw(st.sampled_from([(2,), (1, 2), (2, 1)]))
    h, w = 2 * draw(st.integers(1, 3)), 2 * draw(st.integers(1, 3))
    return draw(tricky_values((*lead, h, w))), 2, draw(st.sampled_from([None, 2])), 0


@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_max_pool2d_equals_reference_switches_included(case):
    values, switches = max_pool2d(*case)
    expected_values, expected_switches = ref.max_pool2d(*case)
    assert_identical(values, expected_values)
    assert_identical(switches, expected_switches)


@FAST
@given(pool_cases(), st.booleans(), SEEDS)
def test_max_unpool2d_equals_reference(case, random_switches, seed):
    x, kernel, stride, padding = case
    values, switches = max_pool2d(x, kernel, stride, padding)
    if random_switches:  # shared switches too: the later value must win on both sides
        rng = np.random.default_rng(seed)
        switches = rng.integers(0, x.shape[-2] * x.shape[-1], switches.shape[-2:])
    args = (kernel, stride, padding)
    assert_identical(
        max_unpool2d(values, switches, *args), ref.max_unpool2d(values, switches, *args)
    )


SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@FAST
@given(SHAPES, st.integers(1, 5), DTYPES, SEEDS, st.booleans())
def test_linear_equals_reference(shape, out_features, dtype, seed, with_bias):
    x = normal(seed, shape, dtype)
    weight = normal(seed + 1, (out_features, shape[-1]), dtype)
    bias = normal(seed + 2, (out_features,), dtype) if with_bias else None
    assert_matches(linear(x, weight, bias), ref.linear(x, weight, bias))


@FAST
@given(SHAPES.flatmap(tricky_values))
def test_relu_equals_reference(x):
    assert_identical(relu(x), ref.relu(x))


@FAST
@given(SHAPES, DTYPES, SEEDS)
def test_log_softmax_equals_reference(shape, dtype, seed):
    x = normal(seed, shape, dtype) * 10
    axis = seed % len(shape) - len(shape) * (seed % 2)
    assert_matches(log_softmax(x, axis), ref.log_softmax(x, axis))


@FAST
@given(SHAPES.flatmap(tricky_values), SEEDS)
def test_rectify_states_the_three_rules(r, seed):
    # The forward activation is post-ReLU: zeros (masked out) and positive values.
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(r.shape) < 0.5, 0, rng.random(r.shape)).astype(r.dtype)
    zero = r.dtype.type(0)
    assert_identical(ref.rectify(r, a, "deconvnet"), relu(r))
    assert_identical(ref.rectify(r, a, "gradient"), np.where(a > 0, r, zero))
    assert_identical(ref.rectify(r, a, "guided"), np.where(a > 0, relu(r), zero))


@pytest.mark.parametrize("rule", RULES)
def test_fast_rectify_equals_reference(rule):
    rng = np.random.default_rng(7)
    r = rng.standard_normal((3, 2, 4, 5))
    a = np.maximum(rng.standard_normal((3, 4, 5)), 0)
    assert_identical(rules.rectify(r, a, rule), ref.rectify(r, a[:, None], rule))


def test_rectify_refuses_an_unknown_rule():
    with pytest.raises(ValueError, match="unknown rule 'deconv'"):
        ref.rectify(np.zeros(2), np.zeros(2), "deconv")


@functools.cache
def lenet_case(dtype: type) -> tuple:
    """Random LeNet weights, two images and their fast trace, in one dtype."""
    params, images = random_params(3, dtype), random_images(4, 2, dtype)
    return params, images, forward(params, images)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def lenet(request):
    return lenet_case(request.param)


def strongest_channel(trace, layer: str) -> int:
    """The channel of ``layer`` with the largest activation: a live projection to test."""
    values = trace.activations[layer]
    return int(np.argmax(values.reshape(*values.shape[:2], -1).max(axis=(0, 2))))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_backproject_equals_reference_mirror_blocks(lenet, layer, rule):
    params, _, trace = lenet
    plan = plan_selection(layer, "max", [strongest_channel(trace, layer)])
    signal = select(trace.activations[layer], plan)
    fast = backproject(
        params, layer, signal, trace.switches, rule=rule, activations=trace.activations
    )[:, 0]
    expected = ref.backproject(
        params, layer, signal[:, 0], trace.switches, trace.activations, rule=rule
    )
    assert np.linalg.norm(expected) > 0  # a live projection, or the test proves nothing
    assert_matches(fast, expected)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_reference_mirror_is_autograd_for_every_rule(layer, rule):
    # Each rule is autograd with its ReLU hook (tests/autograd_oracle.py): the
    # gradient of sum(kept * activation), from the oracle's own forward pass.
    params, images, _ = lenet_case(np.float64)
    channel = strongest_channel(forward(params, images), layer)
    expected, trace, magnitudes = oracle(params, images, layer, "max", [(channel,)], rule)
    plan = plan_selection(layer, "max", [channel])
    kept = select(trace.activations[layer], plan)[:, 0]
    mirror = ref.backproject(params, layer, kept, trace.switches, trace.activations, rule=rule)
    assert np.abs(expected).max() > 0  # a live projection, or the test proves nothing
    assert_within("reference", mirror, expected[:, 0], derived_bound(layer, magnitudes[:, 0]))


def test_reference_guided_equals_deconvnet_where_the_forward_pass_is_all_active(lenet):
    # With every forward activation positive the mask is all ones: guided == deconvnet.
    params, _, trace = lenet
    active = {k: np.ones((2, *LAYER_SHAPES[k]), v.dtype) for k, v in trace.activations.items()}
    signal = select(trace.activations["pool2"], plan_selection("pool2", "map", [1]))[:, 0]
    guided = ref.backproject(params, "pool2", signal, trace.switches, active, rule="guided")
    assert_identical(guided, ref.backproject(params, "pool2", signal, trace.switches))


def _gamma(n: int, dtype) -> float:
    """gamma_n = n u / (1 - n u): the relative error bound of an n-term sum (Higham 3.1)."""
    nu = n * float(np.finfo(dtype).eps) / 2
    return nu / (1 - nu)


def forward_bounds(params, images: np.ndarray) -> dict[str, np.ndarray]:
    """How far two correct forward passes' activations can be, value by value.

    Computed with rounding u, a layer's n-term sums (products plus bias) are
    within gamma_n of exact, relative to A = |W| |input| + |b|; an error e in
    the input adds at most |W| e, the ReLU and the max pool never grow it. So
    e <= c F with F the forward pass on |W|, |x|, |b| (pools taking the max of
    F) and c' = c + gamma_n (1 + c) per layer. Two sides: 2 c F, plus the
    computed F's own rounding (a sum of non-negative terms: at most 1 / (1 - c)).
    """
    dtype = images.dtype
    x, c, bounds = np.abs(images).astype(np.float64), 0.0, {}
    for block in reversed(MIRROR_BLOCKS):
        name = block["name"]
        if block["kind"] == "pool":
            x = max_pool2d(x, POOL_KERNEL, POOL_STRIDE)[0]
        else:
            weight = np.abs(params[f"{name}.weight"]).astype(np.float64)
            bias = np.abs(params[f"{name}.bias"]).astype(np.float64)
            terms = int(np.prod(weight.shape[1:])) + 1
            c += _gamma(terms, dtype) * (1 + c)
            if block["kind"] == "conv":
                x = conv2d(x, weight, bias, padding=block["padding"])
            else:
                x = linear(x.reshape(len(x), -1), weight, bias)
        bounds[name] = 2 * c / (1 - c) * x
    return bounds


@settings(max_examples=8, deadline=None)
@given(SEEDS, st.sampled_from([0.5, 1.0, 2.0]), DTYPES, st.integers(1, 2))
def test_reference_forward_equals_the_fast_forward(seed, gain, dtype, n):
    """Sums within the derived bound; switches identical but at a near-tie within it."""
    params, images = random_params(seed, dtype, gain), random_images(seed + 1, n, dtype)
    fast, slow = forward(params, images), ref.forward(params, images)
    bounds = forward_bounds(params, images)
    assert set(slow.activations) == set(LAYER_NAMES) and set(slow.switches) == {"pool1", "pool2"}
    for name in LAYER_NAMES:
        assert slow.activations[name].dtype == dtype and slow.activations[name].shape[0] == n
        assert_within(name, fast.activations[name], slow.activations[name], bounds[name])
    for pool, below in (("pool1", "conv1"), ("pool2", "conv2")):
        flips = np.nonzero(fast.switches[pool] != slow.switches[pool])
        values = slow.activations[below].reshape(*slow.activations[below].shape[:2], -1)
        room = bounds[below].reshape(values.shape)
        theirs = fast.activations[below].reshape(values.shape)
        for i, ch, y, x in zip(*flips, strict=True):
            p, q = slow.switches[pool][i, ch, y, x], fast.switches[pool][i, ch, y, x]
            # Both picks are maxima of their own numbers: a flip is a near-tie or a bug,
            # and a tie exact on both sides goes to the first position, always.
            gap = abs(values[i, ch, p] - values[i, ch, q])
            assert gap <= room[i, ch, p] + room[i, ch, q], (pool, gap)
            assert gap > 0 or theirs[i, ch, p] != theirs[i, ch, q], (pool, "exact tie")
    # log_softmax: 2-Lipschitz in the logits' largest error, plus its own rounding on
    # both sides (subtractions of at most R = the logits' range, exp, a 10-term sum, log).
    logits = slow.activations["fc3"]
    spread = logits.max(axis=1, keepdims=True) - logits.min(axis=1, keepdims=True)
    u = float(np.finfo(dtype).eps) / 2
    own = 2 * (_gamma(10, dtype) + u * (4 * spread + 16))
    lse = 2 * bounds["fc3"].max(axis=1, keepdims=True) + own
    assert_within("log_probs", fast.log_probs, slow.log_probs, np.broadcast_to(lse, logits.shape))


def test_reference_forward_is_the_switch_rule_on_exact_ties():
    """An all-zero image: conv1 is its bias exactly, so every pool1 window ties exactly."""
    params, images = random_params(2), np.zeros((1, 1, 28, 28))
    fast, slow = forward(params, images), ref.forward(params, images)
    y, x = np.meshgrid(np.arange(14), np.arange(14), indexing="ij")
    first = np.broadcast_to(2 * y * 28 + 2 * x, (1, 6, 14, 14))  # each window's top-left
    assert_identical(slow.switches["pool1"], first)
    assert_identical(fast.switches["pool1"], first)


def test_the_mirror_table_is_plain_data_from_the_top_down():
    """One row per recorded layer, top down, that JSON carries as it is (the explorer's copy)."""
    assert tuple(block["name"] for block in reversed(MIRROR_BLOCKS)) == LAYER_NAMES
    assert json.loads(json.dumps(MIRROR_BLOCKS)) == list(MIRROR_BLOCKS)
    for block in MIRROR_BLOCKS:
        assert set(block) == {"name", "kind", "relu", "padding", "below"}
        assert (block["padding"] is None) == (block["kind"] != "conv")
