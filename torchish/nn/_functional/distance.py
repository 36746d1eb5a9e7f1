"""nn.functional: ``normalize``, ``cosine_similarity``, ``pairwise_distance``, ``pdist``."""

from __future__ import annotations

from ..._ops import OPS
from ..._functions._common import as_tensor_arg, dim1, promote
from ..._tensor import apply_op
from ... import _dtype as D

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "pdist"]


def _float_dtype(*ts):
    d = promote(*ts)
    return d.np if d.is_floating_point else D.get_default_dtype().np


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p along dim, eps)``."""
    input = as_tensor_arg(input)
    if not input.is_floating_point():
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{str(input.dtype).split('.')[-1].capitalize()}")
    r = apply_op(OPS["normalize"], (("p", float(p)), ("dim", dim1(dim, input.ndim)), ("eps", float(eps))), input)
    if out is not None:
        out._inplace(r)
        return out
    return r


def _broadcast_shape(a, b):
    shape = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            n = max(len(a), len(b))
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton "
                               f"dimension {n - i}")
        shape.append(max(x, y) if 1 in (x, y) else x)
    return tuple(reversed(shape))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine similarity along ``dim`` of broadcast ``x1`` and ``x2``; each norm is clamped to ``eps``."""
    x1, x2 = as_tensor_arg(x1), as_tensor_arg(x2)
    shape = _broadcast_shape(tuple(x1.shape), tuple(x2.shape))
    static = (("dim", dim1(dim, len(shape))), ("eps", float(eps)), ("dtype", _float_dtype(x1, x2)))
    return apply_op(OPS["cosine_similarity"], static, x1, x2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` over the last dimension."""
    x1, x2 = as_tensor_arg(x1), as_tensor_arg(x2)
    _broadcast_shape(tuple(x1.shape), tuple(x2.shape))
    static = (("p", float(p)), ("eps", float(eps)), ("keepdim", bool(keepdim)), ("dtype", _float_dtype(x1, x2)))
    return apply_op(OPS["pairwise_distance"], static, x1, x2)


def pdist(input, p=2):
    """p-norm distances between all pairs of rows of (N, M): (N (N - 1) / 2,)."""
    input = as_tensor_arg(input)
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    return apply_op(OPS["pdist"], (("p", float(p)),), input)
