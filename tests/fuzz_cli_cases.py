"""The command-line fuzzer's parts: a sandbox of hostile files, argv strategies, the promises.

tests/test_fuzz_cli.py runs a fixed, derandomised sample in the suite;
benchmarks/fuzz_cli.py runs as many as minutes allow. The promises checked
are docs/safety.md's: exit 0, or 2 with exactly one line on stderr, or 1 only
from compare/all/study (a disagreement); no traceback; nothing outside the
command's own outputs changed or left behind; each run ends within a bound.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import signal
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st

from lenet_deconv.cli import main
from numpy_lenet.params import save_npz

from .lenet_factories import random_images, random_params
from .safety_tools import damaged_npz, snapshot

#: One run's time bound (seconds): the slowest case (a small `all`) takes about a tenth.
TIME_BOUND_S = 240
#: Commands whose exit status 1 means "the backends disagree" (docs/agreement.md).
DISAGREEMENT_EXIT = ("compare", "all", "study")
MNIST_FILES = (
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
)
LONG = "n" * 251


# --- the sandbox ------------------------------------------------------------------------------


def make_sandbox(root: Path, data_dir: Path) -> Path:
    """Fill ``root`` with a private MNIST copy and files of every kind; return ``root``."""
    raw = root / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        shutil.copyfile(data_dir / "MNIST" / "raw" / name, raw / name)
    params = random_params(3, np.float32)
    save_npz(root / "w.npz", params)
    torch.save({k: torch.from_numpy(v) for k, v in params.items()}, root / "w.pt")
    np.save(root / "x.npy", random_images(4, 2))
    (root / "folder").mkdir()
    os.mkfifo(root / "fifo")
    (root / "link.npz").symlink_to(root / "w.npz")
    (root / "dangling.npz").symlink_to(root / "nowhere.npz")
    (root / "empty").write_bytes(b"")
    (root / "text.txt").write_text("not an array\n")
    (root / f"{LONG}.npz").write_bytes((root / "w.npz").read_bytes())
    _hostile_files(root, params)
    return root


def _hostile_files(root: Path, params: dict[str, np.ndarray]) -> None:
    """Damaged zips, odd headers, sparse and nested .pt files, huge declared shapes."""
    for name, method in (("deflate", zipfile.ZIP_DEFLATED), ("lzma", zipfile.ZIP_LZMA)):
        damaged_npz(root / f"{name}-damaged.npz", params, method)
    whole = (root / "w.npz").read_bytes()
    (root / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    state = {k: torch.from_numpy(v) for k, v in params.items()}
    torch.save({k: v.to_sparse() for k, v in state.items()}, root / "sparse.pt")
    with contextlib.suppress(Exception), _quiet_warnings():
        nested = torch.nested.nested_tensor([torch.zeros(4), torch.zeros(6)])
        torch.save({**state, "fc3.bias": nested}, root / "nested.pt")
    for name, shape in (("negative", "(-1, 1, 28, 28)"), ("huge", f"({2**70}, 1, 28, 28)")):
        header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
        header += " " * (63 - (len(header) + 10) % 64) + "\n"
        magic = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little")
        (root / f"{name}-shape.npy").write_bytes(magic + header.encode())
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(root / "plain-array.npy", np.zeros((3, 3), np.float32))


@contextlib.contextmanager
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- argv strategies --------------------------------------------------------------------------

#: Paths of every kind, relative to the sandbox ("" and the device stay as they are).
EXISTING_PATHS = (
    "w.npz",
    "w.pt",
    "x.npy",
    "folder",
    "fifo",
    "link.npz",
    "dangling.npz",
    "empty",
    "text.txt",
    f"{LONG}.npz",
    "deflate-damaged.npz",
    "lzma-damaged.npz",
    "truncated.npz",
    "sparse.pt",
    "nested.pt",
    "negative-shape.npy",
    "huge-shape.npy",
    "objects.npy",
    "plain-array.npy",
    "data",
    "data/MNIST/raw/t10k-images-idx3-ubyte",
    "data/MNIST/raw/t10k-labels-idx1-ubyte",
    "data/MNIST/raw/train-labels-idx1-ubyte",
)
NEW_PATHS = ("new.npy", "new.npz", "new/deeper/out.npy", f"{LONG[:-3]}.npy", "out", "out/inner")
ODD_PATHS = ("", "/dev/null", "/dev/zero", ".", "..")


@st.composite
def paths(draw, kinds: tuple[str, ...] = ("existing", "new", "odd")) -> str:
    """A path of any kind, sometimes with a trailing slash (names a folder)."""
    pool = {"existing": EXISTING_PATHS, "new": NEW_PATHS, "odd": ODD_PATHS}
    choice = draw(st.sampled_from([p for kind in kinds for p in pool[kind]]))
    if choice not in ODD_PATHS and draw(st.integers(0, 9)) == 0:
        choice += "/"
    return choice


def ints(low: int, high: int) -> st.SearchStrategy[str]:
    """A valid integer option value, or an invalid one (negative, zero, huge, not a number)."""
    valid = st.integers(low, high).map(str)
    invalid = st.sampled_from(["0", "-1", "x", "", "1e3", "9" * 30, "2,3"])
    return st.one_of(valid, valid, invalid)


def choices(*values: str) -> st.SearchStrategy[str]:
    """One of ``values``, or a value that is none of them."""
    return st.one_of(st.sampled_from(values), st.sampled_from(values), st.just("nope"))


WEIGHTS = st.one_of(st.sampled_from(["w.npz", "w.npz", "w.pt"]), paths(("existing", "odd")))
FILE_OUT = st.one_of(st.sampled_from(["new.npy", "new.npz"]), paths())
FOLDER_OUT = st.one_of(st.sampled_from(["out", "out/inner"]), paths())
LIMIT = st.one_of(st.integers(1, 6).map(str), st.sampled_from(["0", "-3", "x"]))
LAYERS = choices("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3")

#: Per command: options it must have (always given), and options it may have.
COMMANDS: dict[str, tuple[dict[str, st.SearchStrategy], dict[str, st.SearchStrategy]]] = {
    "init-weights": ({"--out": FILE_OUT}, {"--seed": ints(0, 5), "--force": st.none()}),
    "project": (
        {"--weights": WEIGHTS, "--layer": LAYERS, "--out": FILE_OUT},
        {
            "--input": st.one_of(st.just("x.npy"), paths(("existing", "odd"))),
            "--index": st.sampled_from(["0", "0,3", "9999", "10000", "-1", "x", ""]),
            "--data-dir": st.sampled_from(["data", "data", "", "fifo", "text.txt"]),
            "--split": choices("test", "train"),
            "--channel": st.sampled_from(["0", "0,2", "5", "99", "-1", "x"]),
            "--all-channels": st.none(),
            "--unit": st.sampled_from(["0,3,3", "7", "0,99,0", "x"]),
            "--mode": choices("map", "max", "unit"),
            "--backend": choices("numpy", "torch"),
            "--dtype": choices("float32", "float64"),
            "--rule": choices("deconvnet", "gradient", "guided"),
            "--force": st.none(),
            "--max-memory": st.sampled_from(["1G", "1K", "0", "9" * 400, "1.5GiB", "x", "-1"]),
        },
    ),
    "evaluate": (
        {"--weights": WEIGHTS, "--data-dir": st.sampled_from(["data", "fifo", "text.txt", ""])},
        {
            "--split": st.sampled_from(["test", "nope"]),
            "--backend": choices("numpy", "torch"),
            "--dtype": choices("float32", "float64"),
            "--predictions": FILE_OUT,
            "--force": st.none(),
            "--json": st.none(),
            "--no-download": st.none(),
        },
    ),
    "compare": (
        {"--weights": WEIGHTS, "--data-dir": st.just("data"), "--limit": LIMIT},
        {
            "--rule": choices("deconvnet", "gradient", "guided"),
            "--batch-size": ints(1, 8),
            "--no-drift": st.none(),
            "--json": st.none(),
            "--no-download": st.none(),
        },
    ),
    "visualize": (
        {
            "--weights": WEIGHTS,
            "--data-dir": st.just("data"),
            "--out": FOLDER_OUT,
            "--limit": LIMIT,
        },
        {
            "--images": st.sampled_from(["0", "0,1", "99", "x"]),
            "--metrics": paths(("existing", "odd")),
            "--rule": choices("deconvnet", "gradient", "guided"),
            "--force": st.none(),
        },
    ),
    "sanity": (
        {
            "--weights": WEIGHTS,
            "--data-dir": st.just("data"),
            "--out": FOLDER_OUT,
            "--limit": LIMIT,
        },
        {
            "--shuffled-weights": WEIGHTS,
            "--images": st.sampled_from(["0", "1", "99", "x"]),
            "--seed": ints(0, 3),
            "--force": st.none(),
        },
    ),
    "study": (
        {
            "--weights": WEIGHTS,
            "--data-dir": st.just("data"),
            "--out": FOLDER_OUT,
            "--limit": LIMIT,
        },
        {
            "--images": st.sampled_from(["0", "0,1", "99999", "x"]),
            "--occlusion-images": st.sampled_from(["0", "x", "-1"]),
            "--occluder-size": ints(1, 28),
            "--occluder-stride": ints(1, 28),
            "--epochs-dir": paths(("existing", "odd")),
            "--force": st.none(),
        },
    ),
    "all": (
        {
            "--weights": WEIGHTS,
            "--data-dir": st.just("data"),
            "--out": FOLDER_OUT,
            "--limit": LIMIT,
        },
        {"--images": st.sampled_from(["0", "x"]), "--force": st.none()},
    ),
    "train": (
        {
            "--out": FOLDER_OUT,
            "--data-dir": st.just("data"),
            "--epochs": st.sampled_from(["1", "0", "x"]),
            "--train-limit": st.sampled_from(["64", "0", "x"]),
            "--test-limit": st.sampled_from(["64", "-1"]),
        },
        {"--seed": ints(0, 3), "--lr": st.sampled_from(["0.01", "inf", "nan", "-1"])},
    ),
    "serve": (  # never a valid request: a valid one would serve until stopped
        {"--weights": WEIGHTS, "--port": st.sampled_from(["-1", "70000", "x", ""])},
        {
            "--host": st.sampled_from(["127.0.0.1", "bad host", ""]),
            "--site": st.one_of(st.just("out"), paths(("existing", "odd"))),
        },
    ),
    "site": (
        {"--data-dir": st.just("data"), "--out": FOLDER_OUT},
        {
            "--weights": WEIGHTS,
            "--sample": st.sampled_from(["0", "3", "-1", "x"]),
            "--force": st.none(),
        },
    ),
}

#: Commands that take seconds even on a few images: the suite runs fewer of them.
SLOW_COMMANDS = ("compare", "visualize", "sanity", "study", "all", "train", "site")
FAST_COMMANDS = tuple(c for c in COMMANDS if c not in SLOW_COMMANDS)
QUIET = ("compare", "visualize", "sanity", "study", "all", "train", "serve", "site")
#: Options that name outputs: what a command may change.
OUTPUT_OPTIONS = ("--out", "--predictions")
#: Options that name files a command reads: they never change.
INPUT_OPTIONS = ("--weights", "--input", "--metrics", "--shuffled-weights")


@st.composite
def argvs(draw, commands: tuple[str, ...]) -> list[str]:
    """An argument vector for one of ``commands`` (paths relative to the sandbox)."""
    command = draw(st.sampled_from(commands))
    required, optional = COMMANDS[command]
    argv = [command]
    for flag, values in required.items():
        # A required option left out, now and then; never --limit (a whole set takes
        # minutes), nor serve's (it would serve for ever).
        if command != "serve" and flag != "--limit" and draw(st.integers(0, 19)) == 0:
            continue
        argv += _option(draw, flag, values)
    for flag in draw(st.lists(st.sampled_from(sorted(optional)), max_size=4, unique=True)):
        argv += _option(draw, flag, optional[flag])
    if command in QUIET:
        argv.append("--quiet")
    if draw(st.integers(0, 29)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "-x", "--out=", "--force=1"])))
    return argv


def _option(draw, flag: str, values: st.SearchStrategy) -> list[str]:
    """``flag`` and a drawn value (none for a switch)."""
    value = draw(values)
    return [flag] if value is None else [flag, value]


# --- running and checking ----------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run did: exit status, its stderr, and the sandbox's changes."""

    code: int
    err: str
    changed: list[str]


class TooSlow(Exception):
    """The run passed its time bound."""


def run_in(sandbox: Path, argv: list[str], hashes: dict) -> Outcome:
    """Run argv (sandbox-relative paths) in-process; check every promise; return the outcome."""
    absolute = _absolute(sandbox, argv)
    before = snapshot(sandbox, hashes)
    err = io.StringIO()

    def too_slow(signum, frame):
        raise TooSlow(f"{argv} ran past {TIME_BOUND_S} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(TIME_BOUND_S)
    cwd, env = os.getcwd(), os.environ.get("LENET_DECONV_DATA")
    try:
        os.chdir(sandbox)
        os.environ["LENET_DECONV_DATA"] = str(sandbox / "data")  # '' must not reach the real one
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main(absolute)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(cwd)
        os.environ.pop("LENET_DECONV_DATA")
        if env is not None:
            os.environ["LENET_DECONV_DATA"] = env
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    after = snapshot(sandbox, hashes)
    outcome = Outcome(code, err.getvalue(), changes(before, after))
    check_promises(sandbox, argv, absolute, outcome)
    _remove_new(sandbox, before, after)  # each case meets the same sandbox (shrinking needs it)
    return outcome


def _remove_new(sandbox: Path, before: dict, after: dict) -> None:
    """Delete what a run added (its outputs), deepest first."""
    for rel in sorted(after.keys() - before.keys(), key=lambda r: r.count("/"), reverse=True):
        path = sandbox / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _absolute(sandbox: Path, argv: list[str]) -> list[str]:
    """Sandbox-relative path values made absolute (a trailing slash kept)."""
    out = [argv[0]]
    for i, item in enumerate(argv[1:], 1):
        previous = argv[i - 1]
        is_path = previous in (
            "--weights",
            "--input",
            "--out",
            "--predictions",
            "--data-dir",
            "--metrics",
            "--shuffled-weights",
            "--epochs-dir",
        )
        keep = item in ODD_PATHS or item.startswith("/")
        out.append(f"{sandbox}/{item}" if is_path and not keep else item)
    return out


def check_promises(sandbox: Path, argv: list[str], absolute: list[str], outcome: Outcome) -> None:
    """docs/safety.md's promises for one finished run."""
    command, err = argv[0], outcome.err
    assert "Traceback" not in err, (argv, err)
    assert "Exception ignored" not in err, (argv, err)
    allowed = (0, 2, 1) if command in DISAGREEMENT_EXIT else (0, 2)
    assert outcome.code in allowed, (argv, outcome.code, err)
    if outcome.code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith("lenet-deconv"), (argv, err)
    read = _inputs(sandbox, argv)
    lost = [p for p in outcome.changed if p in read]
    assert not lost, (argv, "an input changed", lost)  # an output is never an input
    outputs = _outputs(sandbox, argv)
    leftovers = [p for p in outcome.changed if Path(p).name.startswith(".lenet-deconv-tmp-")]
    assert not leftovers, (argv, leftovers)
    # An output, what is under it, or a folder made to hold it (an output's ancestor).
    stray = [
        p
        for p in outcome.changed
        if not any(_under(p, o) or o.startswith(p + "/") for o in outputs)
    ]
    assert not stray, (argv, outcome.code, err, stray)


def _outputs(sandbox: Path, argv: list[str]) -> list[str]:
    """Sandbox-relative paths a run may change: its output options' values (links resolved)."""
    found = []
    for flag, value in itertools.pairwise(argv):
        if flag in OUTPUT_OPTIONS and value not in ODD_PATHS:
            path = sandbox / value.rstrip("/")
            found.append(value.rstrip("/"))
            with contextlib.suppress(OSError, ValueError):
                found.append(str(path.resolve().relative_to(sandbox.resolve())))
    return found


def _inputs(sandbox: Path, argv: list[str]) -> set[str]:
    """Sandbox-relative files a run reads: its input options' values (links resolved), MNIST."""
    mnist = argv[0] != "init-weights"  # every other command reads MNIST (or may)
    found = {f"data/MNIST/raw/{name}" for name in MNIST_FILES if mnist}
    for flag, value in itertools.pairwise(argv):
        if flag in INPUT_OPTIONS and value not in ODD_PATHS:
            found.add(value.rstrip("/"))
            with contextlib.suppress(OSError, ValueError):
                found.add(str((sandbox / value).resolve().relative_to(sandbox.resolve())))
    return found


def _under(path: str, output: str) -> bool:
    return path == output or path.startswith(output + "/")


def changes(before: dict, after: dict) -> list[str]:
    """Entries added, removed or changed."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
