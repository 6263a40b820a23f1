"""`lenet-deconv init-weights`: a freshly initialised (untrained) network's weight file."""

from __future__ import annotations

import argparse

import torch

from torch_lenet.model import LeNet5
from torch_lenet.weights import save_params_from_model

from ..outputs import check_output_file, output_file_arg
from .options import add_force, add_out

SUMMARY = "write PyTorch's default initialisation of LeNet-5 as a .npz weight file"
DESCRIPTION = """\
Seed torch, build LeNet-5 with PyTorch's default initialisation and write its
weights (float32, PyTorch's state_dict keys) to a .npz file: an untrained
network for studies and tests.
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of `init-weights`."""
    parser.add_argument("--seed", type=int, default=0, help="torch seed (default: 0)")
    add_out(parser, "the .npz file to write", kind=output_file_arg)
    add_force(parser)


def run(args: argparse.Namespace) -> int:
    """Write the initialised weights and say where."""
    check_output_file(args.out, force=args.force)
    torch.manual_seed(args.seed)
    path = save_params_from_model(LeNet5(), args.out)
    print(f"wrote {path} (seed {args.seed})")
    return 0
