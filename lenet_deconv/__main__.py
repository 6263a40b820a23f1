"""``python -m lenet_deconv``: the same as the ``lenet-deconv`` command."""

import sys

from .cli import main

sys.exit(main())
