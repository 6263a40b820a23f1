"""Issue 23's hostile trial: each hole it found, reproduced, refused with one line, nothing lost.

Each test is named for the hole it closes (docs/safety.md states the rules).
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lenet_deconv.cli import main
from lenet_deconv.memory_budget import parse_size
from numpy_lenet import atomic
from numpy_lenet.atomic import atomic_path, sweep_temps
from numpy_lenet.params import save_npz

from .conftest import REPO
from .lenet_factories import random_images, random_params
from .safety_tools import damaged_npz, one_line_error, snapshot


@pytest.fixture()
def work(tmp_path):
    """A folder with a weight file w.npz, three images x.npy and a copy of MNIST's test split."""
    save_npz(tmp_path / "w.npz", random_params(5, np.float32))
    np.save(tmp_path / "x.npy", random_images(5, 3))
    return tmp_path


@pytest.fixture()
def data_copy(tmp_path, data_dir):
    """A private copy of MNIST's test split: a test may try to destroy it."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copyfile(data_dir / "MNIST" / "raw" / name, raw / name)
    return tmp_path / "data"


def refused(argv: list[str], root: Path, capsys) -> str:
    """Run argv; assert exit 2, one error line, and no change under ``root``; return the line."""
    before = snapshot(root)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    line = one_line_error(capsys.readouterr().err, argv[0])
    assert code == 2, line
    assert snapshot(root) == before
    return line


def project(work: Path, *extra: str) -> list[str]:
    """project's argv for conv1 channel 0 of x.npy by w.npz, plus ``extra``."""
    weights = ["--weights", str(work / "w.npz"), "--layer", "conv1", "--channel", "0"]
    return ["project", *weights, *extra]


# --- hole 2: an output is never one of the command's inputs, MNIST included ----------------


def test_outputs_never_overwrite_the_mnist_files_read(work, data_copy, capsys):
    raw = data_copy / "MNIST" / "raw"
    argv = project(work, "--index", "0", "--data-dir", str(data_copy))
    line = refused([*argv, "--out", str(raw / "t10k-images-idx3-ubyte"), "--force"], work, capsys)
    assert "is also an input" in line
    evaluate = ["evaluate", "--weights", str(work / "w.npz"), "--data-dir", str(data_copy)]
    predictions = ["--predictions", str(raw / "t10k-labels-idx1-ubyte"), "--force"]
    assert "is also an input" in refused([*evaluate, *predictions], work, capsys)


def test_atomic_writes_refuse_a_protected_input(tmp_path):
    from numpy_lenet.atomic import OutputError, protected_inputs

    (tmp_path / "in.npy").write_bytes(b"keep")
    os.link(tmp_path / "in.npy", tmp_path / "alias.npy")
    with protected_inputs([tmp_path / "in.npy"]), pytest.raises(OutputError, match="input"):
        with atomic_path(tmp_path / "alias.npy") as tmp:
            tmp.write_bytes(b"lost")
    assert (tmp_path / "in.npy").read_bytes() == b"keep"


# --- hole 3: damaged archives, sparse tensors, absurd shapes and sizes --------------------


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2])
def test_damaged_compressed_weights_are_one_line(work, capsys, method):
    damaged_npz(work / "bad.npz", random_params(1, np.float32), method)
    argv = project(work, "--input", str(work / "x.npy"), "--out", str(work / "p.npy"))
    argv[argv.index("--weights") + 1] = str(work / "bad.npz")
    assert "bad.npz" in refused(argv, work, capsys)


@pytest.mark.parametrize("layout", ["sparse", "nested"])
def test_sparse_or_nested_tensors_are_refused(work, capsys, layout):
    state = {k: torch.from_numpy(v) for k, v in random_params(2, np.float32).items()}
    if layout == "sparse":
        state = {k: v.to_sparse() for k, v in state.items()}
    else:
        state["fc3.bias"] = torch.nested.nested_tensor([torch.zeros(4), torch.zeros(6)])
    torch.save(state, work / "odd.pt")
    argv = project(work, "--input", str(work / "x.npy"), "--out", str(work / "p.npy"))
    argv[argv.index("--weights") + 1] = str(work / "odd.pt")
    assert "odd.pt" in refused(argv, work, capsys)


def _npy_with_shape(path: Path, shape: str) -> None:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())


@pytest.mark.parametrize("shape", ["(-1, 1, 28, 28)", f"({2**70}, 1, 28, 28)", "(3, 1, 28, -28)"])
def test_input_headers_with_absurd_shapes_are_one_line(work, capsys, shape):
    _npy_with_shape(work / "odd.npy", shape)
    argv = project(work, "--input", str(work / "odd.npy"), "--out", str(work / "p.npy"))
    assert "odd.npy" in refused(argv, work, capsys)


def test_huge_memory_budgets_are_one_line(work, capsys):
    with pytest.raises(ValueError, match="--max-memory"):
        parse_size("9" * 400)
    argv = project(work, "--input", str(work / "x.npy"), "--out", str(work / "p.npy"))
    assert "--max-memory" in refused([*argv, "--max-memory", "9" * 400], work, capsys)


# --- hole 5: a FIFO (or any non-regular file) given as an input is refused unopened --------


def test_input_fifo_is_refused_without_hanging(work):
    os.mkfifo(work / "fifo.npy")
    argv = project(work, "--input", str(work / "fifo.npy"), "--out", str(work / "p.npy"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "lenet_deconv", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "FIFO" in one_line_error(done.stderr, "project")


@pytest.mark.parametrize("flag", ["--weights", "--input"])
def test_folder_or_fifo_as_weights_or_input_is_one_line(work, capsys, flag):
    os.mkfifo(work / "fifo")
    for special, kind in ((work / "fifo", "FIFO"), (work, "folder")):
        argv = project(work, "--input", str(work / "x.npy"), "--out", str(work / "p.npy"))
        argv[argv.index(flag) + 1] = str(special)
        assert kind in refused(argv, work, capsys)


# --- hole 6: Ctrl-C is never lost -----------------------------------------------------------


def test_interrupt_swallowed_by_a_destructor_still_ends_the_command(work, capsys, monkeypatch):
    """A SIGINT landing in a __del__ (matplotlib, worker pools) is "Exception ignored" by Python."""

    class Interrupts:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)

    def run(args):
        Interrupts()
        gc.collect()
        return 0

    monkeypatch.setattr("lenet_deconv.cli.init_weights.run", run)
    code = main(["init-weights", "--out", str(work / "new.npz")])
    err = capsys.readouterr().err
    assert code == 130, err
    assert err.strip() == "lenet-deconv init-weights: interrupted"


# --- hole 7: gallery commands replace no unrelated file without --force --------------------


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("visualize", "rules.png"),
        ("study", "invariance.json"),
        ("sanity", "sanity.json"),
        ("all", "gallery/curves.png"),
    ],
)
def test_gallery_folders_holding_files_need_force(work, data_copy, capsys, command, name):
    out = work / "out"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text("someone's own file")
    argv = [command, "--weights", str(work / "w.npz"), "--data-dir", str(data_copy)]
    assert "--force" in refused([*argv, "--out", str(out)], work, capsys)


# --- hole 8: the temp sweep touches only our own temporaries of dead processes -------------


def test_sweep_keeps_user_files_and_live_temporaries(tmp_path):
    user = tmp_path / ".thesis.20251207.tmp"
    user.write_text("a thesis")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / atomic.temp_name(int(dead.stdout))
    stale.write_text("left by a killed run")
    live = tmp_path / atomic.temp_name(os.getpid())
    live.write_text("being written")
    assert sweep_temps(tmp_path) == [stale]
    assert user.exists() and live.exists() and not stale.exists()


def test_project_sweeps_its_own_leftovers(work, capsys):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (work / atomic.temp_name(int(dead.stdout))).write_bytes(b"\0" * 1000)
    argv = project(work, "--input", str(work / "x.npy"), "--out", str(work / "p.npy"))
    assert main(argv) == 0
    assert not list(work.glob(".lenet-deconv-tmp-*"))


# --- holes 9 and 10: '' and a trailing slash name folders, never a file --------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["visualize", "--weights", "w.npz", "--out", ""],
        ["study", "--weights", "w.npz", "--out", ""],
        ["sanity", "--weights", "w.npz", "--out", ""],
        ["all", "--weights", "w.npz", "--out", ""],
        ["init-weights", "--out", ""],
        ["init-weights", "--out", "new.npz/"],
        ["init-weights", "--out", "w.npz/", "--force"],
        ["init-weights", "--out", "sub/."],
        ["evaluate", "--weights", "w.npz", "--predictions", "p.npy/"],
    ],
)
def test_empty_and_slashed_outputs_are_refused(work, capsys, monkeypatch, argv):
    monkeypatch.chdir(work)
    refused(argv, work, capsys)


def test_project_out_with_trailing_slash_is_refused(work, capsys):
    (work / "p.npy").write_bytes(b"keep")
    argv = project(work, "--input", str(work / "x.npy"), "--force")
    assert "folder" in refused([*argv, "--out", f"{work / 'p.npy'}/"], work, capsys)


# --- hole 11: the longest legal file names work ---------------------------------------------


@pytest.mark.parametrize("length", [242, 250, 255])
def test_longest_legal_file_names_work(tmp_path, capsys, length):
    name = "w" * (length - 4) + ".npz"
    assert main(["init-weights", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / name).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [name]


# --- hole 12: one line, whatever happens before the error -----------------------------------


def test_newline_in_a_file_name_stays_on_one_line(work, capsys):
    argv = project(work, "--input", str(work / "x.npy"), "--out", str(work / "p.npy"))
    argv[argv.index("--weights") + 1] = str(work / "two\nlines.npz")
    assert "two\\nlines" in refused(argv, work, capsys)


def test_warnings_before_an_error_are_not_shown(work, capsys, monkeypatch):
    def to_stderr(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    # What a terminal gets: every warning written to stderr (pytest would record it instead).
    monkeypatch.setattr(warnings, "showwarning", to_stderr)
    monkeypatch.setattr(warnings, "filters", [("always", None, Warning, None, 0)])

    def run(args):
        warnings.warn("overflow encountered in exp", RuntimeWarning, stacklevel=1)
        raise ValueError("the real problem")

    monkeypatch.setattr("lenet_deconv.cli.init_weights.run", run)
    line = refused(["init-weights", "--out", str(work / "new.npz")], work, capsys)
    assert line.endswith("the real problem")


def test_warnings_of_a_successful_command_are_still_shown(work, capsys, monkeypatch):
    def run(args):
        warnings.warn("something to know", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr("lenet_deconv.cli.init_weights.run", run)
    with pytest.warns(UserWarning, match="something to know"):  # shown once it succeeded
        assert main(["init-weights", "--out", str(work / "new.npz")]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["project", "--layer", "nope"],
        ["project", "--unit"],
        ["evaluate", "--split", "validation", "--weights", "w.npz"],
        ["nope"],
        ["init-weights", "--seed", "x", "--out", "a.npz"],
    ],
)
def test_argparse_errors_are_one_line_with_a_hint(work, capsys, monkeypatch, argv):
    monkeypatch.chdir(work)
    before = snapshot(work)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(lines) == 1, err
    assert lines[0].startswith("lenet-deconv") and "--help" in lines[0], err
    assert snapshot(work) == before
