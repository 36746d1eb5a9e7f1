"""Reductions, scans and sorting: ``sum``, ``max``, ``std``, ``topk``, ``sort``, ``unique`` ..."""

from __future__ import annotations

import collections

import numpy as np

from .. import _dtype as D
from .._ops import OPS
from .._tensor import Tensor, apply_op
from ._common import as_tensor_arg, dim1, dims, method, np_dtype


def _rt(name, fields):
    t = collections.namedtuple(name, fields)
    t.__module__ = "torchish.return_types"
    return t


max_rt = _rt("max", ["values", "indices"])
min_rt = _rt("min", ["values", "indices"])
sort_rt = _rt("sort", ["values", "indices"])
topk_rt = _rt("topk", ["values", "indices"])
median_rt = _rt("median", ["values", "indices"])
mode_rt = _rt("mode", ["values", "indices"])
kthvalue_rt = _rt("kthvalue", ["values", "indices"])
cummax_rt = _rt("cummax", ["values", "indices"])
cummin_rt = _rt("cummin", ["values", "indices"])
aminmax_rt = _rt("aminmax", ["min", "max"])
std_mean_rt = tuple
slogdet_rt = _rt("slogdet", ["sign", "logabsdet"])


def _is_float(d) -> bool:
    return d.kind == "f" or d == D.bfloat16.np


def _sum_dtype(x: Tensor, dtype):
    if dtype is not None:
        return np_dtype(dtype)
    d = x._data.dtype
    return d if _is_float(d) else D.int64.np


@method
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (all dims when None); integer and bool inputs sum to int64."""
    input = as_tensor_arg(input)
    return apply_op(OPS["sum"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", _sum_dtype(input, dtype))), input)


@method
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    return apply_op(OPS["nansum"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", _sum_dtype(input, dtype))), input)


@method
def prod(input, dim=None, keepdim=False, *, dtype=None):
    input = as_tensor_arg(input)
    return apply_op(OPS["prod"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", _sum_dtype(input, dtype))), input)


def _mean_dtype(x, dtype, fname):
    d = np_dtype(dtype) if dtype is not None else x._data.dtype
    if not _is_float(d):
        raise RuntimeError(
            f"{fname}(): could not infer output dtype. Input dtype must be either a floating point or complex "
            f"dtype. Got: {D.from_np(d).name.capitalize() if d != np.int64 else 'Long'}"
        )
    return d


@method
def mean(input, dim=None, keepdim=False, *, dtype=None):
    input = as_tensor_arg(input)
    return apply_op(OPS["mean"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", _mean_dtype(input, dtype, "mean"))), input)


@method
def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    return apply_op(OPS["nanmean"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", _mean_dtype(input, dtype, "nanmean"))), input)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def _var_args(input, dim, unbiased, keepdim, correction):
    # PyTorch allows std(x, True) meaning unbiased
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    return (("dims", dims(dim, input.ndim)), ("correction", _correction(unbiased, correction)),
            ("keepdim", keepdim), ("dtype", _mean_dtype(input, None, "std and var")))


@method
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (``correction=1``)."""
    return apply_op(OPS["var"], _var_args(input, dim, unbiased, keepdim, correction), input)


@method
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return apply_op(OPS["std"], _var_args(input, dim, unbiased, keepdim, correction), input)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return apply_op(OPS["var_mean"], _var_args(input, dim, unbiased, keepdim, correction), input)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return apply_op(OPS["std_mean"], _var_args(input, dim, unbiased, keepdim, correction), input)


@method
def amax(input, dim=(), keepdim=False):
    input = as_tensor_arg(input)
    return apply_op(OPS["amax"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim)), input)


@method
def amin(input, dim=(), keepdim=False):
    input = as_tensor_arg(input)
    return apply_op(OPS["amin"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim)), input)


def _check_nonempty(input, name):
    if input.numel() == 0:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
        )


@method
def max(input, dim=None, keepdim=False, *, other=None):
    """``max(x)`` (all elements), ``max(x, dim)`` -> (values, indices), or ``max(x, other)`` elementwise."""
    input = as_tensor_arg(input)
    if isinstance(dim, Tensor) or other is not None:
        from .math import maximum

        return maximum(input, dim if other is None else other)
    if dim is None:
        _check_nonempty(input, "max")
        return apply_op(OPS["amax"], (("dims", None), ("keepdim", False)), input)
    v, i = apply_op(OPS["max_dim"], (("dim", dim1(dim, input.ndim)), ("keepdim", keepdim)), input)
    return max_rt(v, i)


@method
def min(input, dim=None, keepdim=False, *, other=None):
    input = as_tensor_arg(input)
    if isinstance(dim, Tensor) or other is not None:
        from .math import minimum

        return minimum(input, dim if other is None else other)
    if dim is None:
        _check_nonempty(input, "min")
        return apply_op(OPS["amin"], (("dims", None), ("keepdim", False)), input)
    v, i = apply_op(OPS["min_dim"], (("dim", dim1(dim, input.ndim)), ("keepdim", keepdim)), input)
    return min_rt(v, i)


@method
def aminmax(input, *, dim=None, keepdim=False):
    lo, hi = apply_op(OPS["aminmax"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim)), input)
    return aminmax_rt(lo, hi)


@method
def argmax(input, dim=None, keepdim=False):
    input = as_tensor_arg(input)
    return apply_op(OPS["argmax"], (("dim", None if dim is None else dim1(dim, input.ndim)), ("keepdim", keepdim)), input)


@method
def argmin(input, dim=None, keepdim=False):
    input = as_tensor_arg(input)
    return apply_op(OPS["argmin"], (("dim", None if dim is None else dim1(dim, input.ndim)), ("keepdim", keepdim)), input)


@method
def logsumexp(input, dim, keepdim=False):
    input = as_tensor_arg(input)
    d = input._data.dtype if _is_float(input._data.dtype) else D.get_default_dtype().np
    return apply_op(OPS["logsumexp"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", d)), input)


def _scan_dtype(input, dtype):
    if dtype is not None:
        return np_dtype(dtype)
    d = input._data.dtype
    return d if _is_float(d) else D.int64.np


@method
def cumsum(input, dim, *, dtype=None):
    return apply_op(OPS["cumsum"], (("dim", dim1(dim, input.ndim)), ("dtype", _scan_dtype(input, dtype))), input)


@method
def cumprod(input, dim, *, dtype=None):
    return apply_op(OPS["cumprod"], (("dim", dim1(dim, input.ndim)), ("dtype", _scan_dtype(input, dtype))), input)


@method
def cummax(input, dim):
    return cummax_rt(*apply_op(OPS["cummax"], (("dim", dim1(dim, input.ndim)),), input))


@method
def cummin(input, dim):
    return cummin_rt(*apply_op(OPS["cummin"], (("dim", dim1(dim, input.ndim)),), input))


@method
def logcumsumexp(input, dim):
    return apply_op(OPS["logcumsumexp"], (("dim", dim1(dim, input.ndim)),), input)


@method
def all(input, dim=None, keepdim=False):
    input = as_tensor_arg(input)
    return apply_op(OPS["all"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim)), input)


@method
def any(input, dim=None, keepdim=False):
    input = as_tensor_arg(input)
    return apply_op(OPS["any"], (("dims", dims(dim, input.ndim)), ("keepdim", keepdim)), input)


@method
def count_nonzero(input, dim=None):
    return apply_op(OPS["count_nonzero"], (("dims", dims(dim, input.ndim)),), input)


@method
def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """``torch.norm``: vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    input = as_tensor_arg(input)
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":
        from .linalg import matrix_norm

        return matrix_norm(input, "nuc", dim if dim is not None else (-2, -1), keepdim)
    d = np_dtype(dtype) or (input._data.dtype if _is_float(input._data.dtype) else D.get_default_dtype().np)
    return apply_op(OPS["vector_norm"], (("ord", float(p)), ("dims", dims(dim, input.ndim)), ("keepdim", keepdim), ("dtype", d)), input)


@method
def median(input, dim=None, keepdim=False):
    """The lower median (PyTorch does not average the two middle values)."""
    input = as_tensor_arg(input)
    if dim is None:
        return apply_op(OPS["median_all"], (), input)
    v, i = apply_op(OPS["median_dim"], (("dim", dim1(dim, input.ndim)), ("keepdim", keepdim)), input)
    return median_rt(v, i)


@method
def nanmedian(input, dim=None, keepdim=False):
    if dim is None:
        return apply_op(OPS["nanmedian_all"], (), input)
    raise NotImplementedError("nanmedian with dim is not implemented; use median on data without NaN")


@method
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    q = as_tensor_arg(q)
    q = q if isinstance(q, Tensor) else float(q)
    return apply_op(OPS["quantile"], (("dim", None if dim is None else dim1(dim, input.ndim)), ("keepdim", keepdim),
                                      ("interpolation", interpolation)), input, q)


@method
def mode(input, dim=-1, keepdim=False):
    v, i = apply_op(OPS["mode"], (("dim", dim1(dim, input.ndim)), ("keepdim", keepdim)), input)
    return mode_rt(v, i)


@method
def kthvalue(input, k, dim=-1, keepdim=False):
    v, i = apply_op(OPS["kthvalue"], (("k", int(k)), ("dim", dim1(dim, input.ndim)), ("keepdim", keepdim)), input)
    return kthvalue_rt(v, i)


@method
def sort(input, dim=-1, descending=False, stable=False):
    input = as_tensor_arg(input)
    if input.ndim == 0:
        from .creation import zeros_like

        return sort_rt(input.clone(), zeros_like(input, dtype=D.int64))
    v, i = apply_op(OPS["sort"], (("dim", dim1(dim, input.ndim)), ("descending", bool(descending)), ("stable", True)), input)
    return sort_rt(v, i)


@method
def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable).indices


@method
def msort(input):
    return sort(input, 0).values


@method
def topk(input, k, dim=-1, largest=True, sorted=True):
    input = as_tensor_arg(input)
    d = dim1(dim, input.ndim)
    if k > (input.shape[d] if input.ndim else 1):
        raise RuntimeError("selected index k out of range")
    v, i = apply_op(OPS["topk"], (("k", int(k)), ("dim", d), ("largest", bool(largest)), ("sorted", True)), input)
    return topk_rt(v, i)


@method
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Unique elements (sorted).  Its output shape depends on the values, so it runs eagerly only:
    inside ``torchish.compile`` it raises (use a fixed-size alternative such as ``bincount``)."""
    out = apply_op(OPS["unique"], (("sorted", True), ("return_inverse", bool(return_inverse)),
                                   ("return_counts", bool(return_counts)), ("dim", None if dim is None else dim1(dim, input.ndim))), input)
    return out[0] if len(out) == 1 else out


@method
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    out = apply_op(OPS["unique_consecutive"], (("return_inverse", bool(return_inverse)), ("return_counts", bool(return_counts)),
                                               ("dim", None if dim is None else dim1(dim, input.ndim))), input)
    return out[0] if len(out) == 1 else out


@method
def diff(input, n=1, dim=-1, prepend=None, append=None):
    from .shape import cat

    parts = [p for p in (prepend, input, append) if p is not None]
    x = cat(parts, dim) if len(parts) > 1 else input
    return apply_op(OPS["diff"], (("n", int(n)), ("dim", dim1(dim, x.ndim))), x)
