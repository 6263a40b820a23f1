"""`lenet-deconv study`: its files, the page that links them, and clear refusals of bad input."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from lenet_deconv.cli import main
from numpy_lenet.params import save_npz

from .conftest import SHIPPED_WEIGHTS
from .lenet_factories import random_params

FILES = {
    "evolution.png",
    "evolution.json",
    "evolution.npz",
    "invariance.png",
    "invariance.json",
    "occlusion.png",
    "occlusion.json",
    "index.html",
}


def study(data_dir, out, *extra, weights=SHIPPED_WEIGHTS):
    args = ["study", "--weights", str(weights), "--data-dir", str(data_dir), "--out", str(out)]
    return main([*args, "--quiet", *extra])


@pytest.fixture(scope="module")
def written(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("study")
    # The shipped weights sit beside their epochs/: the evolution figure comes without asking.
    assert study(data_dir, out, "--limit", "150", "--images", "0,3", "--epochs", "1,2,15") == 0
    return out


def test_every_file_is_written_and_linked(written):
    assert {p.name for p in written.iterdir()} == FILES
    page = (written / "index.html").read_text()
    linked = set(re.findall(r'<a href="([^"#]+)"', page))
    assert linked == FILES - {"index.html"}
    assert page.count("<figcaption>") == 3
    for name in ("evolution.png", "invariance.png", "occlusion.png"):
        assert (written / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(written.glob(".lenet-deconv-tmp-*")), "a temporary file was left behind"


def test_json_holds_the_numbers_behind_the_figures(written):
    evolution = json.loads((written / "evolution.json").read_text())
    assert evolution["epochs"] == [1, 2, 15]
    assert evolution["image_set"] == "the first 150 MNIST test images"
    conv1 = evolution["layers"]["conv1"]
    assert conv1["channels"] == list(range(6)) and len(conv1["image"]) == 3
    assert len(evolution["layers"]["fc1"]["channels"]) == 8
    projections = np.load(written / "evolution.npz")
    assert projections["pool2"].shape == (3, 16, 28, 28)
    invariance = json.loads((written / "invariance.json").read_text())
    assert invariance["images"] == [0, 3] and invariance["labels"] == [7, 0]
    rotation = invariance["transforms"]["rotation"]
    assert len(rotation["distance"]["fc2"]) == len(rotation["amount"]["values"]) == 25
    occlusion = json.loads((written / "occlusion.json").read_text())
    assert occlusion["occluder"]["offsets"] == list(range(0, 21, 2))
    first = occlusion["images"][0]
    assert np.shape(first["followed_maps"]["conv2"]["total_activation"]) == (11, 11)
    for data in (evolution, invariance, occlusion):
        assert data["agreement"]["passed"] and data["agreement"]["worst"] < 1e-12
        assert data["agreement"]["checked"] == "torch float64"


def test_without_epochs_the_evolution_figure_is_left_out(tmp_path, data_dir, capsys):
    weights = shutil.copy(SHIPPED_WEIGHTS, tmp_path / "w.npz")
    out = tmp_path / "out"
    args = ["--images", "1", "--occlusion-images", "4", "--backend", "torch"]
    code = main(
        ["study", "--weights", str(weights), "--data-dir", str(data_dir), "--out", str(out), *args]
    )
    assert code == 0
    assert "no feature-evolution figure: no epochs/ folder beside" in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == FILES - {
        "evolution.png",
        "evolution.json",
        "evolution.npz",
    }
    assert json.loads((out / "occlusion.json").read_text())["backend"] == "torch float64"


@pytest.fixture
def broken_epochs(tmp_path):
    """An epochs folder with epochs 1 and 2, epoch 2 of the wrong shapes."""
    folder = tmp_path / "epochs"
    folder.mkdir()
    save_npz(folder / "epoch-01.npz", random_params(0, np.float32))
    wrong = random_params(1, np.float32)
    wrong["fc1.weight"] = np.zeros((120, 401), np.float32)
    np.savez(folder / "epoch-02.npz", **wrong)
    return folder


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "1,16"], r"epoch-16\.npz not found \(1 of the 2 epochs"),
        (["--epochs", "5,2"], "--epochs must increase strictly"),
        (["--epochs", "0,2"], "--epochs: epochs count from 1"),
        (["--epochs", "x"], "--epochs must be integers"),
        (["--epochs-dir", "NOPE"], "--epochs-dir NOPE: no such folder"),
        (["--epochs-dir", "BROKEN", "--epochs", "1,2"], r"fc1\.weight has shape"),
        (["--images", "0,10000"], r"--images: index 10000 is out of range for the test set"),
        (["--occlusion-images", "-1"], "--occlusion-images: index -1 is out of range"),
        (["--occluder-size", "30"], "--occluder-size must be 1..28"),
        (["--occluder-value", "2"], r"--occluder-value must lie in \[0, 1\]"),
        (["--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_bad_inputs_fail_clearly_and_write_nothing(
    tmp_path, data_dir, capsys, broken_epochs, extra, message
):
    extra = [str(broken_epochs) if e == "BROKEN" else e for e in extra]
    extra = [str(tmp_path / "nope") if e == "NOPE" else e for e in extra]
    message = message.replace("NOPE", re.escape(str(tmp_path / "nope")))
    out = tmp_path / "out"
    assert study(data_dir, out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lenet-deconv study: error:")
    assert re.search(message, err), err
    assert not out.exists()


def test_missing_weights_and_epochs_without_a_folder(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    assert study(data_dir, out, weights=tmp_path / "missing.npz") == 2
    assert "missing.npz" in capsys.readouterr().err
    weights = shutil.copy(SHIPPED_WEIGHTS, tmp_path / "w.npz")
    assert study(data_dir, out, "--epochs", "1", weights=weights) == 2
    assert "--epochs: no epochs folder beside" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert study(data_dir, tmp_path / "file") == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert not out.exists()
