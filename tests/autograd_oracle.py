"""The autograd oracle of the three backward rules, and the bound its comparisons use.

Shares nothing with the code under test but the weights: it runs the plain
PyTorch modules (no trace, no deconv code, no selection code), builds the kept
activations' mask on its own, and asks torch.autograd for the input gradient of
sum(kept value * activation), with a backward hook on each ReLU, as Captum and
Zennit define the rules:

- ``gradient``: no hook, plain backpropagation;
- ``deconvnet``: the hook returns relu(grad_output), the signal rectified
  whatever the forward pass did (Captum's ``Deconvolution``);
- ``guided``: the hook returns relu(grad_input), the signal rectified and
  masked by the forward pass (Captum's ``GuidedBackprop``).

Max-pooling's backward sends each value to its window's argmax, the switch the
forward pass recorded. The oracle hands its forward pass over as a Trace, so a
mirror under test projects from the same kept values, masks and switches, and
what is left to compare is the mirror against autograd's backward, both
float64, value by value against ``derived_bound``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lenet_deconv.backends import torch_model
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, PARAM_SHAPES
from numpy_lenet.model import Trace

#: float64's unit roundoff.
UNIT_ROUNDOFF = 2.0**-53
#: The mirror's blocks with a filter, from the top down, and each conv's padding.
FILTERED = ("fc3", "fc2", "fc1", "conv2", "conv1")
PADDING = {"conv1": 2, "conv2": 0}
BELOW_POOL = {"pool1": "conv1", "pool2": "conv2"}


def _relu_grad_output(module, grad_input, grad_output):
    return (torch.relu(grad_output[0]),)


def _relu_grad_input(module, grad_input, grad_output):
    return (torch.relu(grad_input[0]),)


#: What each rule's backward hook on a ReLU returns as that ReLU's input gradient.
RELU_HOOKS = {"gradient": None, "deconvnet": _relu_grad_output, "guided": _relu_grad_input}


def plain_forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[dict, dict]:
    """Every named activation (on the autograd graph) and both pools' indices."""
    conv1 = model.relu1(model.conv1(x))
    pool1, switches1 = F.max_pool2d(conv1, 2, 2, return_indices=True)
    conv2 = model.relu2(model.conv2(pool1))
    pool2, switches2 = F.max_pool2d(conv2, 2, 2, return_indices=True)
    fc1 = model.relu3(model.fc1(pool2.flatten(1)))
    fc2 = model.relu4(model.fc2(fc1))
    fc3 = model.fc3(fc2)
    values = (conv1, pool1, conv2, pool2, fc1, fc2, fc3)
    return dict(zip(LAYER_NAMES, values, strict=True)), {"pool1": switches1, "pool2": switches2}


def kept_mask(values: np.ndarray, mode: str, selection: tuple[int, ...]) -> np.ndarray:
    """0/1 mask (N, *shape) of what one selection keeps, written out plainly (first max)."""
    mask = np.zeros_like(values)
    channel = selection[0]
    for i in range(len(values)):
        if values.ndim == 2:  # fc: a channel is one unit, every mode keeps it
            mask[i, channel] = 1
        elif mode == "map":
            mask[i, channel] = 1
        elif mode == "max":
            y, x = np.unravel_index(int(np.argmax(values[i, channel])), values.shape[2:])
            mask[i, channel, y, x] = 1
        else:
            mask[i, channel, selection[1], selection[2]] = 1
    return mask


def magnitude(params, trace: Trace, layer: str, kept: np.ndarray, rule: str) -> np.ndarray:
    """|mirror|(|kept|): the mirror on |W| and |kept|, with the rule's masks (N, 1, 28, 28).

    Every term any correct implementation adds is at most this in size, at every
    step: relu(r) and the masks never grow |r|, unpooling only moves values.
    """
    r = torch.from_numpy(np.abs(kept))
    order = LAYER_NAMES[::-1]
    for name in order[order.index(layer) :]:
        if name in BELOW_POOL:
            switches = torch.from_numpy(trace.switches[name])
            r = F.max_unpool2d(r, switches, 2, 2, output_size=LAYER_SHAPES[BELOW_POOL[name]][1:])
            continue
        if name != "fc3" and rule != "deconvnet":
            r = r * torch.from_numpy(trace.activations[name] > 0)
        weight = torch.from_numpy(np.abs(params[f"{name}.weight"]))
        if name in PADDING:
            r = F.conv_transpose2d(r, weight, padding=PADDING[name])
        else:
            r = (r @ weight).reshape(len(r), *LAYER_SHAPES[order[order.index(name) + 1]])
    return r.numpy()


def mirror_error(layer: str) -> float:
    """c with |computed - exact| <= c * |mirror|(|kept|) for one float64 mirror, value by value.

    Each transposed filter adds n products per output value, n = the forward
    layer's outputs per input value (out channels x kernel area): computed in
    any order, it is within gamma_n = n u / (1 - n u) of its exact sum, relative
    to the sum of the terms' sizes (Higham 3.1). Through a 1-Lipschitz ReLU
    step and an exact unpooling, an input error e becomes at most |W|^T e, so
    the errors add up: c' = c + gamma_n (1 + c) per block.
    """
    first = layer.replace("pool", "conv")
    c = 0.0
    for name in FILTERED[FILTERED.index(first) :]:
        shape = PARAM_SHAPES[f"{name}.weight"]
        n = shape[0] * math.prod(shape[2:])
        c += n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF) * (1 + c)
    return c


def derived_bound(layer: str, magnitudes: np.ndarray) -> np.ndarray:
    """How far two correct float64 mirrors of the same projection can be, value by value.

    Both are within c * M of the exact projection (``mirror_error``), M the
    exact |mirror|(|kept|); the computed magnitude, a sum of non-negative
    terms, is at least (1 - c) M.
    """
    c = mirror_error(layer)
    return 2 * c / (1 - c) * magnitudes


def oracle(
    params, images: np.ndarray, layer: str, mode: str, selections: list, rule: str
) -> tuple[np.ndarray, Trace, np.ndarray]:
    """Autograd's projections (N, S, 1, 28, 28), its forward pass as a Trace, their magnitudes.

    ``selections`` are (c,) channels or (c, y, x) / (j,) units, as ``mode`` says."""
    model = torch_model(params, np.float64)
    if RELU_HOOKS[rule] is not None:
        for relu in (model.relu1, model.relu2, model.relu3, model.relu4):
            relu.register_full_backward_hook(RELU_HOOKS[rule])
    x = torch.from_numpy(images).requires_grad_(True)
    activations, switches = plain_forward(model, x)
    trace = Trace(
        {k: v.detach().numpy() for k, v in activations.items()},
        {k: v.numpy() for k, v in switches.items()},
        F.log_softmax(activations["fc3"], dim=1).detach().numpy(),
    )
    values = trace.activations[layer]
    grads, magnitudes = [], []
    for selection in selections:
        kept = kept_mask(values, mode, selection) * values
        target = (torch.from_numpy(kept) * activations[layer]).sum()
        (grad,) = torch.autograd.grad(target, x, retain_graph=True)
        grads.append(grad.numpy())
        magnitudes.append(magnitude(params, trace, layer, kept, rule))
    return np.stack(grads, axis=1), trace, np.stack(magnitudes, axis=1)


def assert_within(side: str, got: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> None:
    """|got - expected| <= bound everywhere; the message names the worst value against its bound."""
    error = np.abs(got.astype(np.float64) - expected)
    if np.all(error <= bound):
        return
    worst = np.unravel_index(int(np.argmax(error - bound)), error.shape)
    raise AssertionError(
        f"{side}: |error| {error[worst]:.3e} beyond the derived bound {bound[worst]:.3e} at {worst}"
    )
