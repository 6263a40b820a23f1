"""The hand-written training pass (torch_lenet/gradients.py) against autograd on the trace."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lenet_factories import random_images, random_params
from torch_lenet.gradients import PARAM_NAMES, forward, loss_and_gradients, max_pool, unpool
from torch_lenet.model import LeNet5


def _model(seed: int) -> LeNet5:
    model = LeNet5().double()
    state = {k: torch.from_numpy(v) for k, v in random_params(seed).items()}
    model.load_state_dict(state)
    return model


def test_param_names_follow_the_models_parameter_order():
    assert tuple(name for name, _ in LeNet5().named_parameters()) == PARAM_NAMES


@settings(max_examples=25, deadline=None)
@given(
    planes=st.integers(0, 2**32 - 1).map(
        lambda s: np.random.default_rng(s).integers(-2, 3, size=(3, 4, 6, 8)).astype(np.float64)
    ),
    seed=st.integers(0, 1000),
)
def test_pool_and_unpool_are_max_pool2d_and_its_backward_bit_for_bit(planes, seed):
    """Ties everywhere (values from -2..2): the gradient goes where max_pool2d's index says."""
    x = torch.from_numpy(planes).requires_grad_()
    grad = torch.from_numpy(np.random.default_rng(seed).normal(size=(3, 4, 3, 4)))
    expected = F.max_pool2d(x, 2, 2)
    expected.backward(grad)
    pooled, windows = max_pool(x.detach())
    torch.testing.assert_close(pooled, expected.detach(), rtol=0, atol=0)
    torch.testing.assert_close(unpool(grad, pooled, windows), x.grad, rtol=0, atol=0)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 9), gain=st.sampled_from([0.5, 1.0, 3.0]))
def test_loss_and_gradients_are_autograd_on_the_trace(seed, n, gain):
    """float64: the trace's log-probs, NLL sum, correct count and gradients, within rounding."""
    model = _model(seed)
    if gain != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(gain)
    images = torch.from_numpy(random_images(seed, n))
    labels = torch.from_numpy(np.random.default_rng(seed).integers(0, 10, n))
    log_probs = model(images)
    expected_loss = F.cross_entropy(log_probs, labels, reduction="sum")
    expected_loss.backward()
    params = [p.detach() for p in model.parameters()]

    torch.testing.assert_close(forward(params, images), log_probs.detach(), rtol=0, atol=1e-12)
    loss, correct, grads = loss_and_gradients(params, images, labels)
    torch.testing.assert_close(loss, expected_loss.detach(), rtol=1e-12, atol=1e-12)
    assert correct == (log_probs.argmax(1) == labels).sum()
    for name, grad, param in zip(PARAM_NAMES, grads, model.parameters(), strict=True):
        assert grad.shape == param.shape and grad.dtype == param.dtype, name
        scale = param.grad.abs().max().item()
        torch.testing.assert_close(grad, param.grad, rtol=0, atol=1e-12 * max(scale, 1), msg=name)


def test_float32_in_float32_out():
    params = [p.detach() for p in LeNet5().parameters()]
    images = torch.from_numpy(random_images(0, 4, np.float32))
    loss, _, grads = loss_and_gradients(params, images, torch.tensor([0, 1, 2, 3]))
    assert loss.dtype == torch.float32
    assert all(g.dtype == torch.float32 for g in grads)
    assert forward(params, images).dtype == torch.float32
