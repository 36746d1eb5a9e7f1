"""A ``torchish run`` worker: join the process group, then run the user's script as ``__main__``.

    python -m torchish.distributed._worker script.py args...
    python -m torchish.distributed._worker -m package.module args...

Initialising first (see NOTE [ Initialising before the backend ] in ``_group.py``) lets the
script create tensors before its own ``init_process_group()`` call, which then only records
the group.
"""

from __future__ import annotations

import os
import runpy
import sys


def main() -> None:
    argv = sys.argv[1:]
    if not argv:
        raise SystemExit("usage: python -m torchish.distributed._worker (script.py | -m module) [args...]")
    from . import _group

    _group.init_process_group()
    _group._STATE.launched = True
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        script = argv[0]
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
