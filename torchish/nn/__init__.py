"""``torchish.nn``: Module, layers, losses, ``functional``, ``init``, ``utils``."""

from . import functional as functional
from . import init as init
from . import utils as utils
from .modules import *  # noqa: F401,F403
from .parameter import Buffer as Buffer
from .parameter import Parameter as Parameter
from . import parallel as parallel
from .parallel import DataParallel as DataParallel
