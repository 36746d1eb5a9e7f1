"""nn.functional: ``linear`` and ``bilinear`` (each one fused op: product and bias add)."""

from __future__ import annotations

from ..._ops import OPS
from ..._tensor import apply_op
from ..._functions._common import as_tensor_arg

__all__ = ["linear", "bilinear"]

_DT = {"float64": "Double", "float32": "Float", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
       "int32": "Int"}


def _dt(t) -> str:
    return _DT.get(str(t._data.dtype), str(t._data.dtype))


def _dims(shape) -> str:
    return "x".join(str(s) for s in shape)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``.

    Shape:
        input (*, in_features), weight (out_features, in_features) or (in_features,),
        bias (out_features,) or None; output (*, out_features).
    """
    input, weight, bias = as_tensor_arg(input), as_tensor_arg(weight), as_tensor_arg(bias)
    if weight.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {weight.ndim}D")
    k = input.shape[-1] if input.ndim else 1
    kw = weight.shape[-1] if weight.ndim else 1
    if input.ndim == 0 or k != kw:
        rows = input.numel() // k if input.ndim > 1 and k else 1
        w_t = tuple(reversed(weight.shape)) if weight.ndim == 2 else (kw, 1)
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{k} and {_dims(w_t)})")
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_dt(input)} and {_dt(weight)}")
    if bias is not None and bias._data.dtype != input._data.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_dt(bias)} and {_dt(input)}")
    return apply_op(OPS["linear"], (("dtype", input._data.dtype),), input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """``y = x1^T A x2 + b`` over the last dimension.

    Shape:
        input1 (*, in1), input2 (*, in2), weight (out, in1, in2), bias (out,); output (*, out).
    """
    x1, x2, weight, bias = (as_tensor_arg(t) for t in (input1, input2, weight, bias))
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be three-dimensional, but got {weight.ndim} dimensions")
    if x1.ndim != x2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {x1.ndim} and {x2.ndim}")
    for i in range(x1.ndim - 1):
        if x1.shape[i] != x2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got {x1.shape[i]} and {x2.shape[i]}")
    if x1.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {x1.shape[-1]} but expected {weight.shape[1]}")
    if x2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {x2.shape[-1]} but expected {weight.shape[2]}")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        got = bias.shape[0] if bias.ndim == 1 else list(bias.shape)
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {got} but expected {weight.shape[0]}")
    dts = {x1._data.dtype, x2._data.dtype, weight._data.dtype} | ({bias._data.dtype} if bias is not None else set())
    if len(dts) > 1:
        raise RuntimeError(f"All tensors must have the same dtype, got input1: {_dt(x1).lower()}, "
                           f"input2: {_dt(x2).lower()}, weight: {_dt(weight).lower()}")
    return apply_op(OPS["bilinear"], (("dtype", x1._data.dtype),), x1, x2, weight, bias)
