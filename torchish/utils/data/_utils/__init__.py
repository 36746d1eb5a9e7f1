"""Internals of ``torchish.utils.data`` (mirrors ``torch.utils.data._utils``)."""

from . import collate as collate
from . import fetch as fetch
from . import host as host
from . import worker as worker
from .worker import MP_STATUS_CHECK_INTERVAL as MP_STATUS_CHECK_INTERVAL

python_exit_status = False  # set at interpreter exit so iterators skip graceful shutdown in __del__


def _set_python_exit_flag() -> None:
    global python_exit_status
    python_exit_status = True


import atexit  # noqa: E402

atexit.register(_set_python_exit_flag)
