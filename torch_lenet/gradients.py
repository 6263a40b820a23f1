"""LeNet-5's training loss and its gradient, written out layer by layer instead of by autograd.

Training needs only the log-probabilities, the summed NLL loss and the weight
gradients, so this module computes exactly those: ``forward`` (the
log-probabilities, recording nothing) and ``loss_and_gradients`` (forward, then
the backward pass by hand). It is the same function and gradient as autograd
on ``LeNet5.trace`` with CrossEntropyLoss, up to rounding
(tests/test_gradients.py), computed with less work:

- Max-pooling comes before the ReLU: ``relu(maxpool(x)) = maxpool(relu(x))``,
  and a window whose maximum is not positive passes no gradient either way.
- Pooling is the elementwise maximum of the four strided views of each 2x2
  window, not ``max_pool2d``: on LeNet's small planes PyTorch's CPU pooling
  kernel costs several times the three ``maximum`` calls, and it writes int64
  indices the backward pass does not need.
- The backward pass sends each window's gradient to the first position (in
  row-major order) holding the window's maximum, as ``max_pool2d``'s indices
  do, using only subtractions and ``threshold_backward``.
- No autograd graph: no saved-tensor bookkeeping, no input gradient for conv1.

The convolutions and their gradients are PyTorch's own kernels
(``conv2d``, ``aten.convolution_backward``). Nothing here depends on the
thread the function runs on, so two halves of a batch may run side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from numpy_lenet.architecture import CONV1_PADDING, CONV2_PADDING

#: The order of ``LeNet5.parameters()``, which ``params`` arguments follow.
PARAM_NAMES: tuple[str, ...] = (
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
    "fc3.weight",
    "fc3.bias",
)

_threshold_backward = torch.ops.aten.threshold_backward
_convolution_backward = torch.ops.aten.convolution_backward


def _windows(planes: torch.Tensor) -> list[torch.Tensor]:
    """The four positions of each 2x2 window of (N, C, H, W), row-major: (N, C, H/2, W/2) views."""
    n, c, h, w = planes.shape
    grid = planes.view(n, c, h // 2, 2, w // 2, 2)
    return [grid[:, :, :, dy, :, dx] for dy in (0, 1) for dx in (0, 1)]


def max_pool(planes: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """2x2 stride-2 max-pooling of (N, C, H, W); also the window views ``unpool`` needs."""
    a, b, c, d = windows = _windows(planes)
    return torch.maximum(torch.maximum(a, b), torch.maximum(c, d)), windows


def unpool(grad: torch.Tensor, pooled: torch.Tensor, windows: list[torch.Tensor]) -> torch.Tensor:
    """max_pool2d's backward: each window's gradient to its first maximal position, 0 elsewhere."""
    n, c, h, w = grad.shape
    out = torch.empty(n, c, 2 * h, 2 * w, dtype=grad.dtype, device=grad.device)
    places = _windows(out)
    rest = grad  # the gradient not yet placed: no earlier position held the window's maximum
    for window, place in zip(windows[:3], places[:3], strict=True):
        # threshold_backward(rest, gap, 0) is rest where gap > 0 (this position is below the
        # maximum), else 0: what passes on to the later positions. The remainder, rest exactly
        # where this position holds the maximum, stays here.
        later = _threshold_backward(rest, pooled - window, 0)
        torch.sub(rest, later, out=place)
        rest = later
    places[3].copy_(rest)  # none of the first three held the maximum: the fourth does
    return out


def forward(params: Sequence[torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (N, 10) of images (N, 1, 28, 28), as ``LeNet5.forward`` gives them."""
    return _forward(params, images)[-1]


def _forward(params: Sequence[torch.Tensor], images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Every intermediate the backward pass needs, the log-probabilities last."""
    w1, b1, w2, b2, f1w, f1b, f2w, f2b, f3w, f3b = params
    conv1 = F.conv2d(images, w1, b1, padding=CONV1_PADDING)
    max1, windows1 = max_pool(conv1)
    pool1 = torch.relu(max1)
    conv2 = F.conv2d(pool1, w2, b2, padding=CONV2_PADDING)
    max2, windows2 = max_pool(conv2)
    pool2 = torch.relu(max2).flatten(1)  # (N, 400) in fc1's (channel, row, column) order
    fc1 = torch.relu(torch.addmm(f1b, pool2, f1w.t()))
    fc2 = torch.relu(torch.addmm(f2b, fc1, f2w.t()))
    log_probs = torch.log_softmax(torch.addmm(f3b, fc2, f3w.t()), dim=1)
    return max1, windows1, pool1, max2, windows2, pool2, fc1, fc2, log_probs


def loss_and_gradients(
    params: Sequence[torch.Tensor], images: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Summed NLL loss, correct count, and the loss's gradient for each of ``params``."""
    w1, _, w2, _, f1w, _, f2w, _, f3w, _ = params
    max1, windows1, pool1, max2, windows2, pool2, fc1, fc2, log_probs = _forward(params, images)
    loss = -log_probs.gather(1, labels[:, None]).sum()
    correct = (log_probs.argmax(dim=1) == labels).sum()

    # d(sum of NLL)/d(logits) = softmax - one-hot, what log_softmax's backward computes.
    minus_one = torch.full_like(log_probs[:, :1], -1.0)
    d_logits = log_probs.exp().scatter_add_(1, labels[:, None], minus_one)
    d_fc2 = _threshold_backward(d_logits @ f3w, fc2, 0)
    d_fc1 = _threshold_backward(d_fc2 @ f2w, fc1, 0)
    d_max2 = _threshold_backward(d_fc1 @ f1w, pool2, 0).view_as(max2)
    d_conv2 = unpool(d_max2, max2, windows2)
    d_pool1, d_w2, d_b2 = _convolution_backward(
        d_conv2, pool1, w2, [w2.shape[0]], [1, 1], [CONV2_PADDING] * 2, [1, 1],
        False, [0, 0], 1, [True, True, True],
    )  # fmt: skip
    d_conv1 = unpool(_threshold_backward(d_pool1, pool1, 0), max1, windows1)
    _, d_w1, d_b1 = _convolution_backward(
        d_conv1, images, w1, [w1.shape[0]], [1, 1], [CONV1_PADDING] * 2, [1, 1],
        False, [0, 0], 1, [False, True, True],
    )  # fmt: skip
    grads = [
        d_w1,
        d_b1,
        d_w2,
        d_b2,
        d_fc1.t() @ pool2,
        d_fc1.sum(0),
        d_fc2.t() @ fc1,
        d_fc2.sum(0),
        d_logits.t() @ fc2,
        d_logits.sum(0),
    ]
    return loss, correct, grads
