"""Interrupted runs: SIGKILL at each write, SIGTERM, restarts, resume's bit-identity guard,
training that diverges, and temporaries left by a killed process.

The kills happen in forked children of tests/safety_driver.py (one Python process
imports torch once), just before the Nth atomic rename: the moment a complete
temporary file sits beside a target it has not yet replaced.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet_deconv.cli import main
from numpy_lenet.atomic import temp_name
from torch_lenet import train as train_module

from .conftest import REPO, SHIPPED_WEIGHTS
from .safety_tools import one_line_error, temp_files

#: Two tiny epochs: 9 writes (config, then per epoch: epoch-NN.npz, metrics, checkpoint;
#: then model.pt, model.npz).
TRAIN_WRITES = 9


def train_argv(data_dir: Path, out: Path, *extra: str) -> list[str]:
    """A two-epoch run on 256 images, one thread: seconds, and bit-reproducible."""
    return [
        "train",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--no-download",
        "--epochs",
        "2",
        "--train-limit",
        "256",
        "--test-limit",
        "64",
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]


def drive(tmp_path: Path, data_dir: Path, jobs: list[dict]) -> list[dict]:
    """Run jobs in tests/safety_driver.py; return how each child ended."""
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps({"data_dir": str(data_dir), "jobs": jobs}))
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "safety_driver.py"), str(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


_MNIST: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}


@pytest.fixture(autouse=True)
def shared_mnist(monkeypatch):
    """Parse each MNIST split once for this module's many short runs (as the driver does)."""
    from torch_lenet import batches, data

    real = data.load_mnist

    def load_mnist(where, split, download=True):
        key = (str(where), split)
        if key not in _MNIST:
            _MNIST[key] = real(where, split, download=download)
        return _MNIST[key]

    monkeypatch.setattr(data, "load_mnist", load_mnist)
    monkeypatch.setattr(batches, "load_mnist", load_mnist)


@pytest.fixture(scope="module")
def signalled(tmp_path_factory, data_dir) -> tuple[Path, dict[str, dict]]:
    """Every signalled job of this module, run in one driver: (their folder, results by name)."""
    root = tmp_path_factory.mktemp("signalled")
    jobs = {
        f"kill-{n}": {"argv": train_argv(data_dir, root / f"kill-{n}"), "at": n, "signal": "KILL"}
        for n in range(1, TRAIN_WRITES + 1)
    }
    jobs["term-project"] = {"argv": project_argv(data_dir, root / "project"), "at": 1}
    jobs["term-visualize"] = {"argv": visualize_argv(data_dir, root / "gallery"), "at": 3}
    jobs["term-train"] = {"argv": train_argv(data_dir, root / "run"), "at": 4}
    for job in jobs.values():
        job.setdefault("signal", "TERM")
    results = drive(root, data_dir, list(jobs.values()))
    return root, dict(zip(jobs, results, strict=True))


def project_argv(data_dir: Path, out: Path) -> list[str]:
    """Project two MNIST images' conv2 channels into ``out``/p.npy."""
    return [
        "project",
        "--weights",
        str(SHIPPED_WEIGHTS),
        "--data-dir",
        str(data_dir),
        "--index",
        "0,1",
        "--layer",
        "conv2",
        "--all-channels",
        "--out",
        str(out / "p.npy"),
    ]


def visualize_argv(data_dir: Path, out: Path) -> list[str]:
    """A gallery of the first 30 test images into ``out``."""
    return [
        "visualize",
        "--weights",
        str(SHIPPED_WEIGHTS),
        "--data-dir",
        str(data_dir),
        "--limit",
        "30",
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> bytes:
    """model.npz of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(train_argv(data_dir, out)) == 0
    return (out / "model.npz").read_bytes()


def test_sigkill_at_every_write_then_restart_ends_bit_identical(
    signalled, data_dir, reference, capsys
):
    root, results = signalled
    for n in range(1, TRAIN_WRITES + 1):
        run, result = root / f"kill-{n}", results[f"kill-{n}"]
        assert result["ended"] == "signal 9", (n, result)
        assert temp_files(run), n  # the kill left a complete temporary behind ...
        # ... and no file under a real name is half-written: every JSON parses.
        for name in ("config.json", "metrics.json"):
            if (run / name).exists():
                json.loads((run / name).read_text())
        # A run killed before its first checkpoint starts over without --force;
        # one with a checkpoint resumes.
        again = train_argv(data_dir, run)
        if (run / "checkpoint.pt").exists():
            again.append("--resume")
        assert main(again) == 0, (n, capsys.readouterr().err)
        assert temp_files(run) == [], n
        assert (run / "model.npz").read_bytes() == reference, n


def test_sigterm_removes_the_temporary_and_exits_143(signalled):
    root, results = signalled
    for command in ("project", "visualize", "train"):
        result = results[f"term-{command}"]
        assert result["ended"] == "exit 143", result
        assert f"lenet-deconv {command}: stopped by SIGTERM" in result["stderr"]
        assert "Traceback" not in result["stderr"]
    assert not (root / "project").exists()  # the folder made for the output went too
    gallery = root / "gallery"
    assert temp_files(gallery) == [] and len(list(gallery.glob("*.png"))) == 2
    assert temp_files(root / "run") == [] and not (root / "run" / "checkpoint.pt").exists()


def test_diverging_training_stops_with_a_consistent_run(tmp_path, data_dir, capsys, monkeypatch):
    real = train_module._train_epoch
    calls = {"n": 0}

    def second_epoch_diverges(*args, **kwargs):
        loss, accuracy = real(*args, **kwargs)
        calls["n"] += 1
        return (math.nan if calls["n"] == 2 else loss), accuracy

    monkeypatch.setattr(train_module, "_train_epoch", second_epoch_diverges)
    run = tmp_path / "run"
    assert main(train_argv(data_dir, run)) == 2
    line = one_line_error(capsys.readouterr().err, "train")
    assert "epoch 2: the loss became NaN or infinite" in line
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final"]["epoch"] == 1
    assert sorted(p.name for p in (run / "epochs").iterdir()) == ["epoch-01.npz"]
    assert not (run / "model.npz").exists() and temp_files(run) == []
    monkeypatch.setattr(train_module, "_train_epoch", real)
    assert main(train_argv(data_dir, run, "--resume")) == 0  # the run goes on from epoch 1


def test_force_and_resume_sweep_orphan_temporaries(tmp_path, data_dir):
    run = tmp_path / "run"
    assert main([*train_argv(data_dir, run)[:-1], "--quiet", "--epochs", "1"]) == 0
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphans = [run / temp_name(int(dead.stdout)), run / "epochs" / temp_name(int(dead.stdout))]
    for orphan in orphans:
        orphan.write_bytes(b"\0" * 1000)
    users = [run / "keep.tmp", run / ".checkpoint.pt.abcd1234.tmp"]  # the old pattern: a user's
    for user in users:
        user.write_bytes(b"not ours")
    assert main(train_argv(data_dir, run, "--resume")) == 0
    assert temp_files(run) == [] and all(user.exists() for user in users)
    orphans[0].write_bytes(b"\0")
    assert main(train_argv(data_dir, run, "--force")) == 0
    assert temp_files(run) == []


def test_resume_without_a_checkpoint_says_to_start_over(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "lenet-deconv-run.txt").write_text("")  # a run of train's own, killed early
    assert main(train_argv(data_dir, run, "--resume")) == 2
    line = one_line_error(capsys.readouterr().err, "train")
    assert "without --resume" in line
    assert main(train_argv(data_dir, run)) == 0  # no --force needed: nothing was kept
    assert np.load(run / "model.npz").files
