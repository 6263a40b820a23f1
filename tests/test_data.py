"""MNIST loading: the data-directory order, the files, and clear errors when they are missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lenet_deconv.cli import main
from lenet_deconv.mnist import resolve_data_dir
from torch_lenet import data
from torch_lenet.data import MNIST_FILES, SPLIT_FILES, DataError, load_mnist


def test_data_dir_order_flag_then_env_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LENET_DECONV_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("LENET_DECONV_DATA")
    assert resolve_data_dir(None) == tmp_path / "cache" / "lenet-deconvnet" / "data"


def test_load_mnist_reads_both_splits(data_dir):
    for split, size in (("train", 60_000), ("test", 10_000)):
        images, labels = load_mnist(data_dir, split, download=False)
        assert images.shape == (size, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (size,) and set(np.unique(labels)) == set(range(10))
    # The first test image of MNIST is a 7.
    assert load_mnist(data_dir, "test", download=False)[1][0] == 7


def test_idx_reader_equals_torchvisions_readers(data_dir):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = data_dir / "MNIST" / "raw"
    for name in MNIST_FILES:
        reader = read_image_file if "images" in name else read_label_file
        want = reader(str(raw / name)).numpy()
        got = data.read_idx(raw / name, 3 if "images" in name else 1)
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want.astype(np.uint8))


def test_idx_reader_refuses_what_is_not_idx(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(DataError, match="magic number 0x504b0304"):
        data.read_idx(path, 1)


def test_images_to_float_matches_to_tensor_rounding(data_dir):
    images, _ = load_mnist(data_dir, "test", download=False)
    for dtype in (np.float32, np.float64):
        floats = data.images_to_float(images[:5], dtype)
        assert floats.shape == (5, 1, 28, 28) and floats.dtype == dtype
        assert floats.min() >= 0 and floats.max() <= 1
        np.testing.assert_array_equal(floats[:, 0] * dtype(255), images[:5].astype(dtype))


def test_missing_files_offline_names_the_split_s_two_files(tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, "test", download=False)
    message = str(info.value)
    assert "the two uncompressed files t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in message
    for name in set(MNIST_FILES) - set(SPLIT_FILES["test"]):
        assert name not in message  # the test split does not need the training files
    assert str(tmp_path / "MNIST" / "raw") in message


def test_failed_download_is_one_clear_error(monkeypatch, tmp_path):
    # Point torchvision at a port nothing listens on: the download fails at once,
    # online or not, and must surface as a DataError, not a library traceback.
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path / "root", "train", download=True)
    assert "download failed" in str(info.value)
    assert "train-images-idx3-ubyte" in str(info.value)
    assert "\n" not in str(info.value)
    # The reason is the mirror's own error, not torchvision's empty "Error downloading X:".
    assert "Tried http://127.0.0.1:9/" in str(info.value)
    assert not (tmp_path / "root").exists()  # no empty MNIST/raw/ tree left behind


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("t10k-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number"),
        ("t10k-labels-idx1-ubyte", lambda b: b[:-3], "truncated"),
        ("train-labels-idx1-ubyte", lambda b: b[:5], "shorter than an IDX header"),
    ],
)
def test_damaged_mnist_file_names_the_reason(data_dir, tmp_path, name, damage, message):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for other in MNIST_FILES:
        source = data_dir / "MNIST" / "raw" / other
        if other == name:
            (raw / other).write_bytes(damage(source.read_bytes()))
        else:
            (raw / other).symlink_to(source)
    split = "train" if name.startswith("train") else "test"
    with pytest.raises(DataError, match=message) as info:
        load_mnist(tmp_path, split, download=False)
    assert name in str(info.value)


def test_pointing_at_the_raw_folder_suggests_the_root(data_dir):
    raw = data_dir / "MNIST" / "raw"
    with pytest.raises(DataError, match=r"pass .* instead"):
        load_mnist(raw, "test", download=False)


def test_cli_reports_missing_data_without_traceback(tmp_path, capsys):
    code = main(
        [
            "evaluate",
            "--weights",
            str(_weights(tmp_path)),
            "--data-dir",
            str(tmp_path / "none"),
            "--no-download",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("lenet-deconv evaluate: error: MNIST not found")
    assert "Traceback" not in err


def _weights(tmp_path: Path) -> Path:
    out = tmp_path / "w.npz"
    assert main(["init-weights", "--seed", "0", "--out", str(out)]) == 0
    return out


def test_the_test_split_needs_only_its_own_files(data_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.SPLIT_FILES["test"]:
        (raw / name).symlink_to(Path(data_dir) / "MNIST" / "raw" / name)
    images, labels = load_mnist(tmp_path, "test", download=False)
    assert images.shape == (10_000, 28, 28) and labels[0] == 7
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, "train", download=False)
    out = tmp_path / "p.npy"
    weights = Path(__file__).resolve().parents[1] / "weights" / "lenet5-mnist.npz"
    args = ["project", "--weights", str(weights), "--index", "0", "--layer", "conv1"]
    assert main([*args, "--channel", "0", "--data-dir", str(tmp_path), "--out", str(out)]) == 0
    assert np.load(out).shape == (1, 1, 28, 28)
