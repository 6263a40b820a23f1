"""Options every subcommand shares: each has --help, and --weights defaults to the shipped model."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lenet_deconv.cli import build_parser, main

from .conftest import REPO, SHIPPED_WEIGHTS

(SUBPARSERS,) = [a.choices for a in build_parser()._actions if a.dest == "command"]


def test_the_command_line_has_help():
    result = subprocess.run(
        [sys.executable, "-m", "lenet_deconv", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in SUBPARSERS)


@pytest.mark.parametrize("command", sorted(SUBPARSERS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: lenet-deconv {command}" in capsys.readouterr().out


def test_weights_default_to_the_shipped_model_everywhere():
    defaults = {name: sub.get_default("weights") for name, sub in SUBPARSERS.items()}
    assert {name for name, default in defaults.items() if default is None} == {
        "train",
        "init-weights",
    }
    assert all(d == SHIPPED_WEIGHTS for d in defaults.values() if d is not None), defaults
