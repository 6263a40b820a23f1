"""`lenet-deconv compare`: the float64 verdict, the float32 drift report, exit codes, the text."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet_deconv.cli import main
from lenet_deconv.crosscheck.check import DRIFTS, VERDICT, crosscheck
from lenet_deconv.crosscheck.jobs import jobs_for
from lenet_deconv.top_activations import image_batches
from numpy_lenet.architecture import LAYER_NAMES
from numpy_lenet.params import load_npz
from torch_lenet import deconv as torch_deconv
from torch_lenet.data import load_mnist

from .conftest import REPO, SHIPPED_WEIGHTS

#: Test images where the shipped weights' float32 and float64 switches differ (one window each).
FLIPPED_IMAGES = (5321, 8851)
EVERY_JOB = set(jobs_for())


def compare(data_dir, *extra, weights=SHIPPED_WEIGHTS):
    args = ["compare", "--weights", str(weights), "--data-dir", str(data_dir)]
    return main([*args, "--no-download", "--quiet", *extra])


# --- the command on the shipped weights -------------------------------------------------


def test_json_report_passes_with_every_layer_and_mode(data_dir, capsys):
    # 5 images in batches of 3: two batches, the second one short. --limit 5 used to raise
    # a false alarm under the fixed float32 bound; the float64 verdict holds for any N.
    assert compare(data_dir, "--limit", "5", "--batch-size", "3", "--json") == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert err == ""
    assert report["passed"] is True and report["failures"] == []
    assert report["weights"] == str(SHIPPED_WEIGHTS) and report["split"] == "test"
    assert report["images"] == 5 and report["tolerance"] == 1e-12 and report["rule"] == "deconvnet"
    verdict = report["verdict"]
    assert set(verdict["forward_relative_error"]) == set(LAYER_NAMES)
    assert all(0 <= e <= 1e-12 for e in verdict["forward_relative_error"].values())
    rows = {(p["layer"], p["mode"]): p for p in verdict["projections"]}
    assert set(rows) == EVERY_JOB
    for row in rows.values():
        assert row["projections"] > 0
        assert 0 <= row["max_relative_error"] <= 1e-12
    # Not a vacuous pass: the two float64 backends differ in the last bits somewhere.
    assert any(row["max_relative_error"] > 0 for row in rows.values())
    drift = report["drift"]
    for name in DRIFTS:
        errors = [p["max_relative_error"] for p in drift[name]["projections"]]
        assert len(errors) == len(EVERY_JOB) and all(1e-9 < e < 1e-3 for e in errors)
    assert all("bound" in p for p in drift["torch float32"]["projections"])


def test_text_report_names_every_layer(data_dir, capsys):
    assert compare(data_dir, "--limit", "2") == 0
    out, _ = capsys.readouterr()
    assert "NumPy float64 (reference) vs PyTorch float64 on the first 2 of 10000 test images" in out
    assert "float32 drift against the float64 reference" in out
    lines = out.splitlines()
    for layer in LAYER_NAMES:
        # Once in the forward section, once per job in each of the two tables.
        jobs = sum(job[0] == layer for job in EVERY_JOB)
        assert sum(line.split()[:1] == [layer] for line in lines) == 1 + 2 * jobs
    assert "switch flips (float64): none" in out
    assert lines[-1].startswith("PASSED")


@pytest.mark.parametrize("rule", ["gradient", "guided"])
def test_every_rule_passes(data_dir, capsys, rule):
    assert compare(data_dir, "--limit", "2", "--no-drift", "--rule", rule, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["rule"] == rule and "drift" not in report


# --- planted bugs: the verdict must catch each one and name where -------------------------


def _tie_last_pool(kernel, stride, return_indices):
    """A max pool that breaks ties towards the LAST position of a window (the rule is first)."""

    class TieLast(torch.nn.Module):
        def forward(self, x):
            flipped = torch.flip(x, dims=(2, 3))
            values, index = F.max_pool2d(flipped, kernel, stride, return_indices=True)
            h, w = x.shape[2:]
            row, col = index // w, index % w
            return torch.flip(values, dims=(2, 3)), torch.flip(
                (h - 1 - row) * w + (w - 1 - col), dims=(2, 3)
            )

    return TieLast()


class _Functional:
    """torch.nn.functional with one function replaced (the planted bug)."""

    def __init__(self, **replaced):
        self.__dict__.update(replaced)

    def __getattr__(self, name):
        return getattr(F, name)


def _unflipped_transpose(x, weight, padding=0, **kwargs):
    # The classic bug: correlate with the filter instead of convolving (no 180-degree flip).
    k = weight.shape[-1]
    return F.conv2d(x, weight.transpose(0, 1), padding=k - 1 - padding)


def _biased_linear(x, weight, bias=None):
    out = F.linear(x, weight, bias)
    # A bias in the transposed fc2 filter (whose output feeds fc1's mirror block).
    return out + 0.01 if out.shape[-1] == 120 else out


def _no_mirror_relu(monkeypatch):
    """Plant the bug: the PyTorch deconvnet's mirror ReLU passes everything (whole layers and
    cropped windows alike)."""
    monkeypatch.setattr(torch_deconv, "rectify", lambda signal, forward, rule: signal)
    monkeypatch.setattr(torch_deconv, "rectify_each", lambda signal, forward, rule: signal)


PLANTED = {
    "missing mirror ReLU": (_no_mirror_relu, "projections conv2/map"),
    "switch ties to the last position": (
        lambda mp: mp.setattr(torch.nn, "MaxPool2d", _tie_last_pool),
        "switch pool1",
    ),
    "bias in a transposed filter": (
        lambda mp: mp.setattr(torch_deconv, "F", _Functional(linear=_biased_linear)),
        "projections fc2/fc",
    ),
    "unflipped transposed convolution": (
        lambda mp: mp.setattr(
            torch_deconv, "F", _Functional(conv_transpose2d=_unflipped_transpose)
        ),
        "projections conv1/map",
    ),
}


@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_a_planted_bug_fails_the_verdict(data_dir, capsys, monkeypatch, bug):
    plant, named = PLANTED[bug]
    plant(monkeypatch)
    assert compare(data_dir, "--limit", "2", "--no-drift") == 1
    out, err = capsys.readouterr()
    assert "DISAGREE" in err and named in err, err
    assert "FAILED" in out.splitlines()[-1]


def _scaled(op):
    """``op`` whose output is 1 + 1e-6 times too large: a bug far below any picture's notice."""
    return lambda *args, **kwargs: op(*args, **kwargs) * (1 + 1e-6)


#: PyTorch's own layer ops the deconvnet is built from, and the jobs a bug in each must fail.
OPS = {
    "conv_transpose2d": ["conv1/map", "conv1/max", "pool2/unit", "fc1/fc", "fc3/fc"],
    "max_unpool2d": ["pool1/map", "pool1/max", "conv2/unit", "pool2/map", "fc2/fc"],
    "linear": ["fc1/fc", "fc2/fc", "fc3/fc"],
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_a_bug_in_pytorchs_own_op_fails_compare(data_dir, capsys, monkeypatch, op):
    # Only the deconvnet's F is patched: the forward pass and NumPy's side stay right.
    # --limit 100 is one batch, checked in this process, where the patch holds.
    monkeypatch.setattr(torch_deconv, "F", _Functional(**{op: _scaled(getattr(F, op))}))
    assert compare(data_dir, "--limit", "100", "--no-drift") == 1
    err = capsys.readouterr().err
    assert "DISAGREE" in err
    for job in OPS[op]:
        assert f"projections {job}:" in err, (job, err)
    assert "forward" not in err and "switch" not in err


def test_a_planted_bug_fails_the_function(data_dir, monkeypatch):
    images, _ = load_mnist(data_dir, "test", download=False)
    params = load_npz(SHIPPED_WEIGHTS)
    _no_mirror_relu(monkeypatch)
    report = crosscheck(params, image_batches(images[:1], 1), drift=False, workers=1)
    assert not report.passed
    assert any(line.startswith("projections conv2/") for line in report.failures())


# --- bad input: exit 2 with one clear line, before any heavy work -----------------------


def test_missing_weight_file(tmp_path, data_dir, capsys):
    missing = tmp_path / "nope.npz"
    assert compare(data_dir, weights=missing) == 2
    err = capsys.readouterr().err
    assert err.startswith("lenet-deconv compare: error:") and "not found" in err
    assert str(missing) in err


def test_corrupt_weight_file(tmp_path, data_dir, capsys):
    corrupt = tmp_path / "broken.npz"
    corrupt.write_bytes(b"not a zip archive at all")
    assert compare(data_dir, weights=corrupt) == 2
    err = capsys.readouterr().err
    assert str(corrupt) in err and "not a readable .npz weight file" in err


def test_weights_of_the_wrong_shape(tmp_path, data_dir, capsys):
    params = load_npz(SHIPPED_WEIGHTS)
    params["fc1.weight"] = params["fc1.weight"][:, :10]
    path = tmp_path / "wrong.npz"
    np.savez(path, **params)
    assert compare(data_dir, weights=path) == 2
    assert "fc1.weight has shape (120, 10)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--limit", "0"], "--limit must be at least 1, got 0"),
        (["--limit", "-3"], "--limit must be at least 1, got -3"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (
            ["--drift-images", "0"],
            "--drift-images must be a number of images (at least 1) or all, got 0",
        ),
        (
            ["--drift-images", "some"],
            "--drift-images must be a number of images (at least 1) or all, got some",
        ),
    ],
)
def test_bad_option_values_fail_before_loading_anything(tmp_path, capsys, flags, message):
    # Neither the weights nor the data exist: the option is still what gets reported.
    assert compare(tmp_path / "no-data", *flags, weights=tmp_path / "no.npz") == 2
    err = capsys.readouterr().err
    assert err.strip() == f"lenet-deconv compare: error: {message}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_without_cuda_is_one_clear_line(tmp_path, capsys):
    assert compare(tmp_path, "--device", "cuda", weights=tmp_path / "no.npz") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "lenet-deconv compare: error: --device cuda asked for, but PyTorch sees no CUDA device here"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_auto_device_falls_back_to_the_cpu(data_dir, capsys):
    assert compare(data_dir, "--limit", "1", "--no-drift", "--device", "auto") == 0


def test_missing_mnist(tmp_path, capsys):
    assert compare(tmp_path, "--limit", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("lenet-deconv compare: error: MNIST not found in")
    assert "downloading is off" in err


# --- the images whose float32 switches flip --------------------------------------------


@pytest.fixture(scope="module")
def flipped_images(data_dir):
    images, _ = load_mnist(data_dir, "test", download=False)
    return images[[0, FLIPPED_IMAGES[0], 1, FLIPPED_IMAGES[1]]]


def test_float32_flips_are_near_ties_and_set_aside(flipped_images, capsys):
    params = load_npz(SHIPPED_WEIGHTS)
    report = crosscheck(params, image_batches(flipped_images, 3), workers=2)
    assert report.passed
    torch32 = report.comparisons["torch float32"]
    assert [(f.pool, f.image) for f in torch32.flips] == [("pool1", 1), ("pool2", 3)]
    for flip in torch32.flips:
        assert flip.near_tie and 0 < flip.gap <= flip.bound
        assert flip.reference_value > flip.other_pick_value  # the float64 maximum
    rows = {(r["layer"], r["mode"]): r for r in report.summaries["torch float32"]}
    assert rows[("conv1", "map")]["set_aside"] == 0  # conv1 projections pass no pool
    assert rows[("fc1", "fc")]["set_aside"] > 0
    # Threads only change who computes what: the report is the same with one worker.
    single = crosscheck(params, image_batches(flipped_images, 3), workers=1)
    assert json.dumps(single.as_dict()) == json.dumps(report.as_dict())


def test_drift_report_on_a_sample_is_the_drift_of_those_images(data_dir):
    images, _ = load_mnist(data_dir, "test", download=False)
    params = load_npz(SHIPPED_WEIGHTS)
    jobs = dict(layers=("conv2", "fc3"), workers=1)
    # Batches of 2: the sample's end (3) falls inside the second batch.
    sampled = crosscheck(params, image_batches(images[:5], 2), drift_images=3, **jobs)
    alone = crosscheck(params, image_batches(images[:3], 2), **jobs)
    assert sampled.images == sampled.verdict.images == 5
    for name in DRIFTS:
        mine, theirs = sampled.comparisons[name], alone.comparisons[name]
        assert mine.images == theirs.images == 3
        assert mine.sq_forward == theirs.sq_forward
        for job, stats in mine.jobs.items():
            for field in ("sq_diff", "sq_norm"):
                np.testing.assert_array_equal(
                    np.concatenate(getattr(stats, field)),
                    np.concatenate(getattr(theirs.jobs[job], field)),
                )
            assert stats.projections == theirs.jobs[job].projections


def test_the_text_and_json_say_how_many_images_the_drift_took(data_dir, capsys):
    assert compare(data_dir, "--limit", "3", "--drift-images", "2") == 0
    out = capsys.readouterr().out
    assert "on the first 2 of 3 images (--drift-images all for every one)" in out
    assert compare(data_dir, "--limit", "3", "--drift-images", "all", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drift"]["images"] == report["verdict"]["images"] == 3


def test_crosscheck_rejects_bad_arguments():
    params = load_npz(SHIPPED_WEIGHTS)
    with pytest.raises(ValueError, match="no images"):
        crosscheck(params, iter(()))
    with pytest.raises(ValueError, match="unknown rule"):
        crosscheck(params, iter(()), rule="lrp")
    with pytest.raises(ValueError, match="workers"):
        crosscheck(params, iter(()), workers=0)
    with pytest.raises(ValueError, match="drift_images"):
        crosscheck(params, iter(()), drift_images=0)


def test_verdict_is_the_torch_float64_side():
    assert VERDICT == "torch float64"


# --- never a false alarm on correct code --------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("limit", [1, 3, 17])
def test_random_weights_never_raise_a_false_alarm(data_dir, seed, limit):
    from .lenet_factories import random_params

    images, _ = load_mnist(data_dir, "test", download=False)
    params = random_params(seed, gain=[0.5, 1.0, 3.0][seed])
    report = crosscheck(params, image_batches(images[:limit], 8), drift=False, workers=2)
    assert report.passed, report.failures()


def test_the_shipped_weights_pass_over_300_images(data_dir):
    images, _ = load_mnist(data_dir, "test", download=False)
    params = load_npz(SHIPPED_WEIGHTS)
    # Every conv and pool job over 300 images; the fc jobs are covered on fewer above.
    report = crosscheck(
        params,
        image_batches(images[:300], 100),
        layers=("conv1", "pool1", "conv2", "pool2"),
        drift=False,
        workers=2,
    )
    assert report.passed, report.failures()
    assert report.images == 300


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
@pytest.mark.parametrize(
    "command",
    [
        ["project", "--index", "0", "--layer", "conv1", "--channel", "0", "--out", "OUT/p.npy"],
        ["visualize", "--out", "OUT"],
        ["all", "--out", "OUT"],
    ],
)
def test_every_command_refuses_cuda_without_cuda(tmp_path, data_dir, capsys, command):
    out = tmp_path / "out"
    args = [part.replace("OUT", str(out)) for part in command]
    extra = ["--weights", str(SHIPPED_WEIGHTS), "--data-dir", str(data_dir), "--device", "cuda"]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--device cuda asked for, but PyTorch sees no CUDA device here")
    assert len(err.splitlines()) == 1
    assert not out.exists()


# --- worker processes ---------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_compare_stops_its_workers(data_dir, signum):
    """Ctrl-C or SIGTERM to the process group mid-run: exit 130/143, and no worker is left.

    (A terminal's Ctrl-C reaches every process of the foreground group, workers included.)
    """
    command = [
        sys.executable,
        "-m",
        "lenet_deconv",
        "compare",
        "--weights",
        str(SHIPPED_WEIGHTS),
        "--data-dir",
        str(data_dir),
        "--no-download",
        "--limit",
        "2000",
        "--batch-size",
        "10",
    ]
    run = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
        # A shell's background job ignores SIGINT, and a Python started so keeps ignoring
        # it: give the command the default, as a terminal's foreground job has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The progress bar counts images once the first batches are folded: the workers run.
    seen = ""
    while not re.search(r"[1-9][0-9]*/2000", seen):
        char = run.stderr.read(1)
        assert char, f"compare ended before its first batch: {seen}"
        seen += char
    workers = _children(run.pid)
    assert len(workers) >= 2, workers
    os.killpg(run.pid, signum)
    assert run.wait(timeout=60) == (130 if signum == signal.SIGINT else 143)
    assert "Traceback" not in run.stderr.read()
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"worker {pid} still runs"


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
