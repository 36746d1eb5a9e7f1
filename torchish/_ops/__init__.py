"""Level 1: every op once, as a pure function of ``jax.Array``s (see README.md)."""

from . import elementwise, indexing, linalg, random, reduction, shape  # noqa: F401  (registration)
from . import lowering  # noqa: F401
from . import nn  # noqa: F401  (registration)
from ._registry import OPS as OPS
from ._registry import Op as Op
from ._registry import op as op
from ._registry import opmath as opmath
