"""torchish.utils."""

from . import data as data
