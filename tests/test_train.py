"""Training: the recipe's defaults, determinism, resume, the run directory, and its guards."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lenet_deconv.cli import main
from numpy_lenet.params import load_npz
from torch_lenet.batches import float_split
from torch_lenet.checkpoint import RUN_MARKER, CheckpointError, RunDir, load_checkpoint
from torch_lenet.model import LeNet5
from torch_lenet.progress import Progress
from torch_lenet.train import TrainConfig, available_cpus, resume, seed_everything, train

from .conftest import REPO
from .safety_tools import one_line_error, snapshot

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


def test_a_run_is_the_plain_autograd_loop_bit_for_bit(data_dir, tmp_path):
    """train's weights are those of the textbook loop on LeNet5: model(x), loss, backward, step."""
    run = _train(data_dir, tmp_path / "run", epochs=2)
    shuffle = seed_everything(42)
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    x, y = (torch.from_numpy(a) for a in float_split(data_dir, "train", QUICK["train_limit"]))
    torch.set_num_threads(QUICK["threads"])  # the run's thread count: the same rounding
    for _ in range(2):
        # The batch order: one randperm of the shuffle generator per epoch, sliced.
        order = torch.randperm(len(y), generator=shuffle)
        for start in range(0, len(y), 128):
            images, labels = x[order[start : start + 128]], y[order[start : start + 128]]
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for key, value in _weights(run.model_npz).items():
        np.testing.assert_array_equal(value, model.state_dict()[key].numpy(), err_msg=key)


def test_defaults_are_the_recipe_of_the_shipped_weights():
    config = TrainConfig()
    assert (config.seed, config.epochs, config.batch_size, config.lr) == (42, 15, 128, 0.001)
    assert config.shuffle_labels is False


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
    assert config["threads"] == 1 and config["cpu_capability"]  # what decides the rounding
    assert {"torch", "torchvision", "numpy", "python"} <= set(config["versions"])
    assert not list(run.root.rglob("*.tmp")), "a temporary file outlived its rename"


def test_same_seed_same_weights_bit_for_bit(data_dir, tmp_path):
    a = _train(data_dir, tmp_path / "a", epochs=2)
    b = _train(data_dir, tmp_path / "b", epochs=2)
    _assert_bit_identical(a.model_npz, b.model_npz)
    c = _train(data_dir, tmp_path / "c", epochs=2, seed=7)
    other_seed = _weights(c.model_npz)["fc1.weight"]
    assert not np.array_equal(_weights(a.model_npz)["fc1.weight"], other_seed)


def test_resume_refuses_another_thread_count(data_dir, tmp_path):
    """The thread count changes the rounding, so a resume keeps the run's (or is refused)."""
    if available_cpus() < 2:
        pytest.skip("needs 2 CPUs to ask for another thread count")
    run = _train(data_dir, tmp_path / "run", epochs=1)
    before = _tree_digest(run.root)
    with pytest.raises(ValueError, match="pass --threads 1"):
        resume(run.root, data_dir, {"epochs": 2, "threads": 2}, progress=Progress(quiet=True))
    assert _tree_digest(run.root) == before


def test_resume_ends_with_the_uninterrupted_weights(data_dir, tmp_path):
    whole = _train(data_dir, tmp_path / "whole", epochs=3)
    # "Interrupted" after epoch 1: the run stopped there; resume to epoch 3.
    part = _train(data_dir, tmp_path / "part", epochs=1)
    resume(part.root, data_dir, {"epochs": 3}, progress=Progress(quiet=True))
    assert json.loads(part.config.read_text())["resumed_from_epoch"] == 1
    _assert_bit_identical(whole.model_npz, part.model_npz)
    _assert_bit_identical(whole.epoch_npz(2), part.epoch_npz(2))
    first = json.loads(whole.metrics.read_text())["epochs"]
    second = json.loads(part.metrics.read_text())["epochs"]
    for a, b in zip(first, second, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["test_accuracy"] == b["test_accuracy"]


def test_training_draws_from_neither_pythons_nor_numpys_generator(data_dir, tmp_path):
    """The checkpoint keeps torch's generators only: a resume's seeding must restore the rest."""
    _train(data_dir, tmp_path / "run", epochs=1)
    after_run = (random.random(), np.random.random())  # noqa: NPY002
    seed_everything(42)
    assert (random.random(), np.random.random()) == after_run  # noqa: NPY002


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


# --- what train may write over (issue 23) ---------------------------------------------


def _cli(data_dir: Path, out: Path | str, *extra: str) -> list[str]:
    return [
        "train", "--data-dir", str(data_dir), "--out", str(out), "--epochs", "1",
        "--train-limit", "256", "--test-limit", "256", "--threads", "1", "--quiet", *extra,
    ]  # fmt: skip


def _refused(argv: list[str], root: Path, capsys) -> str:
    """Run argv; assert exit 2, one error line and nothing changed under ``root``."""
    before = snapshot(root)
    code = main(argv)
    line = one_line_error(capsys.readouterr().err, "train")
    assert code == 2, line
    assert snapshot(root) == before
    return line


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_a_folder_of_weights_is_not_a_run_to_replace(data_dir, tmp_path, capsys, force):
    """The shipped weights/ of a clone: refused whole, its epochs/ and JSON files untouched."""
    weights = tmp_path / "weights"
    (weights / "epochs").mkdir(parents=True)
    for name in ("lenet5-mnist.npz", "metrics.json", "config.json", "PROVENANCE.md"):
        (weights / name).write_bytes((REPO / "weights" / name).read_bytes())
    for n in (1, 2, 15):
        name = f"epochs/epoch-{n:02d}.npz"
        (weights / name).write_bytes((REPO / "weights" / name).read_bytes())
    line = _refused(_cli(data_dir, weights, *force), tmp_path, capsys)
    assert f"{weights} is not empty and is not a training run" in line


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_someones_config_json_is_neither_replaced_nor_unlinked(data_dir, tmp_path, capsys, force):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"mine": true}\n')
    _refused(_cli(data_dir, mine, *force), tmp_path, capsys)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "config.json").symlink_to(mine / "config.json")
    _refused(_cli(data_dir, linked, *force), tmp_path, capsys)


def test_force_replaces_a_run_of_its_own_and_keeps_other_files(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_cli(data_dir, run, "--epochs", "2")) == 0
    assert (run / RUN_MARKER).is_file()
    (run / "notes.txt").write_text("mine")
    assert "--force" in _refused(_cli(data_dir, run), tmp_path, capsys)
    assert main(_cli(data_dir, run, "--force")) == 0
    assert sorted(p.name for p in (run / "epochs").iterdir()) == ["epoch-01.npz"]
    assert (run / "notes.txt").read_text() == "mine"


def test_an_empty_folder_is_a_place_for_a_run(data_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(_cli(data_dir, tmp_path / "empty")) == 0
    assert (tmp_path / "empty" / "model.npz").is_file()


def test_resume_marks_a_run_made_before_the_marker(data_dir, tmp_path):
    """A run whose checkpoint is train's own is train's own run, marker or not."""
    run = _train(data_dir, tmp_path / "run", epochs=1)
    run.marker.unlink()
    resume(run.root, data_dir, {"epochs": 2}, progress=Progress(quiet=True), download=False)
    assert run.is_ours() and run.epoch_npz(2).is_file()


def test_empty_out_is_refused(data_dir, tmp_path, capsys, monkeypatch):
    """--out '' is not the current folder."""
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--resume"]):
        line = _refused(_cli(data_dir, "", *extra), tmp_path, capsys)
        assert "--out is empty" in line


@pytest.mark.parametrize("threads", ["20000", "100000"])
def test_threads_beyond_the_cpus_are_refused(data_dir, tmp_path, threads):
    """Once a segfault or a libgomp abort: so in a child process, whose death the test sees."""
    argv = _cli(data_dir, tmp_path / "run")
    argv[argv.index("--threads") + 1] = threads
    done = subprocess.run(
        [sys.executable, "-m", "lenet_deconv", *argv],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    line = one_line_error(done.stderr, "train")
    assert done.returncode == 2, line
    assert f"--threads {threads} is more than the {available_cpus()} CPU(s)" in line
    assert not (tmp_path / "run").exists()


def test_quiet_prints_only_the_final_accuracy(data_dir, tmp_path, capsys):
    assert main(_cli(data_dir, tmp_path / "run")) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and "test accuracy" in out
    assert err == ""


def test_a_checkpoint_naming_the_dropped_loader_option_still_resumes():
    """Runs from before --loader was dropped stored it; every loader fed the same batches."""
    assert TrainConfig.from_dict({"epochs": 2, "loader": "dataloader"}) == TrainConfig(epochs=2)


def test_a_checkpoint_of_a_normalised_run_is_refused_and_one_without_resumes():
    """--normalize was dropped: its pixels are not the ones train feeds now."""
    assert TrainConfig.from_dict({"epochs": 2, "normalize": False}) == TrainConfig(epochs=2)
    with pytest.raises(ValueError, match="--normalize"):
        TrainConfig.from_dict({"epochs": 2, "normalize": True})
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epochs": 2, "sampler": "x"})
