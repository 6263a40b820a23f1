"""Training batches: a DataLoader over the training split held as one tensor, in a seeded order."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Sampler, TensorDataset

from .data import images_to_float, load_mnist


class EpochPermutation(Sampler[int]):
    """A fresh ``torch.randperm`` from the shuffle generator each epoch."""

    # Not RandomSampler(generator=...): it draws a second, unused permutation every
    # epoch, so from epoch 2 on its order is not the one the recorded runs trained on.

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n = n
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.n, generator=self.generator).tolist())

    def __len__(self) -> int:
        return self.n


def train_batches(
    data_dir: str | os.PathLike[str],
    *,
    batch_size: int,
    shuffle: torch.Generator,
    device: torch.device,
    limit: int | None = None,
    download: bool = True,
    label_seed: int | None = None,
) -> DataLoader:
    """The training split's batches on ``device``; labels permuted by ``label_seed`` if given."""
    images, labels = float_split(data_dir, "train", limit, download)
    if label_seed is not None:
        labels = permuted_labels(labels, label_seed)
    dataset = TensorDataset(
        torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)
    )
    # A BatchSampler with batch_size=None: each batch is the dataset indexed by a batch's
    # indices at once, the same values as batch_size single images stacked.
    order = BatchSampler(EpochPermutation(len(labels), shuffle), batch_size, drop_last=False)
    return DataLoader(dataset, sampler=order, batch_size=None)


def permuted_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """The labels in a seeded random order, so no image keeps a meaningful label."""
    # Its own generator: the model's initialisation and the batch order stay exactly
    # those of the ordinary run with the same seed (Adebayo et al.'s randomised labels).
    return labels[np.random.default_rng(seed).permutation(len(labels))]


def float_split(
    data_dir: str | os.PathLike[str],
    split: str,
    limit: int | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A split's first ``limit`` images as float32 (N, 1, 28, 28), and their labels."""
    images, labels = load_mnist(data_dir, split, download=download)
    return np.ascontiguousarray(images_to_float(images[:limit], np.float32)), labels[:limit]
