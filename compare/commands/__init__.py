"""Subcommands of ``lenet-deconv``, one module each."""
