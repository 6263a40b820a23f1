"""The shipped model: found in an installed package or in the checkout, and in the wheel."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import lenet_deconv
from lenet_deconv import shipped

from .conftest import REPO, SHIPPED_WEIGHTS

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_a_checkout_finds_its_weights_folder():
    assert lenet_deconv.shipped_weights() == SHIPPED_WEIGHTS
    assert shipped.shipped_folder() / shipped.SHUFFLED_NAME == (
        REPO / "weights" / "lenet5-mnist-shuffled-labels.npz"
    )


def test_an_installed_package_finds_its_package_data(tmp_path, monkeypatch):
    installed = tmp_path / "site-packages" / "lenet_deconv"
    (installed / "weights").mkdir(parents=True)
    shutil.copy(SHIPPED_WEIGHTS, installed / "weights" / shipped.SHIPPED_NAME)
    monkeypatch.setattr(shipped, "files", lambda package: installed)
    assert shipped.shipped_weights() == installed / "weights" / shipped.SHIPPED_NAME


def test_without_package_data_the_checkout_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "files", lambda package: tmp_path)  # no weights/ there
    assert shipped.shipped_weights() == SHIPPED_WEIGHTS


def test_the_wheel_ships_every_file_of_the_weights_folder():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"]["lenet_deconv.weights"] == "weights"
    patterns = setuptools["package-data"]["lenet_deconv.weights"]
    tracked = subprocess.run(
        ["git", "ls-files", "weights"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git lists no files under weights/"
    for name in tracked:
        inside = Path(name).relative_to("weights").parts
        assert any(_glob_matches(inside, pattern) for pattern in patterns), name


def _glob_matches(parts: tuple[str, ...], pattern: str) -> bool:
    """Whether a relative path matches a setuptools package-data glob (``*`` stays in a folder)."""
    pieces = pattern.split("/")
    return len(pieces) == len(parts) and all(map(fnmatch.fnmatchcase, parts, pieces))


def test_the_wheel_lists_every_package():
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("numpy_lenet", "torch_lenet", "lenet_deconv")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == on_disk | {"lenet_deconv.weights"}
