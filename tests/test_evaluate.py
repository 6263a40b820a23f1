"""`evaluate`: the shipped weights, both backends, the same prediction for every test image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lenet_deconv.cli import main
from tests.conftest import SHIPPED_METRICS, SHIPPED_WEIGHTS
from torch_lenet.evaluate import summarize


def test_shipped_weights_both_backends_agree_on_every_test_image(data_dir, tmp_path, capsys):
    reports = {}
    for backend in ("numpy", "torch"):
        out = tmp_path / f"{backend}.npy"
        args = [
            "evaluate",
            "--weights",
            str(SHIPPED_WEIGHTS),
            "--data-dir",
            str(data_dir),
            "--backend",
            backend,
            "--json",
            "--predictions",
            str(out),
        ]
        assert main(args) == 0
        reports[backend] = (json.loads(capsys.readouterr().out), np.load(out))
    (np_report, np_pred), (torch_report, torch_pred) = reports["numpy"], reports["torch"]
    assert np_pred.shape == (10_000,)
    np.testing.assert_array_equal(np_pred, torch_pred)
    assert np_report["accuracy"] == torch_report["accuracy"]
    assert np_report["confusion"] == torch_report["confusion"]
    assert abs(np_report["loss"] - torch_report["loss"]) < 1e-5
    # The shipped metrics are what the weights really score.
    final = json.loads(SHIPPED_METRICS.read_text())["final"]
    assert np_report["accuracy"] == pytest.approx(final["test_accuracy"], abs=1e-12)
    assert np_report["accuracy"] >= 0.985
    assert np.sum(np_report["confusion"]) == 10_000


def test_text_report_has_the_confusion_matrix(data_dir, capsys):
    args = [
        "evaluate",
        "--weights",
        str(SHIPPED_WEIGHTS),
        "--data-dir",
        str(data_dir),
        "--backend",
        "numpy",
        "--dtype",
        "float64",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "accuracy 98." in out and "confusion matrix" in out
    rows = [line.split() for line in out.splitlines()[-10:]]
    assert [int(row[0]) for row in rows] == list(range(10))
    assert sum(int(v) for row in rows for v in row[1:]) == 10_000


def test_summarize_counts_and_loss():
    log_probs = np.log(np.array([[0.7, 0.2, 0.1] + [1e-9] * 7, [0.1, 0.8, 0.1] + [1e-9] * 7]))
    result = summarize(log_probs, np.array([0, 2]))
    assert result.correct == 1 and result.accuracy == 0.5
    assert result.loss == pytest.approx(-(np.log(0.7) + np.log(0.1)) / 2)
    assert result.confusion[2, 1] == 1 and result.confusion.sum() == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "weight file not found"),
        (lambda p: p.write_bytes(b"not a zip"), "w.npz"),
    ],
)
def test_bad_weight_file_is_a_clear_error(data_dir, tmp_path, capsys, make, message):
    weights = tmp_path / "w.npz"
    make(weights)
    code = main(["evaluate", "--weights", str(weights), "--data-dir", str(data_dir)])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_nan_weights_name_the_key(data_dir, tmp_path, capsys):
    params = dict(np.load(SHIPPED_WEIGHTS))
    params["fc2.bias"] = params["fc2.bias"].copy()
    params["fc2.bias"][3] = np.nan
    weights = tmp_path / "nan.npz"
    np.savez(weights, **params)
    assert main(["evaluate", "--weights", str(weights), "--data-dir", str(data_dir)]) == 2
    assert "fc2.bias" in capsys.readouterr().err
