"""`lenet-deconv visualize`: the gallery's files, the page that links them, and clear errors."""

from __future__ import annotations

import re
import shutil

import pytest

from lenet_deconv.cli import main
from numpy_lenet.params import save_npz

from .conftest import SHIPPED_WEIGHTS
from .lenet_factories import random_params

LAYERS = ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3")


def visualize(data_dir, out, *extra, weights=SHIPPED_WEIGHTS):
    args = ["visualize", "--weights", str(weights), "--data-dir", str(data_dir), "--out", str(out)]
    return main([*args, *extra])


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("gallery")
    # The shipped weights sit beside their metrics.json: the curves come without asking.
    assert visualize(data_dir, out, "--limit", "300", "--images", "4,2") == 0
    return out


def test_every_figure_is_written_and_on_the_page(gallery):
    expected = {
        "curves.png",
        "filters-conv1.png",
        "filters-conv2.png",
        "rules.png",
        *(f"activations-{i}.png" for i in (4, 2)),
        *(f"projections-{i}-{m}.png" for i in (4, 2) for m in ("map", "max")),
        *(f"top9-{layer}.png" for layer in LAYERS),
    }
    written = {p.name for p in gallery.glob("*.png")}
    assert written == expected
    page = (gallery / "index.html").read_text()
    linked = set(re.findall(r'<img src="([^"]+)"', page))
    assert linked == expected
    for name in expected:
        assert (gallery / name).stat().st_size > 1000, name
        assert (gallery / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.count("<figcaption>") == len(expected)
    assert not list(gallery.glob(".lenet-deconv-tmp-*")), "a temporary file was left behind"


def test_page_names_the_set_and_the_images(gallery):
    page = (gallery / "index.html").read_text()
    assert "the first 300 MNIST test images" in page
    assert "test image 4 (label" in page


def test_torch_backend_without_a_metrics_file(tmp_path, data_dir):
    # Random weights in a folder with no metrics.json: every figure but the curves.
    weights = save_npz(tmp_path / "w.npz", random_params(1))
    out = tmp_path / "g"
    code = visualize(
        data_dir, out, "--limit", "12", "--images", "0", "--backend", "torch", weights=weights
    )
    assert code == 0
    assert (out / "top9-fc3.png").is_file() and (out / "projections-0-max.png").is_file()
    assert not (out / "curves.png").exists()
    assert "curves.png" not in (out / "index.html").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--images", "0,300"], "image index 300 is out of range for the first 300 MNIST test"),
        (["--images", "a"], "--images must be integers"),
        (["--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_bad_arguments_fail_clearly_and_write_nothing(tmp_path, data_dir, capsys, extra, message):
    out = tmp_path / "g"
    args = ["--limit", "300", *extra] if "--limit" not in extra else extra
    assert visualize(data_dir, out, *args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_and_corrupt_inputs(tmp_path, data_dir, capsys):
    out = tmp_path / "g"
    assert visualize(data_dir, out, weights=tmp_path / "none.npz") == 2
    assert "none.npz" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    assert visualize(data_dir, out, weights=bad) == 2
    assert "bad.npz" in capsys.readouterr().err
    metrics = tmp_path / "metrics.json"
    metrics.write_text("{")
    assert visualize(data_dir, out, "--metrics", str(metrics)) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert not out.exists()


def test_out_must_be_a_folder(tmp_path, data_dir, capsys):
    out = tmp_path / "file"
    out.write_text("keep me")
    assert visualize(data_dir, out) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert out.read_text() == "keep me"


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    # An empty root and no network: the download fails fast and says what to do.
    empty = tmp_path / "data"
    shutil.rmtree(empty, ignore_errors=True)
    empty.mkdir()
    code = main(
        [
            "visualize",
            "--weights",
            str(SHIPPED_WEIGHTS),
            "--data-dir",
            str(empty),
            "--out",
            str(tmp_path / "g"),
        ]
    )
    assert code == 2
    assert "t10k-images-idx3-ubyte" in capsys.readouterr().err
