"""`lenet-deconv all`: every step's result where the summary says, and clear refusals."""

from __future__ import annotations

import json

import pytest

from lenet_deconv.cli import main

from .conftest import SHIPPED_WEIGHTS


def test_all_without_weights_takes_the_shipped_model_and_trains_nothing(
    tmp_path, data_dir, capsys, monkeypatch
):
    from lenet_deconv.crosscheck import check

    monkeypatch.setattr(check, "DRIFT_IMAGES", 25)  # the drift report's sample, made small
    out = tmp_path / "out"
    args = ["all", "--data-dir", str(data_dir)]
    assert main([*args, "--out", str(out), "--limit", "40", "--images", "3", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert not (out / "run").exists()
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["weights"] == str(SHIPPED_WEIGHTS)
    assert evaluation["same_predictions"] and evaluation["differing_images"] == []
    assert evaluation["numpy"]["n"] == evaluation["torch"]["n"] == 10_000
    assert evaluation["numpy"]["correct"] == evaluation["torch"]["correct"]
    report = json.loads((out / "compare.json").read_text())
    assert report["passed"] and report["images"] == 40
    assert report["verdict"]["images"] == 40 and report["drift"]["images"] == 25
    assert "PASSED over 40 images" in summary and "(first 25 images)" in summary
    assert (out / "gallery" / "index.html").is_file()
    assert (out / "gallery" / "activations-3.png").is_file()
    assert (out / "gallery" / "curves.png").is_file()  # metrics.json sits beside the weights
    page = (out / "gallery" / "index.html").read_text()  # the study, with the epochs beside
    assert all(f'src="{f}.png"' in page for f in ("evolution", "invariance", "occlusion"))
    for name in ("evaluation.json", "compare.json", "index.html"):
        assert name in summary
    assert f"{100 * evaluation['numpy']['correct'] / 10_000:.2f}%" in summary


def test_all_refuses_to_train_over_an_existing_run(tmp_path, data_dir, capsys):
    (tmp_path / "out" / "run").mkdir(parents=True)
    code = main(["all", "--train", "--data-dir", str(data_dir), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "already exists: pass --weights" in capsys.readouterr().err


def test_all_bad_arguments(tmp_path, data_dir, capsys):
    base = ["all", "--data-dir", str(data_dir), "--out", str(tmp_path / "out")]
    assert main([*base, "--weights", str(SHIPPED_WEIGHTS), "--epochs", "2"]) == 2
    assert "--epochs only applies when training" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # --train makes a model: it takes no --weights
        main([*base, "--train", "--weights", str(SHIPPED_WEIGHTS)])
    assert refused.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main([*base, "--weights", str(SHIPPED_WEIGHTS), "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert main([*base, "--weights", str(SHIPPED_WEIGHTS), "--limit", "5", "--images", "5"]) == 2
    assert "image index 5 is out of range" in capsys.readouterr().err
    assert main([*base, "--weights", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_all_prints_what_failed(tmp_path, data_dir, capsys, monkeypatch):
    from torch_lenet import deconv as torch_deconv

    # A planted bug in the PyTorch deconvnet: the mirror ReLU is missing (whole layers and
    # cropped windows alike).
    monkeypatch.setattr(torch_deconv, "rectify", lambda signal, forward, rule: signal)
    monkeypatch.setattr(torch_deconv, "rectify_each", lambda signal, forward, rule: signal)
    args = ["all", "--weights", str(SHIPPED_WEIGHTS), "--data-dir", str(data_dir), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "out"), "--limit", "2", "--images", "0"]) == 1
    summary = capsys.readouterr().out
    assert "float64 verdict FAILED" in summary
    assert "  failed: projections conv2/map:" in summary
