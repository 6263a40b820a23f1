"""The command-line fuzzer (docs/safety.md): generated argument vectors for every subcommand.

Each case runs in-process in a sandbox (a private copy of MNIST and hostile
files of every kind) and must keep every promise of docs/safety.md
(fuzz_cli_cases.check_promises). The sample is fixed (derandomize, no
database): the suite never depends on a lucky draw. Longer runs:
``benchmarks/fuzz_cli.py --minutes N``; what they find is added here as an
``@example``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings

from .fuzz_cli_cases import FAST_COMMANDS, SLOW_COMMANDS, argvs, make_sandbox, run_in

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, data_dir):
    """One sandbox per module; each run's new outputs are removed after its checks."""
    return make_sandbox(tmp_path_factory.mktemp("fuzz"), data_dir), {}


@settings(FUZZ, max_examples=40)
@given(argv=argvs(FAST_COMMANDS))
# Issue 23's hostile trial, kept as fixed cases (each once a traceback, a hang or a loss):
@example(
    argv=[
        "project",
        "--weights",
        "deflate-damaged.npz",
        "--layer",
        "conv1",
        "--channel",
        "0",
        "--input",
        "x.npy",
        "--out",
        "new.npy",
    ]
)
@example(
    argv=[
        "project",
        "--weights",
        "sparse.pt",
        "--layer",
        "conv1",
        "--channel",
        "0",
        "--input",
        "x.npy",
        "--out",
        "new.npy",
    ]
)
@example(
    argv=[
        "project",
        "--weights",
        "w.npz",
        "--layer",
        "fc1",
        "--channel",
        "0",
        "--input",
        "huge-shape.npy",
        "--out",
        "new.npy",
    ]
)
@example(
    argv=[
        "project",
        "--weights",
        "w.npz",
        "--layer",
        "conv1",
        "--channel",
        "0",
        "--input",
        "fifo",
        "--out",
        "new.npy",
    ]
)
@example(
    argv=[
        "project",
        "--weights",
        "w.npz",
        "--layer",
        "conv1",
        "--channel",
        "0",
        "--input",
        "x.npy",
        "--max-memory",
        "9" * 400,
        "--out",
        "new.npy",
    ]
)
@example(
    argv=[
        "project",
        "--weights",
        "w.npz",
        "--layer",
        "conv1",
        "--channel",
        "0",
        "--index",
        "0",
        "--data-dir",
        "data",
        "--force",
        "--out",
        "data/MNIST/raw/t10k-images-idx3-ubyte",
    ]
)
@example(
    argv=[
        "evaluate",
        "--weights",
        "w.npz",
        "--data-dir",
        "data",
        "--force",
        "--predictions",
        "data/MNIST/raw/t10k-labels-idx1-ubyte",
    ]
)
@example(argv=["init-weights", "--out", "new.npz/"])
@example(argv=["init-weights", "--out", ""])
@example(argv=["init-weights", "--out", "n" * 251 + ".npz"])
@example(argv=["project", "--weights", "w.npz", "--layer", "nope"])
# Found by benchmarks/fuzz_cli.py: serve's warning about a non-loopback host came before
# the error.
@example(argv=["serve", "--weights", "fifo", "--port", "-1", "--host", "bad host", "--quiet"])
def test_fast_commands_keep_every_promise(sandbox, argv):
    run_in(sandbox[0], argv, sandbox[1])


@settings(FUZZ, max_examples=6)
@given(argv=argvs(SLOW_COMMANDS))
@example(
    argv=[
        "visualize",
        "--weights",
        "w.npz",
        "--data-dir",
        "data",
        "--out",
        "",
        "--limit",
        "3",
        "--quiet",
    ]
)
# Valid runs of each slow command, so the sample never holds refusals only:
@example(argv=["compare", "--weights", "w.npz", "--data-dir", "data", "--limit", "4", "--quiet"])
@example(argv=["site", "--data-dir", "data", "--out", "out", "--sample", "3", "--quiet"])
@example(argv=["site", "--data-dir", "data", "--out", "", "--quiet"])
@example(argv=["site", "--data-dir", "data", "--out", "out", "--sample", "-1", "--quiet"])
@example(
    argv=[
        "visualize",
        "--weights",
        "w.pt",
        "--data-dir",
        "data",
        "--out",
        "out",
        "--limit",
        "3",
        "--quiet",
    ]
)
@example(
    argv=[
        "sanity",
        "--weights",
        "w.npz",
        "--data-dir",
        "data",
        "--out",
        "out",
        "--limit",
        "2",
        "--quiet",
    ]
)
@example(
    argv=[
        "study",
        "--weights",
        "w.npz",
        "--data-dir",
        "data",
        "--out",
        "out/inner",
        "--limit",
        "3",
        "--images",
        "0",
        "--occlusion-images",
        "0",
        "--quiet",
    ]
)
@example(
    argv=[
        "train",
        "--out",
        "out",
        "--data-dir",
        "data",
        "--epochs",
        "1",
        "--train-limit",
        "64",
        "--test-limit",
        "64",
        "--quiet",
    ]
)
def test_slow_commands_keep_every_promise(sandbox, argv):
    run_in(sandbox[0], argv, sandbox[1])
