"""Hostile but fair use: every command refuses what it must with one line and exit 2, and
nothing outside the intended output changes (the tests compare file trees before and after).

The signal cases (SIGKILL at each write, SIGTERM) are in test_safety_signals.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lenet_deconv.cli import main
from numpy_lenet.atomic import OutputError, atomic_path, check_output_folder
from numpy_lenet.params import load_npz, save_npz
from torch_lenet.checkpoint import write_json

from .conftest import REPO, SHIPPED_WEIGHTS
from .lenet_factories import random_images, random_params
from .safety_tools import one_line_error, snapshot, temp_files

PYTHON = sys.executable


@pytest.fixture()
def work(tmp_path):
    """A folder with a weight file w.npz and three images x.npy."""
    save_npz(tmp_path / "w.npz", random_params(5, np.float32))
    np.save(tmp_path / "x.npy", random_images(5, 3))
    return tmp_path


def project(work: Path, out: object, *extra: str, select: tuple[str, ...] = ()) -> list[str]:
    """project's argv: conv1 channel 0 (or ``select``) of x.npy by w.npz into ``out``."""
    return [
        "project",
        "--weights",
        str(work / "w.npz"),
        "--input",
        str(work / "x.npy"),
        "--layer",
        "conv1",
        *(select or ("--channel", "0")),
        "--out",
        str(out),
        *extra,
    ]


def refused(argv: list[str], root: Path, capsys) -> str:
    """Run argv; assert exit 2, one error line, and no change under ``root``; return the line."""
    before = snapshot(root)
    try:
        code = main(argv)
    except SystemExit as exc:  # refused by argparse (an option's type)
        code = exc.code
    line = one_line_error(capsys.readouterr().err, argv[0])
    assert code == 2, line
    assert snapshot(root) == before
    return line


# --- the output policy ------------------------------------------------------------


def _special(work: Path, kind: str) -> Path:
    path = work / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o666 | 0o020000, os.makedev(1, 3))  # a private twin of /dev/null
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif kind == "folder":
        path.mkdir()
    elif kind == "link":
        (work / "target.npy").write_bytes(b"keep")
        path.symlink_to(work / "target.npy")
    elif kind == "dangling":
        path.symlink_to(work / "nowhere.npy")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("fifo", "is a FIFO"),
        ("device", "is a device node"),
        ("socket", "is a socket"),
        ("folder", "is a folder"),
        ("link", "is a symbolic link"),
        ("dangling", "is a symbolic link"),
    ],
)
@pytest.mark.parametrize("force", [False, True])
def test_project_never_writes_onto_what_is_not_a_regular_file(work, capsys, kind, message, force):
    out = _special(work, kind)
    extra = ("--force",) if force else ()
    assert message in refused(project(work, out, *extra), work, capsys)


@pytest.mark.parametrize("out", [".", ""])
def test_out_naming_the_current_folder_is_refused(work, capsys, monkeypatch, out):
    monkeypatch.chdir(work)
    assert "names a folder" in refused(project(work, out), work, capsys)


@pytest.mark.parametrize("which", ["w.npz", "x.npy", "hardlink"])
def test_output_is_never_an_input_even_with_force(work, capsys, which):
    if which == "hardlink":
        os.link(work / "w.npz", work / "hardlink")
    line = refused(project(work, work / which, "--force"), work, capsys)
    assert "is also an input" in line


def test_existing_files_are_replaced_only_with_force(work, capsys):
    out = work / "p.npy"
    out.write_bytes(b"precious")
    assert "--force" in refused(project(work, out), work, capsys)
    others = {k: v for k, v in snapshot(work).items() if k != "p.npy"}
    assert main(project(work, out, "--force")) == 0
    assert np.load(out).shape == (3, 1, 28, 28)
    assert {k: v for k, v in snapshot(work).items() if k != "p.npy"} == others


def test_init_weights_and_evaluate_follow_the_same_policy(work, capsys, data_dir):
    (work / "old.npz").write_bytes(b"keep")
    os.mkfifo(work / "fifo")
    assert "--force" in refused(["init-weights", "--out", str(work / "old.npz")], work, capsys)
    assert "FIFO" in refused(["init-weights", "--out", str(work / "fifo"), "--force"], work, capsys)
    evaluate = ["evaluate", "--weights", str(work / "w.npz"), "--data-dir", str(data_dir)]
    line = refused([*evaluate, "--predictions", str(work / "old.npz")], work, capsys)
    assert "--force" in line
    line = refused([*evaluate, "--predictions", str(work / "w.npz"), "--force"], work, capsys)
    assert "is also an input" in line


def test_gallery_and_all_folders_are_not_replaced_without_force(work, capsys, data_dir):
    (work / "gallery").mkdir()
    (work / "gallery" / "index.html").write_text("keep")
    (work / "file").write_text("keep")
    visualize = ["visualize", "--weights", str(work / "w.npz"), "--data-dir", str(data_dir)]
    assert "--force" in refused([*visualize, "--out", str(work / "gallery")], work, capsys)
    assert "not a folder" in refused([*visualize, "--out", str(work / "file")], work, capsys)
    (work / "all").mkdir()
    (work / "all" / "compare.json").write_text("{}")
    every = ["all", "--weights", str(work / "w.npz"), "--data-dir", str(data_dir)]
    assert "--force" in refused([*every, "--out", str(work / "all")], work, capsys)
    assert "not a folder" in refused(["train", "--out", str(work / "file")], work, capsys)
    for command in ("study", "sanity"):  # the same policy as visualize's gallery
        argv = [command, "--weights", str(work / "w.npz"), "--data-dir", str(data_dir)]
        assert "--force" in refused([*argv, "--out", str(work / "gallery")], work, capsys)
        assert "not a folder" in refused([*argv, "--out", str(work / "file")], work, capsys)


def test_an_empty_output_folder_is_refused_not_read_as_the_current_one():
    # Path("") is Path("."): the argument itself must be tested, before it becomes a Path.
    with pytest.raises(OutputError, match="--out is empty"):
        check_output_folder("")
    assert check_output_folder(".") == Path(".")


def test_atomic_write_that_fails_leaves_no_temp_and_no_new_folders(tmp_path):
    target = tmp_path / "new" / "deeper" / "w.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


# --- operating-system errors: one line, exit 2 -------------------------------------


def _without_root_override(code: str) -> subprocess.CompletedProcess:
    """Run Python code as root but without CAP_DAC_OVERRIDE/READ_SEARCH: permissions apply."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv (util-linux) to drop root's permission override")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    else:
        prefix = []  # not root: permissions already apply
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*prefix, PYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_read_only_folder_and_unreadable_file_without_root_override(work):
    readonly = work / "ro"
    readonly.mkdir()
    (work / "secret.npz").write_bytes((work / "w.npz").read_bytes())
    os.chmod(work / "secret.npz", 0)
    os.chmod(readonly, 0o555)
    try:
        before = snapshot(work)
        code = (
            "from lenet_deconv.cli import main\n"
            f"print(main(['init-weights', '--out', {str(readonly / 'w.npz')!r}]))\n"
            f"print(main({project(work, readonly / 'sub' / 'p.npy')!r}))\n"
            "argv = " + repr(project(work, work / "p.npy")) + "\n"
            f"argv[2] = {str(work / 'secret.npz')!r}\n"
            "print(main(argv))\n"
        )
        done = _without_root_override(code)
        assert done.stdout.split() == ["2", "2", "2"], done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 3 and "Traceback" not in done.stderr, done.stderr
        assert all("Permission denied" in line for line in lines), done.stderr
        assert str(readonly / "w.npz") in lines[0]  # the target, not a temporary name
        assert snapshot(work) == before
    finally:
        os.chmod(readonly, 0o755)


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 200 KiB tmpfs: a real full disk (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_is_one_line_and_leaves_no_temp(work, tiny_disk, capsys):
    line = refused(["init-weights", "--out", str(tiny_disk / "w.npz")], work, capsys)
    assert "No space left on device (the disk is full)" in line
    assert str(tiny_disk / "w.npz") in line
    assert list(tiny_disk.iterdir()) == []
    # project knows its output's size: refused before anything is computed.
    big = project(work, tiny_disk / "p.npy", select=("--all-channels",))
    np.save(work / "x.npy", random_images(0, 40))
    assert "only" in refused(big, work, capsys)


def test_disk_full_during_write_names_the_file(work, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    line = refused(["init-weights", "--out", str(work / "new.npz")], work, capsys)
    assert line.endswith(f"{work / 'new.npz'}: No space left on device (the disk is full)")


def test_genuine_bugs_still_show_a_traceback(work, monkeypatch):
    def bug(*args, **kwargs):
        raise TypeError("a genuine bug")

    monkeypatch.setattr("lenet_deconv.cli.project.make_engine", bug)
    with pytest.raises(TypeError):
        main(project(work, work / "p.npy"))


# --- weight files: headers first, sane sizes, odd dtypes -----------------------------


def _npz_with(work: Path, name: str, extra: dict[str, bytes]) -> Path:
    """A zip of the good arrays plus raw members (name -> bytes), replacing same-named ones."""
    params = load_npz(work / "w.npz")
    path = work / name
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in params.items():
            if f"{key}.npy" not in extra:
                buffer = io.BytesIO()
                np.save(buffer, value)
                archive.writestr(f"{key}.npy", buffer.getvalue())
        for member, data in extra.items():
            archive.writestr(member, data)
    return path


def _header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        # A 47 MB file that declared a 10 GiB array drove the old loader past 8 GiB.
        ("extra.npy", _header((1342177280,)) + bytes(1000), "unexpected key(s) extra"),
        ("fc1.weight.npy", _header((1342177280,)) + bytes(1000), "has shape (1342177280,)"),
        ("fc1.weight.npy", _header((120, 400)) + bytes(1000), "header declares 384000"),
        ("fc1.weight.npy", _header((120, 400), "|O"), "dtype object"),
        ("notes.txt", b"hello", "is not a .npy array"),
    ],
)
def test_weight_headers_are_checked_before_any_array_is_read(work, member, data, message, capsys):
    path = _npz_with(work, "hostile.npz", {member: data})
    argv = project(work, work / "p.npy")
    argv[2] = str(path)
    tracemalloc.start()
    try:
        line = refused(argv, work, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message in line
    assert peak < 64 * 2**20


def test_oversized_and_plain_npy_and_bfloat16_weights_are_clear_errors(work, capsys):
    argv = project(work, work / "p.npy")
    with open(work / "huge.npz", "wb") as handle:
        handle.truncate(64 * 2**20)  # sparse: costs no disk
    np.save(work / "plain.npy", np.zeros(3))
    bf16 = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in load_npz(work / "w.npz").items()}
    torch.save(bf16, work / "bf16.pt")
    torch.save({**bf16, "fc3.bias": torch.zeros(10, dtype=torch.int64)}, work / "int.pt")
    for name, message in [
        ("huge.npz", "far larger than a LeNet-5 weight file"),
        ("plain.npy", "a single .npy array, not a weight file"),
        ("bf16.pt", "has dtype torch.bfloat16"),
        ("int.pt", "dtype torch"),
    ]:
        argv[2] = str(work / name)
        assert message in refused(argv, work, capsys), name


def test_pickle_payloads_never_run(work, capsys):
    marker = work / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    params = {k: v for k, v in load_npz(work / "w.npz").items()}
    params["fc3.bias"] = np.array([Payload()] * 10, dtype=object)
    np.savez(work / "evil.npz", **params)
    torch.save({"conv1.weight": Payload()}, work / "evil.pt")
    np.save(work / "evil.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    argv = project(work, work / "p.npy")
    for name in ("evil.npz", "evil.pt"):
        argv[2] = str(work / name)
        refused(argv, work, capsys)
    argv = project(work, work / "p.npy")
    argv[4] = str(work / "evil.npy")
    refused(argv, work, capsys)
    assert not marker.exists()


# --- non-finite results are errors ---------------------------------------------------


def test_weights_beyond_float32_are_refused_in_float32(work, capsys, data_dir):
    params = {k: v.astype(np.float64) for k, v in load_npz(SHIPPED_WEIGHTS).items()}
    params["fc3.weight"] = params["fc3.weight"] * 1e300  # finite in float64 only
    save_npz(work / "big.npz", params)
    argv = project(work, work / "p.npy", "--dtype", "float32")
    argv[2] = str(work / "big.npz")
    assert "beyond float32's range" in refused(argv, work, capsys)
    evaluate = ["evaluate", "--weights", str(work / "big.npz"), "--data-dir", str(data_dir)]
    for backend in ("numpy", "torch"):
        line = refused([*evaluate, "--backend", backend, "--json"], work, capsys)
        assert "beyond float32's range" in line
    argv[argv.index("float32")] = "float64"
    assert main(argv) == 0  # float64 holds them: computed, and finite


def test_overflow_inside_the_network_is_an_error_not_output(work, capsys, data_dir):
    params = {k: v.astype(np.float64) for k, v in load_npz(SHIPPED_WEIGHTS).items()}
    for key in ("conv1.weight", "conv2.weight"):
        params[key] = params[key] * 1e37  # fits float32; the activations do not
    save_npz(work / "big.npz", params)
    argv = project(work, work / "p.npy", "--dtype", "float32")
    argv[2] = str(work / "big.npz")
    argv[argv.index("conv1")] = "fc3"
    assert "NaN or infinite" in refused(argv, work, capsys)
    evaluate = ["evaluate", "--weights", str(work / "big.npz"), "--data-dir", str(data_dir)]
    assert "not finite" in refused([*evaluate, "--json"], work, capsys)


def test_json_is_always_strict(tmp_path, data_dir, capsys):
    with pytest.raises(ValueError):
        write_json(tmp_path / "m.json", {"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []
    argv = ["evaluate", "--weights", str(SHIPPED_WEIGHTS), "--data-dir", str(data_dir), "--json"]
    assert main(argv) == 0

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    json.loads(capsys.readouterr().out, parse_constant=refuse)


@pytest.mark.parametrize("lr", ["inf", "nan", "1e6", "0", "-1"])
def test_absurd_learning_rates_are_refused_up_front(tmp_path, capsys, data_dir, lr):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--data-dir", str(data_dir), "--lr", lr, "--quiet"]
    assert "learning rate must be positive and at most 1.0" in refused(argv, tmp_path, capsys)


# --- the memory budget ---------------------------------------------------------------


def test_memory_budget_refuses_with_the_estimate_and_a_way_out(work, capsys, monkeypatch):
    line = refused(project(work, work / "p.npy", "--max-memory", "1K"), work, capsys)
    assert "needs about 843.8 KiB, beyond the memory budget of 1.0 KiB" in line
    assert "--max-memory" in line
    monkeypatch.setenv("LENET_DECONV_MAX_MEMORY", "2K")
    assert "2.0 KiB" in refused(project(work, work / "p.npy"), work, capsys)
    line = refused(project(work, work / "p.npy", "--max-memory", "lots"), work, capsys)
    assert "expected a size" in line


def test_input_beyond_the_budget_is_refused_before_reading(work, capsys):
    np.save(work / "x.npy", random_images(2, 200))  # 1.2 MiB of float64 pixels
    line = refused(project(work, work / "p.npy", "--max-memory", "1M"), work, capsys)
    assert "--input" in line and "beyond the memory budget" in line


def test_streaming_in_small_chunks_gives_the_same_projections(work):
    np.save(work / "x.npy", random_images(1, 7))
    every = ("--all-channels",)
    assert main(project(work, work / "whole.npy", select=every)) == 0
    # 2M fits one image with 6 conv1 channels (1.2 MB estimated) per chunk: seven chunks.
    assert main(project(work, work / "chunks.npy", "--max-memory", "2M", select=every)) == 0
    whole, chunks = np.load(work / "whole.npy"), np.load(work / "chunks.npy")
    assert whole.shape == chunks.shape == (7, 6, 1, 28, 28)
    np.testing.assert_allclose(chunks, whole, rtol=1e-12, atol=1e-15)
    assert temp_files(work) == []
