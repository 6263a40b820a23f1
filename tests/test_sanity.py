"""The sanity checks: randomisation, similarity measures, the study's maps, and the command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.cli import main
from lenet_deconv.sanity.randomize import (
    WEIGHT_LAYERS,
    cascading,
    independent,
    initial_params,
)
from lenet_deconv.sanity.similarity import similarities, spearman_abs, ssim_abs, summary
from lenet_deconv.sanity.study import _explain, run_study
from numpy_lenet.params import load_npz, save_npz
from numpy_lenet.rules import RULES

from .conftest import SHIPPED_WEIGHTS
from .lenet_factories import random_images, random_params


def _layers_of(key: str) -> str:
    return key.split(".")[0]


def test_initial_params_are_init_weights_and_leave_the_global_rng_alone(tmp_path):
    out = tmp_path / "init.npz"
    assert main(["init-weights", "--seed", "3", "--out", str(out)]) == 0
    before = torch.random.get_rng_state()
    mine = initial_params(3)
    assert torch.equal(before, torch.random.get_rng_state())
    written = load_npz(out)
    assert all(np.array_equal(mine[k], written[k]) for k in written)


def test_cascading_and_independent_replace_exactly_their_layers():
    trained, fresh = random_params(1, np.float32), initial_params(0)
    for k, (top, params) in enumerate(cascading(trained, fresh)):
        assert top == WEIGHT_LAYERS[k]
        for key, value in params.items():
            source = fresh if _layers_of(key) in WEIGHT_LAYERS[: k + 1] else trained
            assert np.array_equal(value, source[key]), (top, key)
    for layer, params in independent(trained, fresh):
        for key, value in params.items():
            source = fresh if _layers_of(key) == layer else trained
            assert np.array_equal(value, source[key]), (layer, key)


def _map(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(28, 28))


@settings(max_examples=30, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 2**20), min_size=2, max_size=2, unique=True),
    scale=st.floats(0.01, 100),
)
def test_similarities_are_bounded_symmetric_and_blind_to_sign_and_scale(seeds, scale):
    a, b = _map(seeds[0]), _map(seeds[1])
    rho = spearman_abs(a, b)
    assert -1 <= rho <= 1 and rho == pytest.approx(spearman_abs(b, a), abs=1e-12)
    assert spearman_abs(a, -scale * a) == pytest.approx(1.0)
    assert ssim_abs(a, -scale * a) == pytest.approx(1.0)
    assert ssim_abs(a, b) < 1.0


def test_a_constant_map_has_no_rank_correlation_and_is_summarised_without_nan():
    a, zero = np.arange(784.0).reshape(28, 28), np.zeros((28, 28))
    assert spearman_abs(a, zero) is None
    assert np.isfinite(ssim_abs(a, zero))
    scores = similarities(np.stack([a, a]), np.stack([a, zero]))
    assert scores["spearman"] == [1.0, None]
    assert summary(scores["spearman"]) == {"mean": 1.0, "std": 0.0, "defined": 1}
    assert summary([None]) == {"mean": None, "std": None, "defined": 0}


def test_the_gradient_map_is_the_class_logits_input_gradient():
    """What the study explains: for the gradient rule, d logit[label] / d pixels (autograd)."""
    from lenet_deconv.backends import make_engine, torch_model

    params, images = random_params(4), random_images(4, 3)
    labels = np.array([3, 0, 9])
    engine = make_engine(params, "numpy", np.float64)
    maps = _explain(engine, engine.trace(images), labels)["gradient"]
    x = torch.from_numpy(images).requires_grad_(True)
    logits = torch_model(params, np.float64).trace(x).activations["fc3"]
    (grad,) = torch.autograd.grad(logits[torch.arange(3), torch.from_numpy(labels)].sum(), x)
    np.testing.assert_allclose(maps, grad.numpy()[:, 0], rtol=0, atol=1e-12)


def test_an_unchanged_model_scores_one_and_a_changed_one_less():
    trained = random_params(2, np.float32)
    images = (random_images(2, 6)[:, 0] * 255).astype(np.uint8)
    labels = np.arange(6) % 10
    study = run_study(trained, images, labels, seed=0, shuffled=trained)
    for rule in RULES:
        same = study.scores["labels"]["shuffled labels"][rule]
        assert all(v == pytest.approx(1.0) for v in same["ssim"])
        changed = study.scores["cascading"]["conv1"][rule]["ssim"]
        assert np.mean(changed) < 0.9, rule
    record = study.to_json()
    json.dumps(record, allow_nan=False)
    assert set(record["tests"]) == {"cascading", "independent", "labels"}
    assert list(record["tests"]["independent"]) == list(WEIGHT_LAYERS)


# The command line -------------------------------------------------------------------------


def sanity(data_dir, out, *extra, weights=SHIPPED_WEIGHTS):
    args = ["sanity", "--weights", str(weights), "--data-dir", str(data_dir), "--out", str(out)]
    return main([*args, "--quiet", *extra])


@pytest.fixture(scope="module")
def written(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("sanity")
    shuffled = save_npz(root / "shuffled.npz", random_params(9, np.float32))
    out = root / "out"
    extra = ["--limit", "12", "--images", "3,0", "--shuffled-weights", str(shuffled)]
    assert sanity(data_dir, out, *extra) == 0
    return out


def _strict_json(path):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_the_command_writes_figures_json_and_page(written):
    expected = {
        "sanity-rules.png",
        "sanity-curves.png",
        "sanity-cascading.png",
        "sanity-independent.png",
        "sanity-labels.png",
    }
    assert {p.name for p in written.glob("*.png")} == expected
    page = (written / "index.html").read_text()
    assert set(re.findall(r'<img src="([^"]+)"', page)) == expected
    for name in expected:
        assert (written / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = _strict_json(written / "sanity.json")
    assert record["images"] == 12 and record["shown_images"] == [3, 0]
    for test, steps in {
        "cascading": WEIGHT_LAYERS,
        "independent": WEIGHT_LAYERS,
        "labels": ("shuffled labels",),
    }.items():
        assert tuple(record["tests"][test]) == tuple(steps)
        for step in steps:
            for rule in RULES:
                for metric in ("spearman", "ssim"):
                    entry = record["tests"][test][step][rule][metric]
                    assert len(entry["values"]) == 12
                    assert entry["defined"] == sum(v is not None for v in entry["values"])
    assert not list(written.glob(".lenet-deconv-tmp-*")), "a temporary file was left behind"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--limit", "0"], "--limit must be at least 1"),
        (["--limit", "20000"], "exceeds the 10000 test images"),
        (
            ["--limit", "5", "--images", "5"],
            "--images 5 is out of range for the first 5 test images",
        ),
        (["--images", "a"], "--images must be integers"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--shuffled-weights", "missing.npz"], "weight file not found"),
    ],
)
def test_bad_input_fails_in_one_line_and_writes_nothing(tmp_path, data_dir, capsys, extra, message):
    out = tmp_path / "out"
    assert sanity(data_dir, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_missing_weights_and_a_file_as_out_are_refused(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    assert sanity(data_dir, out, weights=tmp_path / "none.npz") == 2
    assert "weight file not found" in capsys.readouterr().err
    assert not out.exists()
    afile = tmp_path / "file"
    afile.write_text("keep")
    assert sanity(data_dir, afile) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert afile.read_text() == "keep"
