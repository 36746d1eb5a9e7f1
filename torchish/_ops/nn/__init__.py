"""Level-1 ops behind ``torchish.nn``: one file per layer family (pure JAX, registered)."""

from . import activation, attention, conv, distance, dropout, linear, loss, normalization, pooling, rnn, sparse, vision  # noqa: F401
from . import utils_ops  # noqa: F401,E402  (nn.init / nn.utils ops)
