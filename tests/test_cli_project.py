"""`lenet-deconv project` and `init-weights`: same projections from both backends, clear errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lenet_deconv.cli import main
from lenet_deconv.crosscheck.agreement import relative_error
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.model import forward
from numpy_lenet.params import load_npz, save_npz

from .lenet_factories import random_images, random_params


@pytest.fixture()
def weights(tmp_path):
    return save_npz(tmp_path / "w.npz", random_params(5))


@pytest.fixture()
def images(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, random_images(5, 3)[:, 0])  # (N, 28, 28) is accepted too
    return path


def project(weights, images, out, *extra):
    # --force: these tests reuse one --out path, and project never replaces a file silently.
    args = ["project", "--weights", str(weights), "--input", str(images), "--out", str(out)]
    args.append("--force")
    return main([*args, *extra])


@pytest.mark.parametrize("layer", LAYER_NAMES)
@pytest.mark.parametrize("mode", ["map", "max", "unit"])
def test_both_backends_write_the_same_projections(tmp_path, weights, images, layer, mode):
    sel = ["--all-channels"]
    if mode == "unit":
        # The two strongest activations of image 0: units that surely project to something.
        acts = forward(random_params(5), random_images(5, 3)).activations[layer][0]
        top = np.argsort(acts, axis=None)[-2:]
        sel = [
            a for u in top for a in ("--unit", ",".join(map(str, np.unravel_index(u, acts.shape))))
        ]
    outs = {}
    for backend in ("numpy", "torch"):
        out = tmp_path / f"{backend}.npy"
        assert (
            project(
                weights, images, out, "--layer", layer, "--mode", mode, "--backend", backend, *sel
            )
            == 0
        )
        outs[backend] = np.load(out)
    count = 2 if mode == "unit" else LAYER_SHAPES[layer][0]
    assert outs["numpy"].shape == (3, count, 1, 28, 28)
    assert outs["numpy"].dtype == np.float64
    assert np.any(outs["numpy"])
    assert relative_error(outs["numpy"], outs["torch"]) < 1e-12


def test_one_selection_gives_4d_float32_output(tmp_path, weights, images):
    out = tmp_path / "p.npy"
    assert (
        project(weights, images, out, "--layer", "conv2", "--channel", "3", "--dtype", "float32")
        == 0
    )
    result = np.load(out)
    assert result.shape == (3, 1, 28, 28) and result.dtype == np.float32
    assert project(weights, images, out, "--layer", "conv2", "--channel", "3,4") == 0
    assert np.load(out).shape == (3, 2, 1, 28, 28)


def test_init_weights_is_seeded_and_valid(tmp_path, capsys):
    a, b, c = (tmp_path / f"{n}.npz" for n in "abc")
    assert main(["init-weights", "--seed", "3", "--out", str(a)]) == 0
    assert main(["init-weights", "--seed", "3", "--out", str(b)]) == 0
    assert main(["init-weights", "--seed", "4", "--out", str(c)]) == 0
    pa, pb, pc = load_npz(a), load_npz(b), load_npz(c)
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert not np.array_equal(pa["conv1.weight"], pc["conv1.weight"])
    assert "wrote" in capsys.readouterr().out


def bad_input(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (lambda t: bad_input(t, "a.npy", np.zeros((2, 1, 32, 32))), [], r"shape \(N, 1, 28, 28\)"),
        (
            lambda t: bad_input(t, "b.npy", np.zeros((2, 28, 28), np.uint8)),
            [],
            "float32 or float64",
        ),
        (lambda t: bad_input(t, "c.npy", np.full((1, 28, 28), np.nan)), [], "NaN"),
        (lambda t: bad_input(t, "d.npy", np.full((1, 28, 28), 255.0)), [], r"in \[0, 1\]"),
        (lambda t: t / "missing.npy", [], "input file not found"),
        (
            lambda t: bad_input(t, "e.npy", np.zeros((1, 28, 28))),
            ["--channel", "6"],
            "channel 6 out of range",
        ),
        (
            lambda t: bad_input(t, "f.npy", np.zeros((1, 28, 28))),
            ["--unit", "0,0,0"],
            "--unit goes with --mode unit",
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    tmp_path, weights, capsys, make_input, extra, message
):
    out = tmp_path / "out.npy"
    args = ["--layer", "conv1", *(extra or ["--channel", "0"])]
    assert project(weights, make_input(tmp_path), out, *args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.npy*")), "temporary file left behind"


def test_corrupt_weights_and_unknown_layer(tmp_path, images, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    out = tmp_path / "out.npy"
    assert project(bad, images, out, "--layer", "fc1", "--channel", "0") == 2
    assert "bad.npz: not a readable .npz" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        project(bad, images, out, "--layer", "conv3", "--channel", "0")
    assert exit_info.value.code == 2
    assert "invalid choice: 'conv3'" in capsys.readouterr().err
    assert not out.exists()
