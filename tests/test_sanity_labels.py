"""`train --shuffle-labels`: the permuted-label model of the sanity checks, seeded and recorded."""

from __future__ import annotations

import json

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.cli import main
from numpy_lenet.params import load_npz
from torch_lenet.batches import float_split, permuted_labels, train_batches


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 500))
def test_permuted_labels_are_a_seeded_permutation(seed, n):
    labels = np.random.default_rng(n).integers(0, 10, size=n)
    shuffled = permuted_labels(labels, seed)
    assert shuffled.dtype == labels.dtype
    np.testing.assert_array_equal(np.sort(shuffled), np.sort(labels))
    np.testing.assert_array_equal(shuffled, permuted_labels(labels, seed))


def test_permuted_labels_move_most_labels():
    labels = np.arange(10_000) % 10
    # A random permutation keeps a label where it was about 1 time in 10 here.
    assert np.mean(permuted_labels(labels, 42) == labels) < 0.15


def _all_labels(batches) -> torch.Tensor:
    return torch.cat([labels for _, labels in batches])


def test_the_batches_feed_the_permuted_labels(data_dir):
    _, true = float_split(data_dir, "train", 300, download=False)
    batches = train_batches(
        data_dir,
        batch_size=64,
        shuffle=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        limit=300,
        download=False,
        label_seed=7,
    )
    order = torch.randperm(300, generator=torch.Generator().manual_seed(0)).numpy()
    expected = permuted_labels(true, 7)
    np.testing.assert_array_equal(_all_labels(batches).numpy(), expected[order])
    assert not np.array_equal(expected, true)


def test_cli_records_the_shuffled_labels(data_dir, tmp_path):
    common = ["--data-dir", str(data_dir), "--train-limit", "256", "--test-limit", "100"]
    common += ["--threads", "1", "--epochs", "1", "--quiet"]
    shuffled, plain = tmp_path / "shuffled", tmp_path / "plain"
    assert main(["train", *common, "--out", str(shuffled), "--shuffle-labels"]) == 0
    assert main(["train", *common, "--out", str(plain)]) == 0
    config = json.loads((shuffled / "config.json").read_text())
    assert config["config"]["shuffle_labels"] is True
    assert "permuted" in config["recipe"]["labels"]
    assert json.loads((plain / "config.json").read_text())["config"]["shuffle_labels"] is False
    # Same seed, same initialisation and batch order: only the labels differ, so the weights do.
    a, b = load_npz(shuffled / "model.npz"), load_npz(plain / "model.npz")
    assert not np.array_equal(a["fc3.weight"], b["fc3.weight"])
