"""`lenet-deconv site`: the static site's files, what they hold, and the output policy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lenet_deconv.cli.main import COMMANDS, main
from lenet_deconv.explorer.site import MIRROR_TABLE, model_files, site_file_names, site_files
from lenet_deconv.topk import image_batches, top_activations
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, PARAM_SHAPES
from numpy_lenet.model import forward
from numpy_lenet.params import cast_params
from torch_lenet.data import load_mnist
from torch_lenet.weights import load_params

from .conftest import SHIPPED_WEIGHTS
from .lenet_factories import random_params

#: The issue's ceiling for the whole site.
MAX_SITE_BYTES = 10_000_000


@pytest.fixture(scope="module")
def test_set(data_dir):
    return load_mnist(data_dir, "test", download=False)


def test_site_is_a_registered_command(capsys) -> None:
    assert "site" in COMMANDS
    with pytest.raises(SystemExit):
        main(["site", "--help"])
    text = capsys.readouterr().out
    for option in ("--weights", "--data-dir", "--out", "--sample", "--force"):
        assert option in text


def test_the_weight_file_holds_the_exact_float64_values() -> None:
    params = random_params(3, dtype=np.float32)
    spec, weights = model_files(params)
    stored = np.frombuffer(weights, dtype="<f8")
    for name, shape in PARAM_SHAPES.items():
        place = spec["weights"]["params"][name]
        assert place["shape"] == list(shape)
        values = stored[place["offset"] : place["offset"] + int(np.prod(shape))]
        assert np.array_equal(values, params[name].astype(np.float64).ravel())


def test_the_mirror_table_covers_every_layer_top_down() -> None:
    names = []
    for entry in MIRROR_TABLE:
        names += ([entry["unpool"]] if entry["unpool"] else []) + [entry["name"]]
    assert names == list(reversed(LAYER_NAMES))


def test_the_top9_tables_are_the_whole_sets_search(test_set) -> None:
    images, labels = test_set[0][:500], test_set[1][:500]
    params = load_params(SHIPPED_WEIGHTS)
    files = site_files(params, images, labels, sample=7)
    data = json.loads(files["data.json"])
    pixels = np.frombuffer(files["images.u8"], dtype=np.uint8).reshape(-1, 28, 28)
    weights = cast_params(params, np.float64)
    table = top_activations(image_batches(images, 100, np.float64), lambda b: forward(weights, b))
    assert [s["index"] for s in data["sample"]] == list(range(7))
    for layer in LAYER_NAMES:
        assert len(data["top9"][layer]) == LAYER_SHAPES[layer][0]
        for channel, entries in enumerate(data["top9"][layer]):
            assert [e["index"] for e in entries] == table[layer].images[:, channel].tolist()
            assert [e["value"] for e in entries] == table[layer].values[:, channel].tolist()
            for entry in entries:
                assert np.array_equal(pixels[entry["image"]], images[entry["index"]])
                assert entry["label"] == labels[entry["index"]]
    assert set(files) == set(site_file_names())


def test_site_writes_a_folder_under_10_mb_and_keeps_it_without_force(
    tmp_path, data_dir, capsys
) -> None:
    out = tmp_path / "site"
    assert main(["site", "--out", str(out), "--data-dir", str(data_dir), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(site_file_names())
    assert sum(p.stat().st_size for p in out.iterdir()) <= MAX_SITE_BYTES
    spec = json.loads((out / "model.json").read_bytes())
    assert spec["mirror"] == list(MIRROR_TABLE)
    capsys.readouterr()
    (out / "data.json").write_text("mine")
    assert main(["site", "--out", str(out), "--data-dir", str(data_dir), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--force" in error
    assert (out / "data.json").read_text() == "mine"  # nothing replaced


def test_a_negative_sample_is_one_line(tmp_path, capsys) -> None:
    assert main(["site", "--out", str(tmp_path / "s"), "--sample", "-1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--sample" in error
    assert not (tmp_path / "s").exists()


def test_an_out_that_is_a_file_is_one_line(tmp_path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("keep")
    assert main(["site", "--out", str(target)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert target.read_text() == "keep"


def test_an_empty_out_is_one_line_not_this_folder(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["site", "--out", ""]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--out is empty" in error
    assert list(tmp_path.iterdir()) == []
