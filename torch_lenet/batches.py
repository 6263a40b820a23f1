"""Training batches, two ways, same batches in the same order.

``tensor`` slices one in-memory tensor of the whole split by a seeded
permutation per epoch; ``dataloader`` is the plain torchvision Dataset +
DataLoader path, which turns each image into a PIL image and back. Both draw
their epoch's order with ``torch.randperm`` from the same shuffle generator, so
they feed the model identical batches (tests/test_train.py checks that the
resulting weights are bit-identical).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, Subset

from .data import (
    MNIST_MEAN,
    MNIST_STD,
    images_to_float,
    load_mnist,
    mnist_dataset,
    normalize_images,
)

LOADERS: tuple[str, ...] = ("tensor", "dataloader")


class EpochPermutation(Sampler[int]):
    """A fresh ``randperm`` from the shuffle generator each epoch, as the tensor path draws."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n = n
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())

    def __len__(self) -> int:
        return self.n


class TensorBatches:
    """Batches sliced from one in-memory tensor by a seeded permutation per epoch."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        shuffle: torch.Generator,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.labels), generator=self.shuffle).to(self.images.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.images.index_select(0, index), self.labels.index_select(0, index)


class LoaderBatches:
    """The plain path: a torchvision Dataset through a DataLoader, moved to the device."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            yield images.to(self.device), labels.to(self.device)


def train_batches(
    data_dir: str | os.PathLike[str],
    loader: str,
    *,
    batch_size: int,
    shuffle: torch.Generator,
    device: torch.device,
    limit: int | None = None,
    normalize: bool = False,
    download: bool = True,
    label_seed: int | None = None,
) -> TensorBatches | LoaderBatches:
    """The training split's batches by ``loader``; labels permuted by ``label_seed`` if given."""
    if loader == "tensor":
        images, labels = float_split(data_dir, "train", limit, normalize, download)
        if label_seed is not None:
            labels = permuted_labels(labels, label_seed)
        return TensorBatches(
            torch.from_numpy(images).to(device),
            torch.from_numpy(labels).to(device),
            batch_size,
            shuffle,
        )
    if loader != "dataloader":
        raise ValueError(f"unknown loader {loader!r}; expected one of {', '.join(LOADERS)}")
    from torchvision import transforms  # here: torchvision is slow to import

    steps: list[Any] = [transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)))
    dataset = mnist_dataset(data_dir, "train", download, transform=transforms.Compose(steps))
    if label_seed is not None:  # the same permutation of the same first `limit` labels
        targets = dataset.targets.numpy().astype(np.int64)
        n = len(targets) if limit is None else min(limit, len(targets))
        targets[:n] = permuted_labels(targets[:n], label_seed)
        dataset.targets = torch.from_numpy(targets)
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    sampler = EpochPermutation(len(dataset), shuffle)
    # num_workers=0: on two cores, worker processes would only compete with training.
    return LoaderBatches(DataLoader(dataset, batch_size=batch_size, sampler=sampler), device)


def permuted_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """The labels in a seeded random order, so no image keeps a meaningful label."""
    # Its own generator: the model's initialisation and the batch order stay exactly
    # those of the ordinary run with the same seed (Adebayo et al.'s randomised labels).
    return labels[np.random.default_rng(seed).permutation(len(labels))]


def float_split(
    data_dir: str | os.PathLike[str],
    split: str,
    limit: int | None = None,
    normalize: bool = False,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A split's first ``limit`` images as float32 (N, 1, 28, 28), normalised if asked, + labels."""
    images, labels = load_mnist(data_dir, split, download=download)
    floats = images_to_float(images[:limit], np.float32)
    if normalize:
        floats = normalize_images(floats)
    return np.ascontiguousarray(floats), labels[:limit]
