"""Level 6: ``torchish.compile``, the state swap (see README.md)."""

from .api import compile as compile
from .compiled import CacheInfo as CacheInfo
from .compiled import Compiled as Compiled
