"""nn.functional: dropout (element-wise, channel-wise, alpha).

Each call in training mode draws a fresh key from the default generator
(``torchish._random.next_key``) and passes it to the ``dropout`` op as a dynamic argument:
one compiled program serves every step, and inside ``torchish.compile`` the generator's key is
state, so every step gets a new mask.  Masks differ from PyTorch's (different generator);
their distribution, the scaling and reproducibility under ``manual_seed`` are the same.
"""

from __future__ import annotations

import warnings

from ... import _random
from ..._functions._common import as_tensor_arg
from ..._ops import OPS
from ..._tensor import apply_op

__all__ = ["dropout", "alpha_dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"]


def _check_p(p) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(input, p, training, inplace, feature=False, alpha=False):
    """Shared body: identity when not training or ``p == 0`` (returns ``input`` itself, as PyTorch)."""
    input = as_tensor_arg(input)
    if not training or p == 0 or input.numel() == 0:
        return input
    shape = None  # one mask entry per element
    if feature:
        if input.ndim < 2:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)  # one per (sample, channel)
    static = (("p", float(p)), ("mask_shape", shape), ("alpha", alpha))
    out = apply_op(OPS["dropout"], static, input, _random.next_key())
    return input._inplace(out) if inplace else out


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Example:
        >>> y = F.dropout(torchish.ones(4, 4), p=0.5)  # entries are 0 or 2
    """
    _check_p(p)
    return _dropout(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped entries take SELU's saturation value, then an affine
    correction keeps zero mean and unit variance."""
    _check_p(p)
    return _dropout(input, p, training, inplace, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels (dim 1) of an (N, C, *) input."""
    _check_p(p)
    return _dropout(input, p, training, inplace, feature=True, alpha=True)


def _unbatched(input, p, training, inplace):
    """Channel dropout of an input without batch dim: add it, drop, remove it."""
    input = as_tensor_arg(input)
    if not training or p == 0:
        return input
    out = _dropout(input.unsqueeze(0), p, training, False, feature=True).squeeze(0)
    return input._inplace(out) if inplace else out


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p``."""
    _check_p(p)
    input = as_tensor_arg(input)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
    if input.ndim == 2:
        return _unbatched(input, p, training, inplace)
    return _dropout(input, p, training, inplace, feature=True)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, H, W) input with probability ``p``.

    As PyTorch (for now), a 3-D input is treated as (N, C, L) with a warning.
    """
    _check_p(p)
    input = as_tensor_arg(input)
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout2d "
            "exists to provide channel-wise dropout on inputs with 2 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _dropout(input, p, training, inplace, feature=True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""
    _check_p(p)
    input = as_tensor_arg(input)
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout3d "
            "exists to provide channel-wise dropout on inputs with 3 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    if input.ndim != 5:
        return _unbatched(input, p, training, inplace)
    return _dropout(input, p, training, inplace, feature=True)


# ----------------------------------------------- torchish.* forms (torch.dropout(input, p, train))
def torch_dropout(input, p, train):
    return dropout(input, p, train)


def torch_dropout_(input, p, train):
    return dropout(input, p, train, inplace=True)


def torch_alpha_dropout(input, p, train):
    return alpha_dropout(input, p, train)


def torch_feature_dropout(input, p, train):
    _check_p(p)
    return _dropout(input, p, train, False, feature=True)


def torch_feature_alpha_dropout(input, p, train):
    return feature_alpha_dropout(input, p, train)
