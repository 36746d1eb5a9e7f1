"""Indexing (``x[i]``, ``x[i] = v``), gather/scatter, masking.

Basic indexing (ints, slices, ``None``, ``...``) returns a view.  Integer-tensor (advanced)
indexing returns a copy and works inside ``torchish.compile``.  Boolean-mask *reads*
(``x[mask]``) have a value-dependent shape and run eagerly only; boolean-mask *writes*
(``x[mask] = 0``) are ``where`` and also work when traced.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtype as D
from .._ops import OPS
from .._tensor import Tensor, _make_view, _traced_msg, apply_op, wrap
from ..errors import TracedValueError
from ._common import as_tensor_arg, dim1, method

_Tracer = jax.core.Tracer


def _as_index_tensor(item):
    if isinstance(item, Tensor):
        return item
    if isinstance(item, (jax.Array, np.ndarray)):
        return wrap(jnp.asarray(item))
    if isinstance(item, (list, tuple)):
        from .creation import tensor

        return tensor(item)
    return None


def _slice_bound(v):
    if v is None:
        return None
    return int(v)


def parse_index(x: Tensor, idx):
    """Split an index expression into a static template and dynamic index tensors.

    Returns ``(template, tensors, basic)``; boolean masks become integer index tensors
    (eagerly, via nonzero).
    """
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for it in idx:
        if isinstance(it, (bool, np.bool_)):
            items.append(("mask_scalar", bool(it)))
        elif isinstance(it, (int, np.integer)):
            items.append(("int", int(it)))
        elif it is None or it is Ellipsis or isinstance(it, slice):
            items.append(("raw", it))
        else:
            t = _as_index_tensor(it)
            if t is None:
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices "
                    f"(got {type(it).__name__})"
                )
            items.append(("tensor", t))
    consumed = sum(1 if k in ("int", "tensor") and not (k == "tensor" and v._data.dtype == np.bool_) else
                   (v.ndim if k == "tensor" else (1 if k == "raw" and isinstance(v, slice) else 0))
                   for k, v in items)
    n_ell = sum(1 for k, v in items if k == "raw" and v is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    template, tensors = [], []
    basic = True
    pos = 0
    for k, v in items:
        if k == "raw":
            if v is None:
                template.append(None)
            elif v is Ellipsis:
                template.append(Ellipsis)
                pos += x.ndim - consumed
            else:
                if v.step is not None and int(v.step) <= 0:
                    raise ValueError("step must be greater than zero")
                template.append(("s", _slice_bound(v.start), _slice_bound(v.stop), _slice_bound(v.step)))
                pos += 1
        elif k == "int":
            n = x.shape[pos]
            if not -n <= v < n:
                raise IndexError(f"index {v} is out of bounds for dimension {pos} with size {n}")
            template.append(("i", v % n))
            pos += 1
        elif k == "mask_scalar":
            raise IndexError("indexing with a Python bool (x[True]) is not supported; use x[None] or x[:0]")
        else:
            basic = False
            if v._data.dtype == np.bool_:
                arr = v._value()
                if isinstance(arr, _Tracer):
                    raise TracedValueError(
                        _traced_msg("Boolean-mask indexing `x[mask]` (its result size depends on the mask's values)")
                        + "\n  For masks, `torchish.where(mask, x, 0)` or `x.masked_fill(~mask, 0)` keep the shape fixed."
                    )
                for d in range(v.ndim):
                    if v.shape[d] != x.shape[pos + d]:
                        raise IndexError(
                            f"The shape of the mask {list(v.shape)} at index {d} does not match the shape of the indexed tensor {list(x.shape)} at index {pos + d}"
                        )
                for a in np.nonzero(np.asarray(arr)):
                    template.append(("t",))
                    tensors.append(wrap(jnp.asarray(a, jnp.int64)))
                pos += v.ndim
            else:
                if v._data.dtype.kind not in "iu":
                    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
                template.append(("t",))
                tensors.append(v)
                pos += 1
    return tuple(template), tensors, basic


def basic_spec(shape, template):
    """For a basic index: (per-dim starts, static (sizes, steps, out_shape)), or None."""
    starts, sizes, steps, out = [], [], [], []
    ndim = len(shape)
    consumed = sum(1 for t in template if t is not None and t is not Ellipsis)
    d = 0
    for t in template:
        if t is None:
            out.append(1)
        elif t is Ellipsis:
            for _ in range(ndim - consumed):
                starts.append(0), sizes.append(shape[d]), steps.append(1), out.append(shape[d])
                d += 1
        elif t[0] == "i":
            starts.append(t[1]), sizes.append(1), steps.append(1)
            d += 1
        elif t[0] == "s":
            start, stop, step = slice(t[1], t[2], t[3]).indices(shape[d])
            n = len(range(start, stop, step))
            starts.append(start if n else 0)
            sizes.append((n - 1) * step + 1 if n else 0)
            steps.append(step)
            out.append(n)
            d += 1
        else:
            return None
    for k in range(d, ndim):
        starts.append(0), sizes.append(shape[k]), steps.append(1), out.append(shape[k])
    return tuple(starts), (("sizes", tuple(sizes)), ("steps", tuple(steps)), ("out_shape", tuple(out)))


def basic_view(x, template):
    """The view ``x[template]`` (ints/slices/None/...) through the dynamic-offset op."""
    starts, static = basic_spec(tuple(x.shape), template)
    out = apply_op(OPS["basic_getitem"], static, x, *starts)
    return _make_view(out, x, ("basic", (starts, static)))


def _getitem(self, idx):
    template, tensors, basic = parse_index(self, idx)
    if basic:
        return basic_view(self, template)
    return apply_op(OPS["getitem"], (("template", template),), self, *tensors)


def _setitem(self, idx, value):
    if isinstance(idx, Tensor) and idx._data.dtype == np.bool_ and isinstance(idx._value(), _Tracer):
        # traced boolean-mask write: a where, shape preserved
        value = as_tensor_arg(value)
        if isinstance(value, Tensor) and value.numel() != 1:
            raise TracedValueError(_traced_msg("`x[mask] = values` with a tensor of values"))
        from .math import where

        mask = idx.reshape(tuple(idx.shape) + (1,) * (self.ndim - idx.ndim))
        self._inplace(where(mask, value, self))
        return
    template, tensors, basic = parse_index(self, idx)
    value = as_tensor_arg(value)
    self._check_inplace()
    if basic:
        starts, static = basic_spec(tuple(self.shape), template)
        self._inplace(apply_op(OPS["basic_setitem"], static, self, value, *starts))
        return
    self._inplace(apply_op(OPS["setitem"], (("template", template),), self, value, *tensors))


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem


@method
def index_put_(input, indices, values, accumulate=False):
    idx = [as_tensor_arg(i) for i in indices]
    idx2 = []
    for t in idx:
        if t._data.dtype == np.bool_:
            idx2 += [wrap(jnp.asarray(a)) for a in np.nonzero(np.asarray(t._concrete("bool index_put_")))]
        else:
            idx2.append(t)
    return input._inplace(apply_op(OPS["index_put"], (("accumulate", bool(accumulate)),), input, as_tensor_arg(values), *idx2))


@method
def index_put(input, indices, values, accumulate=False):
    return index_put_(input.clone(), indices, values, accumulate)


@method
def gather(input, dim, index, *, sparse_grad=False):
    d = dim1(dim, input.ndim)
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    return apply_op(OPS["gather"], (("dim", d),), input, index)


def _scatter(input, dim, index, src=None, value=None, reduce=None):
    d = dim1(dim, input.ndim)
    s = as_tensor_arg(src if src is not None else value)
    r = {None: None, "add": "add", "multiply": "multiply"}.get(reduce, "bad")
    if r == "bad":
        raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
    return apply_op(OPS["scatter"], (("dim", d), ("reduce", r)), input, index, s)


@method
def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    return _scatter(input, dim, index, src, value, reduce)


@method
def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    return input._inplace(scatter(input, dim, index, src, value=value, reduce=reduce))


@method
def scatter_add(input, dim, index, src):
    return apply_op(OPS["scatter"], (("dim", dim1(dim, input.ndim)), ("reduce", "add")), input, index, src)


@method
def scatter_add_(input, dim, index, src):
    return input._inplace(scatter_add(input, dim, index, src))


@method
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    d = dim1(dim, input.ndim)
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if include_self:
        if reduce == "mean":
            return apply_op(OPS["scatter_mean_incl_self"], (("dim", d),), input, index, src)
        return apply_op(OPS["scatter"], (("dim", d), ("reduce", reduce)), input, index, src)
    return apply_op(OPS["scatter_reduce_incl"], (("dim", d), ("reduce", reduce)), input, index, src)


@method
def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):
    return input._inplace(scatter_reduce(input, dim, index, src, reduce, include_self=include_self))


@method
def index_select(input, dim, index):
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    return apply_op(OPS["index_select"], (("dim", dim1(dim, input.ndim)),), input, index.reshape(-1))


@method
def index_add(input, dim, index, source, *, alpha=1):
    return apply_op(OPS["index_add"], (("dim", dim1(dim, input.ndim)),), input, index, source, alpha)


@method
def index_add_(input, dim, index, source, *, alpha=1):
    return input._inplace(index_add(input, dim, index, source, alpha=alpha))


@method
def index_copy(input, dim, index, source):
    return apply_op(OPS["index_copy"], (("dim", dim1(dim, input.ndim)),), input, index, source)


@method
def index_copy_(input, dim, index, source):
    return input._inplace(index_copy(input, dim, index, source))


@method
def index_fill(input, dim, index, value):
    return apply_op(OPS["index_fill"], (("dim", dim1(dim, input.ndim)),), input, index, as_tensor_arg(value))


@method
def index_fill_(input, dim, index, value):
    return input._inplace(index_fill(input, dim, index, value))


@method
def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True (``mask`` broadcasts against ``input``)."""
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    value = as_tensor_arg(value)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(
            f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
        )
    return apply_op(OPS["masked_fill"], (("dtype", input._data.dtype),), input, mask, value)


@method
def masked_fill_(input, mask, value):
    return input._inplace(masked_fill(input, mask, value))


@method
def masked_select(input, mask):
    """Elements where ``mask`` is True, as a 1-D tensor (eager only: the size depends on values)."""
    input._concrete("masked_select")
    return apply_op(OPS["masked_select"], (), input, mask)


@method
def masked_scatter(input, mask, source):
    m = np.broadcast_to(np.asarray(mask._concrete("masked_scatter")), tuple(input.shape))
    idx = [wrap(jnp.asarray(a)) for a in np.nonzero(m)]
    n = len(idx[0]._data) if idx else 0
    return apply_op(OPS["index_put"], (("accumulate", False),), input, source.reshape(-1)[:n], *idx)


@method
def masked_scatter_(input, mask, source):
    return input._inplace(masked_scatter(input, mask, source))


@method
def take(input, index):
    return apply_op(OPS["take"], (), input, index)


@method
def take_along_dim(input, indices, dim=None):
    return apply_op(OPS["take_along_dim"], (("dim", None if dim is None else dim1(dim, input.ndim)),), input, indices)


@method
def nonzero(input, *, as_tuple=False):
    """Indices of non-zero elements: (n, ndim) int64, or a tuple of 1-D tensors. Eager only."""
    input = as_tensor_arg(input)
    input._concrete("nonzero()")
    r = apply_op(OPS["nonzero"], (), input)
    if as_tuple:
        if input.ndim == 0:
            return (r.reshape(-1),)
        return tuple(r[:, i] for i in range(input.ndim))
    return r


@method
def argwhere(input):
    return nonzero(input)


@method
def bincount(input, weights=None, minlength=0):
    """Counts of each value; the length is ``max(input)+1`` (eager) — pass ``minlength`` when traced."""
    arr = input._value()
    if isinstance(arr, _Tracer):
        length = int(minlength)
    else:
        length = max(int(np.asarray(arr).max()) + 1 if arr.size else 0, int(minlength))
    return apply_op(OPS["bincount"], (("minlength", int(minlength)), ("length", length)), input, as_tensor_arg(weights))


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    if side is not None:
        right = side == "right"
    r = apply_op(OPS["searchsorted"], (("right", bool(right)),), sorted_sequence, as_tensor_arg(input))
    return r.int() if out_int32 else r


def bucketize(input, boundaries, *, out_int32=False, right=False):
    r = apply_op(OPS["bucketize"], (("right", bool(right)),), as_tensor_arg(input), boundaries)
    return r.int() if out_int32 else r

