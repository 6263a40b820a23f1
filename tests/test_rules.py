"""The three backward rules: one switch in both backends (their oracles: test_rules_oracle.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lenet_deconv.backends import make_engine
from numpy_lenet import deconv as np_deconv
from numpy_lenet.model import forward
from numpy_lenet.params import load_npz
from numpy_lenet.rules import RULES

from .lenet_factories import random_images, random_params


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def test_each_rule_differs_on_a_real_image(data_dir):
    from torch_lenet.data import images_to_float, load_mnist

    from .conftest import SHIPPED_WEIGHTS

    params = load_npz(SHIPPED_WEIGHTS)
    images, _ = load_mnist(data_dir, "test", download=False)
    trace = forward(params, images_to_float(images[:1], np.float64))
    results = {r: np_deconv.project(params, trace, "fc3", "max", rule=r) for r in RULES}
    for i, a in enumerate(RULES):
        for b in RULES[i + 1 :]:
            assert _relative(results[a], results[b]) > 1e-3, (a, b)


def test_an_unknown_rule_is_refused():
    params, images = random_params(1), random_images(1, 2)
    trace = forward(params, images)
    with pytest.raises(ValueError, match="unknown rule 'deconv'"):
        np_deconv.project(params, trace, "conv1", rule="deconv")
    with pytest.raises(ValueError, match="unknown rule"):
        make_engine(params, "torch", np.float64).project(trace, "conv1", "max", rule="x")


def test_masked_rules_need_the_forward_activations():
    params, images = random_params(1), random_images(1, 2)
    trace = forward(params, images)
    signal = trace.activations["fc1"][:, None]
    with pytest.raises(ValueError, match="needs the forward activations"):
        np_deconv.backproject(params, "fc1", signal, trace.switches, rule="guided")


@pytest.mark.parametrize("rule", ["gradient", "guided"])
def test_every_rectify_form_refuses_a_masked_rule_without_forward(rule):
    from numpy_lenet import rules as np_rules
    from torch_lenet import rules as torch_rules

    signal = np.ones((2, 3, 4))
    forms = (
        (np_rules, signal, ("rectify", "rectify_last", "rectify_each")),
        (torch_rules, torch.from_numpy(signal), ("rectify", "rectify_each")),
    )
    for rules, x, names in forms:
        for rectify in (getattr(rules, name) for name in names):
            with pytest.raises(ValueError, match="needs the forward activations"):
                rectify(x, None, rule)
            np.testing.assert_array_equal(np.asarray(rectify(x, None, "deconvnet")), signal)
