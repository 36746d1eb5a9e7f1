"""``python -m torchish ...``: the same as the ``torchish`` command (see ``torchish/cli.py``)."""

import sys

from .cli import main

sys.exit(main())
