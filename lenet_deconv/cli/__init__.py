"""The ``lenet-deconv`` command line: ``main`` here, one module per subcommand beside it."""

from .main import UsageError, build_parser, main

__all__ = ["UsageError", "build_parser", "main"]
