"""Each backend's quick way equals its straightforward one, projection by projection.

NumPy: its fast path against its reference. PyTorch: single units cropped to
their receptive fields against the same ops on whole layers, and the live rows
against ``project``'s every selection.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import torch_model, trace_to_torch
from lenet_deconv.crosscheck.agreement import projection_errors, squared_norms
from lenet_deconv.crosscheck.jobs import jobs_for, plan_for, unit_selections
from numpy_lenet import deconv as np_deconv
from numpy_lenet import fast_deconv as np_fast
from numpy_lenet.model import forward
from numpy_lenet.rules import RULES
from torch_lenet import deconv as torch_deconv

from .lenet_factories import random_images, random_params

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
JOBS = jobs_for()


def assert_same_projections(fast, reference, dtype) -> None:
    """Same live selections, and every projection within rounding of the reference's."""
    np.testing.assert_array_equal(np.asarray(fast.live), np.asarray(reference.live))
    assert fast.plan == reference.plan  # with the activations: the same signal
    np.testing.assert_array_equal(np.asarray(fast.activations), np.asarray(reference.activations))
    a, b = np.asarray(fast.values), np.asarray(reference.values)
    assert a.dtype == b.dtype == dtype
    if not len(b):
        return
    diff, norm = squared_norms(a, b)
    errors = projection_errors(diff, norm, np.sqrt(norm.max()))
    assert errors.max() <= TOLERANCE[dtype], f"worst {errors.max():.3g}"


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 4),
    job=st.sampled_from(JOBS),
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from([np.float64, np.float32]),
    gain=st.sampled_from([0.5, 1.0, 3.0]),
)
def test_fast_equals_straightforward_in_both_backends(seed, n, job, rule, dtype, gain):
    params = random_params(seed, dtype, gain)
    trace = forward(params, random_images(seed + 1, n, dtype))
    plan = plan_for(job)
    reference = np_deconv.project_live(params, trace, plan, rule=rule)
    assert_same_projections(np_fast.project_live(params, trace, plan, rule=rule), reference, dtype)
    model, tensors = torch_model(params, dtype), trace_to_torch(trace)
    with torch.inference_mode():
        whole = torch_deconv.project_live(model, tensors, plan, rule=rule, crop=False)
        cropped = torch_deconv.project_live(model, tensors, plan, rule=rule)
    assert_same_projections(cropped, whole, dtype)


@pytest.mark.parametrize("job", [j for j in JOBS if j[1] in ("max", "unit")])
def test_unit_projections_at_the_borders(job):
    """Units in every corner: the small windows must clip at the image's edges (both backends)."""
    params = random_params(5)
    images = random_images(6, 3)
    images[:, :, :4, :] = 1.0  # strong activations along the top edge and corners
    images[:, :, :, -4:] = 1.0
    trace = forward(params, images)
    layer = job[0]
    from numpy_lenet.architecture import LAYER_SHAPES
    from numpy_lenet.selection import plan_selection

    c, h, w = LAYER_SHAPES[layer]
    units = [(ch, y, x) for ch in range(c) for y in (0, h - 1) for x in (0, w - 1)]
    plan = plan_selection(layer, "unit", None, units)
    model, tensors = torch_model(params, np.float64), trace_to_torch(trace)
    for rule in RULES:
        reference = np_deconv.project_live(params, trace, plan, rule=rule)
        fast = np_fast.project_live(params, trace, plan, rule=rule)
        assert_same_projections(fast, reference, np.float64)
        with torch.inference_mode():
            whole = torch_deconv.project_live(model, tensors, plan, rule=rule, crop=False)
            cropped = torch_deconv.project_live(model, tensors, plan, rule=rule)
        assert_same_projections(cropped, whole, np.float64)


@pytest.mark.parametrize("job", JOBS, ids="/".join)
def test_torch_live_rows_are_projects_for_every_rule_and_dtype(job):
    """Every job, rule and dtype once: the live rows (cropped or not) are ``project``'s."""
    plan = plan_for(job)
    for dtype in (np.float64, np.float32):
        params = random_params(11, dtype)
        trace = forward(params, random_images(12, 2, dtype))
        model, tensors = torch_model(params, dtype), trace_to_torch(trace)
        mode = "max" if job[1] == "fc" else job[1]
        units = unit_selections(plan.layer) if mode == "unit" else None
        channels = None if units else plan.channels
        for rule in RULES:
            with torch.inference_mode():
                every = torch_deconv.project(
                    model, tensors, plan.layer, mode, channels, units, rule=rule
                )
                live = torch_deconv.project_live(model, tensors, plan, rule=rule, crop=False)
                cropped = torch_deconv.project_live(model, tensors, plan, rule=rule)
            kept = (every.reshape(*every.shape[:2], -1) != 0).any(2)
            rows = torch_deconv.LiveProjections(
                plan, tensors.activations[plan.layer], kept, every[kept][:, 0]
            )
            assert_same_projections(live, rows, dtype)
            assert_same_projections(cropped, live, dtype)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 5),
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from([np.float64, np.float32]),
    data=st.data(),
)
def test_many_plans_at_once_equal_one_plan_at_a_time(seed, n, rule, dtype, data):
    # NumPy's project_live_many shares one pass below pool2 among the fc plans: the same
    # projections as project_live, plan by plan and in the order asked.
    fc_jobs = [job for job in JOBS if job[1] == "fc"]
    others = data.draw(st.lists(st.sampled_from([j for j in JOBS if j[1] != "fc"]), max_size=3))
    order = data.draw(st.permutations(fc_jobs + others))
    params = random_params(seed, dtype)
    trace = forward(params, random_images(seed + 1, n, dtype))
    plans = [plan_for(job) for job in order]
    together = np_fast.project_live_many(params, trace, plans, rule=rule)
    assert len(together) == len(plans)
    for plan, mine in zip(plans, together, strict=True):
        assert mine.plan == plan
        alone = np_fast.project_live(params, trace, plan, rule=rule)
        assert_same_projections(mine, alone, dtype)
