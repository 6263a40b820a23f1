"""numpy_lenet is usable where torch is not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys

import pytest
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
import numpy as np
import numpy_lenet
from numpy_lenet import architecture, conv, deconv, functional
from numpy_lenet import model, params, pool, selection
w = {k: np.zeros(s) for k, s in architecture.PARAM_SHAPES.items()}
t = model.forward(w, np.zeros((1, 1, 28, 28)))
deconv.project(w, t, "fc1", "max")
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules if sys.modules[m])
print("ok")
"""


def test_numpy_lenet_never_imports_torch():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


LAYERS = """
import importlib, pkgutil, sys
sys.modules["lenet_deconv"] = None  # neither backend may import the tool
if sys.argv[1] == "numpy_lenet":
    sys.modules["torch"] = None
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
print("ok")
"""


@pytest.mark.parametrize("package", ["numpy_lenet", "torch_lenet"])
def test_backends_never_import_the_tool(package):
    # numpy_lenet holds the maths and atomic_path; torch_lenet the model, training and data.
    result = subprocess.run([sys.executable, "-c", LAYERS, package], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
