"""What a training run keeps on disk: the run directory's layout, its JSON files, checkpoints."""

# Every run file but the marker is written atomically (a temporary file, then a rename):
# an interrupted run never leaves a half-written file under a real name.

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from numpy_lenet.atomic import OutputError, atomic_path, check_output_folder
from numpy_lenet.params import WeightError, validate_params
from numpy_lenet.user_files import open_checked

from .weights import TORCH_LOAD_ERRORS, tensors_to_numpy

CHECKPOINT_FORMAT = "lenet-deconvnet-checkpoint"
CHECKPOINT_VERSION = 1

#: The file a run of ``train`` writes before any other: only a folder holding it is
#: a run that ``train`` may write over (RunDir.claim).
RUN_MARKER = "lenet-deconv-run.txt"
MARKER_TEXT = (
    "This folder is a training run of `lenet-deconv train`: `train --resume` continues it,\n"
    "`train --force` starts it over (deleting its run files).\n"
)


class CheckpointError(ValueError):
    """A checkpoint file that is missing, corrupt, truncated or from another run."""


@dataclass(frozen=True)
class RunDir:
    """The files of one training run under ``root``."""

    root: Path

    @property
    def model_pt(self) -> Path:
        """The final state_dict."""
        return self.root / "model.pt"

    @property
    def model_npz(self) -> Path:
        """The final weights as a .npz weight file (float32; docs/deconvnet.md, "Parameters")."""
        return self.root / "model.npz"

    @property
    def metrics(self) -> Path:
        """Per-epoch losses, accuracies and timings."""
        return self.root / "metrics.json"

    @property
    def config(self) -> Path:
        """Hyperparameters, seed, device and library versions."""
        return self.root / "config.json"

    @property
    def checkpoint(self) -> Path:
        """The latest end-of-epoch checkpoint, which ``--resume`` continues from."""
        return self.root / "checkpoint.pt"

    @property
    def epochs_dir(self) -> Path:
        """Every epoch's weights, ``epoch-NN.npz``."""
        return self.root / "epochs"

    def epoch_npz(self, epoch: int) -> Path:
        """The weights after ``epoch`` (1-based)."""
        return epoch_file(self.epochs_dir, epoch)

    @property
    def marker(self) -> Path:
        """The file that says ``root`` is a run of ``lenet-deconv train`` (RUN_MARKER)."""
        return self.root / RUN_MARKER

    @classmethod
    def at(cls, out: str | os.PathLike[str]) -> RunDir:
        """The run directory ``out``; OutputError if it is empty or exists as a non-folder."""
        return cls(check_output_folder(out))

    def is_ours(self) -> bool:
        """True when ``root`` holds the marker a run of ``train`` writes first (a regular file)."""
        return self.marker.is_file() and not self.marker.is_symlink()

    def claim(self, force: bool) -> list[Path]:
        """Check that a fresh run may write here; return the old run files it must delete."""
        # Only a new or empty folder or a run of our own (it holds RUN_MARKER): anything else
        # may be someone's files, ``force`` or not. Over a run that finished an epoch, only
        # with ``force``; one stopped before its first checkpoint holds nothing worth keeping.
        if not self.root.exists() or not any(self.root.iterdir()):
            return []
        if not self.is_ours():
            raise OutputError(
                f"{self.root} is not empty and is not a training run ({RUN_MARKER} is missing): "
                "train writes only into a new or empty folder or a run of its own; "
                "choose another --out"
            )
        files = [self.model_pt, self.model_npz, self.metrics, self.config, self.checkpoint]
        existing = [path for path in files if os.path.lexists(path)]
        if self.epochs_dir.is_dir():
            existing += sorted(self.epochs_dir.glob("epoch-*.npz"))
        kept = any(p.exists() for p in (self.checkpoint, self.model_pt, self.model_npz))
        if kept and not force:
            names = ", ".join(str(p.relative_to(self.root)) for p in existing[:5])
            raise FileExistsError(
                f"{self.root} already holds a training run ({names}); "
                "pass --resume to continue it or --force to start over"
            )
        return existing

    def mark(self) -> None:
        """Write RUN_MARKER unless it is there: from now on ``root`` is a run of ``train``."""
        if self.is_ours():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        # Not through atomic_path: the marker's name is what counts, so even a half-written
        # one (a kill mid-write) still marks the run, and it leaves no temporary behind.
        with open(self.marker, "x", encoding="utf-8") as handle:
            handle.write(MARKER_TEXT)


def epoch_file(epochs_dir: str | os.PathLike[str], epoch: int) -> Path:
    """The weight file of one epoch in a run's epochs folder (``epoch-NN.npz``)."""
    return Path(epochs_dir) / f"epoch-{epoch:02d}.npz"


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented strict JSON, atomically; ValueError on NaN or infinity."""
    path = Path(path)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"  # before the temp file exists
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write a checkpoint dict (see ``_check_structure`` for its keys), atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a checkpoint; raise CheckpointError naming the file if it is unusable."""
    path = Path(path)
    if not path.is_file():
        hint = ""
        if (path.parent / RUN_MARKER).is_file():
            hint = (
                " (the run stopped before its first epoch ended: run the same command "
                "without --resume to start it over)"
            )
        raise CheckpointError(f"no checkpoint to resume from: {path} does not exist{hint}")
    try:
        # weights_only: a checkpoint is data, never code to run.
        with open_checked(path, "checkpoint") as handle:
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except TORCH_LOAD_ERRORS as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint, cannot resume "
            f"({type(exc).__name__}: {first_line})"
        ) from exc
    _check_structure(path, state)
    return state


def _check_structure(path: Path, state: Any) -> None:
    """Raise CheckpointError unless ``state`` has every part a resume needs."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a lenet-deconvnet training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {state.get('version')!r}, "
            f"this code reads version {CHECKPOINT_VERSION}"
        )
    expected = {
        "epoch": int,
        "config": dict,
        "model": Mapping,
        "optimizer": dict,
        "rng": dict,
        "metrics": list,
    }
    for key, kind in expected.items():
        if not isinstance(state.get(key), kind):
            raise CheckpointError(f"{path}: checkpoint lacks a valid {key!r} entry")
    if state["epoch"] < 1 or len(state["metrics"]) != state["epoch"]:
        raise CheckpointError(
            f"{path}: checkpoint says epoch {state['epoch']} "
            f"but holds metrics for {len(state['metrics'])} epoch(s)"
        )
    try:
        validate_params(tensors_to_numpy(state["model"], "model"), source="model")
    except WeightError as exc:
        raise CheckpointError(f"{path}: checkpoint model weights are unusable: {exc}") from exc
