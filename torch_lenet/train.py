"""Training LeNet-5 on MNIST with the project's recipe (docs/training.md) into a run directory."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import os
import platform
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from numpy_lenet.atomic import atomic_path, sweep_temps
from numpy_lenet.model import available_cpus

from .batches import float_split, train_batches
from .checkpoint import CheckpointError, RunDir, load_checkpoint, save_checkpoint, write_json
from .evaluate import resolve_device, summarize, torch_log_probs
from .model import LeNet5
from .progress import Progress
from .weights import save_params_from_model

#: Fields a resumed run may change: they do not alter which numbers are computed
#: (on one device and thread count the result stays bit-identical; docs/training.md).
RESUME_OVERRIDABLE: tuple[str, ...] = ("epochs", "device", "threads")

#: Adam moves every weight by up to ~lr per step; beyond 1 it throws LeNet-5's weights
#: (~0.1 in size) far out of range and the run is noise, so such a request is refused.
MAX_LR = 1.0

#: Test images per forward pass in the per-epoch evaluation.
EPOCH_EVAL_CHUNK = 500


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and run options; the defaults are the recipe of the shipped weights."""

    seed: int = 42
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.001
    train_limit: int | None = None
    test_limit: int | None = None
    device: str = "auto"
    threads: int | None = None
    shuffle_labels: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "train_limit", "test_limit", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise ValueError(f"learning rate must be positive and at most {MAX_LR}, got {self.lr}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """A config from its ``dataclasses.asdict``; ValueError on unknown or bad fields."""
        # Runs from before --loader and --normalize were dropped name them: every loader fed
        # the same batches, and a run without --normalize is the recipe's own.
        if data.get("normalize"):
            raise ValueError(
                "the run fed normalised pixels (--normalize), which train no longer does"
            )
        data = {k: v for k, v in data.items() if k not in ("loader", "normalize")}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {', '.join(unknown)}")
        return cls(**data)

    def resumed_with(self, overrides: Mapping[str, Any]) -> TrainConfig:
        """This (stored) config with a resume's overrides; ValueError if one changes the recipe."""
        changed = {k: v for k, v in overrides.items() if v is not None and getattr(self, k) != v}
        refused = sorted(k for k in changed if k not in RESUME_OVERRIDABLE)
        if refused:
            detail = ", ".join(
                f"{k}: run has {getattr(self, k)!r}, asked {changed[k]!r}" for k in refused
            )
            raise ValueError(
                f"--resume continues the run as it was configured; these options differ ({detail})"
            )
        return dataclasses.replace(self, **changed)


@dataclass(frozen=True)
class TrainResult:
    """What a finished ``train`` or ``resume`` call produced."""

    run_dir: RunDir
    metrics: list[dict[str, float]]


def resolve_threads(requested: int | None) -> int:
    """The thread count to train on: ``requested``, or every CPU; ValueError beyond the CPUs."""
    cpus = available_cpus()
    if requested is None:
        return cpus
    if requested > cpus:
        # Far beyond the CPUs, torch's thread pool crashes the process (libgomp, or a segfault).
        raise ValueError(
            f"--threads {requested} is more than the {cpus} CPU(s) this process may use; "
            f"ask for at most {cpus}"
        )
    return requested


def train(
    config: TrainConfig,
    data_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Progress | None = None,
    download: bool = True,
) -> TrainResult:
    """Train from scratch into ``out``: a new or empty folder, or a run of ours (with ``force``)."""
    run = RunDir.at(out)
    stale = run.claim(force)
    return _run(config, run, data_dir, None, progress, download, stale=stale)


def resume(
    out: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    download: bool = True,
) -> TrainResult:
    """Continue the run in ``out`` from its last checkpoint; the result matches an unbroken run."""
    run = RunDir.at(out)
    # Everything is read and checked before anything is written: a bad checkpoint
    # leaves the run directory exactly as it was.
    state = load_checkpoint(run.checkpoint)
    try:
        stored = TrainConfig.from_dict(state["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{run.checkpoint}: checkpoint config is unusable: {exc}") from exc
    config = stored.resumed_with(overrides or {})
    if state["epoch"] > config.epochs:
        raise ValueError(
            f"{run.checkpoint} is at epoch {state['epoch']}, beyond --epochs {config.epochs}"
        )
    return _run(config, run, data_dir, state, progress, download, stale=[])


class TrainingDiverged(ValueError):
    """The loss or the weights became NaN or infinite: the run stops before writing the epoch."""


def _check_finite(
    epoch: int, config: TrainConfig, run: RunDir, model: LeNet5, losses: Iterable[float]
) -> None:
    """Raise TrainingDiverged if an epoch's losses or the model's weights are not finite."""
    finite = all(math.isfinite(v) for v in losses) and all(
        bool(torch.isfinite(p).all()) for p in model.parameters()
    )
    if not finite:
        kept = f"epochs 1..{epoch - 1} are kept" if epoch > 1 else "no epoch was kept"
        raise TrainingDiverged(
            f"epoch {epoch}: the loss became NaN or infinite (learning rate {config.lr} too "
            f"large?); training stopped and nothing of epoch {epoch} was written; {run.root}: "
            f"{kept}"
        )


def _run(
    config: TrainConfig,
    run: RunDir,
    data_dir: str | os.PathLike[str],
    state: Mapping[str, Any] | None,
    progress: Progress | None,
    download: bool,
    stale: list[Path],
) -> TrainResult:
    """Set up (or restore) model, optimiser and generators, then train the remaining epochs."""
    threads = resolve_threads(config.threads)
    device = resolve_device(config.device)
    # A resume on another device or thread count would not compute the same numbers.
    for name, asked in (("device", device.type), ("threads", threads)):
        used = None if state is None else state.get(name)
        if used is not None and used != asked:
            raise ValueError(
                f"the run in {run.root} trained with {name} {used}, this resume would use "
                f"{asked}: the weights would not be bit-identical; pass --{name} {used}"
            )
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False

    shuffle = seed_everything(config.seed)
    model = LeNet5().to(device)  # initialised from the freshly seeded global generator
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    metrics: list[dict[str, float]] = []
    start = 0
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"]["torch"])
            shuffle.set_state(state["rng"]["shuffle"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{run.checkpoint}: checkpoint does not fit this model ({exc})"
            ) from exc
        start, metrics = state["epoch"], [dict(m) for m in state["metrics"]]

    batches = train_batches(
        data_dir,
        batch_size=config.batch_size,
        shuffle=shuffle,
        device=device,
        limit=config.train_limit,
        download=download,
        label_seed=config.seed if config.shuffle_labels else None,
    )
    test_images, test_labels = float_split(data_dir, "test", config.test_limit, download)
    test_x = torch.from_numpy(test_images).to(device)
    progress = progress or Progress()
    progress.total_epochs = config.epochs

    # Nothing was written until here: a bad option or missing data leaves --out as it was.
    run.mark()
    for path in stale:  # --force: drop the old run's files so none outlive it
        path.unlink(missing_ok=True)
    sweep_temps(run.epochs_dir)  # writes sweep their folder; a finished resume writes none here
    write_json(run.config, _config_record(config, device, threads, data_dir, start))
    if start:
        progress.message(f"resuming {run.root} after epoch {start}/{config.epochs}")

    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start + 1, config.epochs + 1):
        began = time.perf_counter()
        with progress.epoch(epoch, len(batches)) as tick:
            train_loss, train_acc = _train_epoch(model, optimizer, loss_fn, batches, tick)
        test = summarize(torch_log_probs(model, test_x, EPOCH_EVAL_CHUNK), test_labels)
        _check_finite(epoch, config, run, model, (train_loss, test.loss))
        metrics.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_acc,
                "test_loss": test.loss,
                "test_accuracy": test.accuracy,
                "seconds": time.perf_counter() - began,
            }
        )
        # The checkpoint goes last: it is the commit point a resume starts from.
        save_params_from_model(model, run.epoch_npz(epoch))
        write_json(run.metrics, _metrics_record(config, metrics))
        save_checkpoint(
            run.checkpoint,
            {
                "epoch": epoch,
                "config": dataclasses.asdict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                # The generators training draws from (seed_everything's note says why no others).
                "rng": {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()},
                "metrics": metrics,
                # What else decides the arithmetic: a resume must match them to stay bit-identical.
                "threads": threads,
                "device": device.type,
            },
        )
        progress.summary(metrics[-1])

    _write_final(model, run)
    return TrainResult(run, metrics)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch's global generators; return a CPU generator for shuffling."""
    # Training draws from torch's global generator (initialisation, and the DataLoader's
    # seed each epoch) and the shuffle one only, so a checkpoint keeps just those two: a
    # resume's fresh seeding leaves Python's, NumPy's and CUDA's where an unbroken run has
    # them (tests/test_train.py checks that nothing draws from Python's or NumPy's).
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)
    # The shuffle order has a generator of its own, on the CPU whatever the device, so
    # the batches do not depend on how many numbers weight initialisation drew.
    return torch.Generator(device="cpu").manual_seed(seed)


def _train_epoch(
    model: LeNet5,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    batches: DataLoader,
    tick: Callable[[torch.Tensor], None],
) -> tuple[float, float]:
    """One pass over the batches; the running mean loss and accuracy while the model learnt."""
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for images, labels in batches:
        log_probs = model(images)
        # CrossEntropyLoss applies log_softmax itself; on log-probabilities that is a
        # no-op (log_softmax is idempotent), so this is exactly NLL of the model's output.
        loss = loss_fn(log_probs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double() * len(labels)
        correct += (log_probs.detach().argmax(dim=1) == labels).sum()
        seen += len(labels)
        tick(loss)
    return loss_sum.item() / seen, correct.item() / seen


def _write_final(model: LeNet5, run: RunDir) -> None:
    """The final weights: a CPU state_dict (model.pt) and the .npz weight file (model.npz)."""
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(run.model_pt) as tmp:
        torch.save(state_dict, tmp)
    save_params_from_model(model, run.model_npz)


def _config_record(
    config: TrainConfig,
    device: torch.device,
    threads: int,
    data_dir: str | os.PathLike[str],
    resumed_from: int,
) -> dict[str, Any]:
    """Everything needed to reproduce the run: config.json."""
    device_name = str(device)
    if device.type == "cuda":
        device_name += f" ({torch.cuda.get_device_name(device)})"
    return {
        "config": dataclasses.asdict(config),
        "recipe": {
            "optimizer": "Adam",
            "optimizer_options": {"lr": config.lr, "betas": [0.9, 0.999], "eps": 1e-8},
            "loss": "CrossEntropyLoss on the model's log_softmax output",
            "input": "pixel/255",
            "labels": (
                "training labels permuted by numpy.random.default_rng(seed).permutation"
                if config.shuffle_labels
                else "MNIST's own"
            ),
        },
        "device": device_name,
        "threads": threads,
        # The instruction set PyTorch's CPU kernels use: another one rounds differently.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "data_dir": str(Path(data_dir).resolve()),
        "resumed_from_epoch": resumed_from,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            # From its metadata: importing torchvision (a dependency) is slow.
            "torchvision": importlib.metadata.version("torchvision"),
            "numpy": np.__version__,
        },
        "platform": platform.platform(),
    }


def _metrics_record(config: TrainConfig, metrics: list[dict[str, float]]) -> dict[str, Any]:
    """metrics.json: one entry per epoch, and the config that produced them."""
    return {
        "config": dataclasses.asdict(config),
        "epochs": metrics,
        "final": metrics[-1],
        "total_seconds": sum(m["seconds"] for m in metrics),
    }
