"""nn.functional: ``embedding``, ``embedding_bag``, ``one_hot``."""

from __future__ import annotations

import numpy as np

from ... import _dtype as D
from ..._autograd.grad_mode import no_grad
from ..._ops import OPS
from ..._functions._common import as_tensor_arg
from ..._tensor import _Tracer, apply_op

__all__ = ["embedding", "embedding_bag", "one_hot"]

_INT_NAMES = {"int64": "Long", "int32": "Int"}
_TENSOR_TYPE = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "bool": "BoolTensor",
                "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor", "bfloat16": "BFloat16Tensor"}


def _check_indices(indices, what):
    name = str(indices._data.dtype)
    if name not in _INT_NAMES:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torchish.{_TENSOR_TYPE.get(name, name)} instead (while checking "
                           f"arguments for {what})")


def padding_index(padding_idx, num_embeddings):
    """PyTorch's ``padding_idx`` normalisation: None or a non-negative row index."""
    if padding_idx is None:
        return None
    padding_idx = int(padding_idx)
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError("Padding_idx must be within num_embeddings")
    return padding_idx % num_embeddings


def _renorm(weight, indices, max_norm, norm_type):
    # NOTE: as in PyTorch, max_norm rescales the looked-up rows of ``weight`` in place.
    with no_grad():
        static = (("max_norm", float(max_norm)), ("norm_type", float(norm_type)))
        weight._inplace(apply_op(OPS["embedding_renorm"], static, weight, indices))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """Look up rows of ``weight`` (num_embeddings, D) at integer ``input``: (*,) -> (*, D).

    The ``padding_idx`` row gets no gradient; ``max_norm`` renormalises looked-up rows in place;
    ``scale_grad_by_freq`` divides gradients by index frequency in the batch.  ``sparse=True`` is
    accepted but gradients are dense.  Out-of-range indices give NaN rows (PyTorch raises).
    """
    input, weight = as_tensor_arg(input), as_tensor_arg(weight)
    _check_indices(input, "embedding")
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    pidx = padding_index(padding_idx, weight.shape[0])
    if max_norm is not None:
        _renorm(weight, input, max_norm, norm_type)
    static = (("padding_idx", pidx), ("scale_grad_by_freq", bool(scale_grad_by_freq)))
    return apply_op(OPS["embedding"], static, weight, input)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embeddings, without materialising the per-index rows' output.

    ``input`` is 2-D (B, L) (each row a bag) or 1-D with ``offsets`` (B,) giving each bag's start
    (with ``include_last_offset``, (B + 1,) whose last entry is the end).  ``per_sample_weights``
    (``mode='sum'`` only) scales each looked-up row.
    """
    input, weight = as_tensor_arg(input), as_tensor_arg(weight)
    offsets, per_sample_weights = as_tensor_arg(offsets), as_tensor_arg(per_sample_weights)
    _check_indices(input, "embedding_bag")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, "
                             f"then it must have the same shape as the input ({list(input.shape)})")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed "
                             f"length sequences. However, found offsets of type {type(offsets)}")
        num_bags = input.shape[0]
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        num_bags = offsets.shape[0] - (1 if include_last_offset else 0)
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    pidx = padding_index(padding_idx, weight.shape[0])
    if max_norm is not None:
        _renorm(weight, input, max_norm, norm_type)
    static = (("mode", mode), ("num_bags", num_bags), ("padding_idx", pidx),
              ("scale_grad_by_freq", bool(scale_grad_by_freq)))
    return apply_op(OPS["embedding_bag"], static, weight, input, offsets, per_sample_weights)


def one_hot(tensor, num_classes=-1):
    """(*,) int64 class indices -> (*, num_classes) int64.

    NOTE: ``num_classes=-1`` infers ``max + 1`` from the values, so it needs concrete values: inside
    ``torchish.compile`` pass ``num_classes`` explicitly.  With an explicit ``num_classes``,
    out-of-range values give all-zero rows (PyTorch raises).
    """
    tensor = as_tensor_arg(tensor)
    if tensor._data.dtype != D.int64.np:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    num_classes = int(num_classes)
    if num_classes == -1:
        arr = tensor._value()
        if isinstance(arr, _Tracer):
            raise RuntimeError(
                "F.one_hot(x) with num_classes=-1 infers the number of classes from the values of x, which are not "
                "known while tracing (inside torchish.compile or a jax transform). Pass num_classes explicitly: "
                "F.one_hot(x, num_classes=C).")
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        a = np.asarray(arr)
        if a.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        num_classes = int(a.max()) + 1
    elif num_classes < -1:
        raise RuntimeError("num_classes should be positive")
    return apply_op(OPS["one_hot"], (("num_classes", num_classes),), tensor)


def torch_embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """``torchish.embedding(weight, indices, ...)``: PyTorch's ATen argument order; padding_idx -1 means none."""
    return embedding(indices, weight, None if padding_idx < 0 else padding_idx, None, 2.0, scale_grad_by_freq, sparse)
