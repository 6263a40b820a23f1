"""``python -m lenet_deconv``: the same as the ``lenet-deconv`` command."""

import sys

from .cli import main

# The guard matters: a spawned worker process (`--device cuda`) imports this module again.
if __name__ == "__main__":
    sys.exit(main())
