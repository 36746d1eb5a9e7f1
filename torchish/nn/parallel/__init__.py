"""``torchish.nn.parallel``: data-parallel wrappers (see ``torchish/_compile/parallel.py``)."""

from .data_parallel import DataParallel as DataParallel
from .distributed import DistributedDataParallel as DistributedDataParallel
