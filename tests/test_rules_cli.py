"""--rule on `project` and `visualize`: the default is the deconvnet, each rule reaches the maths,
and a bad rule is one clear line, exit 2, nothing written."""

from __future__ import annotations

import inspect
import re
from collections import Counter

import numpy as np
import pytest

from lenet_deconv.backends import Engine, make_engine
from lenet_deconv.cli import main
from numpy_lenet.params import save_npz
from numpy_lenet.rules import RULES

from .conftest import SHIPPED_WEIGHTS
from .lenet_factories import random_images, random_params


@pytest.fixture()
def inputs(tmp_path):
    weights = save_npz(tmp_path / "w.npz", random_params(6))
    images = tmp_path / "x.npy"
    np.save(images, random_images(6, 2))
    return weights, images


def _project(inputs, out, *extra):
    weights, images = inputs
    args = ["project", "--weights", str(weights), "--input", str(images), "--out", str(out)]
    return main([*args, "--layer", "fc1", "--all-channels", *extra])


def test_project_computes_the_asked_rule_and_defaults_to_the_deconvnet(tmp_path, inputs):
    results = {}
    for rule in RULES:
        out = tmp_path / f"{rule}.npy"
        assert _project(inputs, out, "--rule", rule) == 0
        results[rule] = np.load(out)
        engine = make_engine(random_params(6), "numpy", np.float64)
        expected = engine.project(engine.trace(random_images(6, 2)), "fc1", "max", rule=rule)
        np.testing.assert_array_equal(results[rule], expected)
    assert _project(inputs, tmp_path / "default.npy") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "default.npy"), results["deconvnet"])
    assert not np.array_equal(results["gradient"], results["guided"])


@pytest.mark.parametrize("bad", ["deconv", "Gradient", ""])
def test_project_refuses_a_bad_rule_in_one_line(tmp_path, inputs, capsys, bad):
    out = tmp_path / "out.npy"
    assert _project(inputs, out, "--rule", bad) == 2
    err = capsys.readouterr().err
    assert f"unknown rule {bad!r}" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def visualize(data_dir, out, *extra):
    args = ["visualize", "--weights", str(SHIPPED_WEIGHTS), "--data-dir", str(data_dir)]
    return main([*args, "--out", str(out), "--limit", "60", "--images", "4", *extra])


def test_visualize_draws_the_asked_rule(tmp_path, data_dir, monkeypatch):
    # A spy on the Engine: which rule each projection of the gallery was computed with.
    seen: dict[str, Counter] = {"project": Counter(), "project_each": Counter()}
    for name in seen:
        original = getattr(Engine, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            bound = inspect.signature(_original).bind(*args, **kwargs)
            bound.apply_defaults()
            seen[_name][bound.arguments["rule"]] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(Engine, name, spy)
    out = tmp_path / "guided"
    assert visualize(data_dir, out, "--rule", "guided") == 0
    # Per-image projections (7 layers x 2 modes x 1 image): guided.
    assert seen["project"] == Counter({"guided": 14})
    # Top-9 (7 layers) under the rule; the rules section (7 layers) under each rule.
    assert seen["project_each"] == Counter({"guided": 14, "deconvnet": 7, "gradient": 7})
    page = (out / "index.html").read_text()
    assert re.search(r"<h2[^>]*>Guided backprop projections</h2>", page)
    assert "Deconvnet projections" not in page
    assert "guided backprop maps in pixel space" in page


def test_visualize_refuses_a_bad_rule_in_one_line(tmp_path, data_dir, capsys):
    out = tmp_path / "g"
    assert visualize(data_dir, out, "--rule", "guided-backprop") == 2
    err = capsys.readouterr().err
    assert "unknown rule 'guided-backprop'" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
