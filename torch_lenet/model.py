"""The LeNet-5 variant as a PyTorch module that can record a trace of every layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from numpy_lenet.architecture import CONV1_PADDING, CONV2_PADDING, POOL_KERNEL, POOL_STRIDE


@dataclass(frozen=True)
class TorchTrace:
    """Everything the deconvnet needs from one forward pass."""

    # activations: each of LAYER_NAMES (post-ReLU, logits for fc3); switches: pool1/pool2
    # to max_pool2d's int64 indices (flat positions in each input plane).

    activations: dict[str, torch.Tensor]
    switches: dict[str, torch.Tensor]
    log_probs: torch.Tensor


class LeNet5(nn.Module):
    """conv1 6@5x5 pad 2, pool, conv2 16@5x5, pool, fc 120, 84, 10, log_softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=CONV1_PADDING)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(POOL_KERNEL, POOL_STRIDE, return_indices=True)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=CONV2_PADDING)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(POOL_KERNEL, POOL_STRIDE, return_indices=True)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (N, 10) for images (N, 1, 28, 28)."""
        return self.trace(x).log_probs

    def trace(self, x: torch.Tensor) -> TorchTrace:
        """Run the forward pass and keep every named activation and switch."""
        conv1 = self.relu1(self.conv1(x))
        pool1, switches1 = self.pool1(conv1)
        conv2 = self.relu2(self.conv2(pool1))
        pool2, switches2 = self.pool2(conv2)
        fc1 = self.relu3(self.fc1(torch.flatten(pool2, 1)))
        fc2 = self.relu4(self.fc2(fc1))
        fc3 = self.fc3(fc2)
        activations = {
            "conv1": conv1,
            "pool1": pool1,
            "conv2": conv2,
            "pool2": pool2,
            "fc1": fc1,
            "fc2": fc2,
            "fc3": fc3,
        }
        switches = {"pool1": switches1, "pool2": switches2}
        return TorchTrace(activations, switches, F.log_softmax(fc3, dim=1))
