"""The ``lenet-deconv`` command line: ``main`` here, one module per subcommand beside it."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
