"""On a machine with CUDA: the PyTorch side on the GPU gives the CPU's projections.

Skipped where PyTorch sees no CUDA device (CI has none); the project's GPU runs
(`benchmarks/gpu_check.py` and this file, through the device tool) exercise it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from lenet_deconv.backends import torch_model, trace_to_torch
from lenet_deconv.crosscheck.jobs import jobs_for, plan_for
from numpy_lenet import deconv as np_deconv
from numpy_lenet.model import forward
from numpy_lenet.rules import RULES
from torch_lenet import deconv as torch_deconv
from torch_lenet.deconv import LiveProjections
from torch_lenet.evaluate import resolve_device

from .lenet_factories import random_images, random_params
from .test_cli_compare import compare
from .test_fast_deconv import assert_same_projections

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule", RULES)
def test_cuda_projections_equal_the_numpy_reference(rule, dtype):
    params = random_params(3, dtype)
    trace = forward(params, random_images(4, 6, dtype))
    model, tensors = torch_model(params, dtype, "cuda"), trace_to_torch(trace, "cuda")
    for job in jobs_for():
        plan = plan_for(job)
        reference = np_deconv.project_live(params, trace, plan, rule=rule)
        with torch.inference_mode():
            # What compare --device cuda computes.
            on_gpu = torch_deconv.project_live(model, tensors, plan, rule=rule)
        assert on_gpu.values.device.type == "cuda", job
        assert_same_projections(on_cpu(on_gpu), reference, dtype)


def on_cpu(projections: LiveProjections) -> LiveProjections:
    """The same projections, copied to the CPU for NumPy to read."""
    return replace(
        projections,
        activations=projections.activations.cpu(),
        live=projections.live.cpu(),
        values=projections.values.cpu(),
    )


def test_compare_on_cuda_passes_through_spawned_workers(data_dir):
    # Three batches: the cross-check shares them among spawned worker processes
    # (CUDA cannot be forked), each with its own CUDA context.
    assert compare(data_dir, "--limit", "30", "--batch-size", "10", "--device", "cuda") == 0


def test_auto_device_picks_cuda():
    assert resolve_device("auto").type == "cuda"
