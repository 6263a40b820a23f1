"""Training: the recipe's defaults, determinism, resume, the run directory, and its guards."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lenet_deconv.cli import main
from numpy_lenet.params import load_npz
from torch_lenet.checkpoint import CheckpointError, RunDir, load_checkpoint
from torch_lenet.gradients import forward
from torch_lenet.halves import HalfBatches
from torch_lenet.model import LeNet5
from torch_lenet.progress import Progress
from torch_lenet.train import TrainConfig, resume, train

from .conftest import REPO

QUICK = {"train_limit": 640, "test_limit": 200, "threads": 1}


def _train(data_dir: Path, out: Path, **options) -> RunDir:
    config = TrainConfig(**{**QUICK, **options})
    return train(config, data_dir, out, progress=Progress(quiet=True), download=False).run_dir


def _weights(path: Path) -> dict[str, np.ndarray]:
    return load_npz(path)


def _assert_bit_identical(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_half_batch_step_is_the_whole_batch_gradient(seed):
    """A step's gradient is CrossEntropyLoss's on the whole batch at once, up to rounding."""
    torch.manual_seed(seed)
    model = LeNet5().double()
    images = torch.rand(9, 1, 28, 28, dtype=torch.float64)
    images[images < 0.5] = 0  # MNIST-like exact zeros: ties in the pooling windows
    labels = torch.randint(0, 10, (9,))
    log_probs = model(images)
    # The reference gradient: CrossEntropyLoss on the traced log-probs, the whole batch at once.
    torch.nn.CrossEntropyLoss()(log_probs, labels).backward()
    expected = {k: p.grad.clone() for k, p in model.named_parameters()}
    halves = HalfBatches(model, threads=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # a step that changes nothing
    loss, correct = halves.step(images, labels, optimizer)
    np.testing.assert_array_equal(
        halves.log_probs(images, 4), torch_lenet_forward(model, images), err_msg="log_probs"
    )
    halves.close()
    torch.testing.assert_close(loss / 9, torch.nn.functional.nll_loss(log_probs, labels))
    assert correct == (log_probs.argmax(1) == labels).sum()
    for key, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[key], rtol=1e-10, atol=1e-12, msg=key)


def torch_lenet_forward(model: LeNet5, images: torch.Tensor) -> np.ndarray:
    """The training forward pass, chunk by chunk as log_probs(images, 4) splits it."""
    params = [p.detach() for p in model.parameters()]
    return torch.cat([forward(params, chunk) for chunk in images.split(4)]).numpy()


def test_defaults_are_the_recipe_of_the_shipped_weights():
    config = TrainConfig()
    assert (config.seed, config.epochs, config.batch_size, config.lr) == (42, 15, 128, 0.001)
    assert config.loader == "tensor" and config.normalize is False


def test_run_directory_holds_every_file(data_dir, tmp_path):
    run = _train(data_dir, tmp_path / "run", epochs=2)
    for path in (run.model_pt, run.model_npz, run.metrics, run.config, run.checkpoint):
        assert path.is_file(), path
    assert [p.name for p in sorted(run.epochs_dir.iterdir())] == ["epoch-01.npz", "epoch-02.npz"]
    _assert_bit_identical(run.epoch_npz(2), run.model_npz)
    assert all(v.dtype == np.float32 for v in _weights(run.model_npz).values())
    state = torch.load(run.model_pt, weights_only=True)
    for key, value in _weights(run.model_npz).items():
        np.testing.assert_array_equal(state[key].numpy(), value)
    metrics = json.loads(run.metrics.read_text())
    assert [m["epoch"] for m in metrics["epochs"]] == [1, 2]
    for field in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"):
        assert all(np.isfinite(m[field]) for m in metrics["epochs"]), field
    config = json.loads(run.config.read_text())
    assert config["config"]["seed"] == 42 and config["recipe"]["optimizer"] == "Adam"
    assert {"torch", "torchvision", "numpy", "python"} <= set(config["versions"])
    assert not list(run.root.rglob("*.tmp")), "a temporary file outlived its rename"


def test_same_seed_same_weights_bit_for_bit(data_dir, tmp_path):
    a = _train(data_dir, tmp_path / "a", epochs=2)
    b = _train(data_dir, tmp_path / "b", epochs=2)
    _assert_bit_identical(a.model_npz, b.model_npz)
    c = _train(data_dir, tmp_path / "c", epochs=2, seed=7)
    other_seed = _weights(c.model_npz)["fc1.weight"]
    assert not np.array_equal(_weights(a.model_npz)["fc1.weight"], other_seed)


def test_thread_count_changes_no_bit(data_dir, tmp_path):
    """The half-batches run one after the other or side by side: the same numbers."""
    one = _train(data_dir, tmp_path / "one", epochs=1, threads=1)
    two = _train(data_dir, tmp_path / "two", epochs=1, threads=2)
    _assert_bit_identical(one.model_npz, two.model_npz)
    assert json.loads(one.metrics.read_text())["final"]["train_loss"] == pytest.approx(
        json.loads(two.metrics.read_text())["final"]["train_loss"], rel=0, abs=0
    )


def test_resume_ends_with_the_uninterrupted_weights(data_dir, tmp_path):
    whole = _train(data_dir, tmp_path / "whole", epochs=3)
    # "Interrupted" after epoch 1: the run stopped there; resume to epoch 3.
    part = _train(data_dir, tmp_path / "part", epochs=1)
    result = resume(part.root, data_dir, {"epochs": 3}, progress=Progress(quiet=True))
    assert result.resumed_from == 1
    _assert_bit_identical(whole.model_npz, part.model_npz)
    _assert_bit_identical(whole.epoch_npz(2), part.epoch_npz(2))
    first = json.loads(whole.metrics.read_text())["epochs"]
    second = json.loads(part.metrics.read_text())["epochs"]
    for a, b in zip(first, second, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["test_accuracy"] == b["test_accuracy"]


def test_dataloader_path_feeds_the_same_batches(data_dir, tmp_path):
    tensor = _train(data_dir, tmp_path / "tensor", epochs=1)
    loader = _train(data_dir, tmp_path / "loader", epochs=1, loader="dataloader")
    _assert_bit_identical(tensor.model_npz, loader.model_npz)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not-a-checkpoint"])
def test_broken_checkpoint_is_a_clear_error_and_nothing_changes(data_dir, tmp_path, damage):
    run = _train(data_dir, tmp_path / "run", epochs=1)
    blob = run.checkpoint.read_bytes()
    if damage == "truncate":
        run.checkpoint.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        run.checkpoint.write_bytes(bytes(range(256)) * 10)
    elif damage == "empty":
        run.checkpoint.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(3)}, run.checkpoint)
    before = _tree_digest(run.root)
    with pytest.raises(CheckpointError) as info:
        resume(run.root, data_dir, {"epochs": 2}, progress=Progress(quiet=True))
    assert str(run.checkpoint) in str(info.value)
    assert _tree_digest(run.root) == before


def test_checkpoint_with_nan_weights_is_refused(data_dir, tmp_path):
    run = _train(data_dir, tmp_path / "run", epochs=1)
    state = torch.load(run.checkpoint, weights_only=True)
    state["model"]["conv2.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, run.checkpoint)
    with pytest.raises(CheckpointError, match=r"conv2\.weight"):
        load_checkpoint(run.checkpoint)


def test_resume_refuses_a_changed_recipe(data_dir, tmp_path):
    run = _train(data_dir, tmp_path / "run", epochs=1)
    before = _tree_digest(run.root)
    with pytest.raises(ValueError, match="lr"):
        resume(run.root, data_dir, {"epochs": 2, "lr": 0.01}, progress=Progress(quiet=True))
    assert _tree_digest(run.root) == before


def test_existing_run_is_not_overwritten_without_force(data_dir, tmp_path):
    run = _train(data_dir, tmp_path / "run", epochs=1)
    before = _tree_digest(run.root)
    with pytest.raises(FileExistsError, match="--resume"):
        _train(data_dir, run.root, epochs=1)
    assert _tree_digest(run.root) == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "epochs must be at least 1"),
        (["--lr", "-1"], "learning rate must be positive"),
        (["--batch-size", "0"], "batch_size must be at least 1"),
    ],
)
def test_cli_rejects_bad_hyperparameters(data_dir, tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    code = main(["train", "--data-dir", str(data_dir), "--out", str(out), "--quiet", *flags])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_train_then_resume(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    common = [
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--train-limit",
        "256",
        "--test-limit",
        "100",
        "--threads",
        "1",
    ]
    assert main(["train", *common, "--epochs", "1"]) == 0
    lines = capsys.readouterr()
    assert "epoch  1/1" in lines.err and "test accuracy" in lines.out
    assert main(["train", *common, "--epochs", "2", "--resume"]) == 0
    assert "resuming" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["final"]["epoch"] == 2
    assert main(["train", *common, "--epochs", "1"]) == 2
    assert "--force" in capsys.readouterr().err


def test_training_never_imports_torchvision(data_dir, tmp_path):
    """torchvision costs about 2 s to import; train reads MNIST and versions without it."""
    script = (
        "import json, sys\n"
        "from torch_lenet.progress import Progress\n"
        "from torch_lenet.train import TrainConfig, train\n"
        f"config = TrainConfig(**{QUICK!r}, epochs=1)\n"
        f"run = train(config, {str(data_dir)!r}, {str(tmp_path / 'run')!r},"
        " progress=Progress(quiet=True), download=False).run_dir\n"
        "print(json.dumps(['torchvision' in sys.modules,"
        " json.loads(run.config.read_text())['versions']['torchvision']]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    imported, recorded = json.loads(done.stdout.splitlines()[-1])
    assert not imported
    assert recorded == importlib.metadata.version("torchvision")  # what pip installed
