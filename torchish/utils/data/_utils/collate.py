"""``default_collate`` / ``default_convert``: merge samples into a batch, as PyTorch's.

Same output structure and dtypes as ``torch.utils.data.default_collate``: tensors and NumPy
arrays are stacked along a new first dimension, Python floats become float64 tensors, ints
int64 (bools bool), strings stay lists, and mappings, namedtuples and sequences are collated
element-wise (a tuple of fields becomes a list, as in PyTorch).

NumPy data is stacked with ``np.stack`` and becomes one tensor per batch (one host-to-device
copy, see NOTE [ Host mode ] in ``host.py``); device tensors are stacked with one op.
"""

from __future__ import annotations

import collections
import copy
import re
from collections.abc import Callable

import numpy as np

from ...._tensor import Tensor
from . import host

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def default_convert(data):
    """Convert NumPy arrays/scalars inside ``data`` to tensors, keeping the structure (no batching)."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_", "bytes_"):
        if elem_type.__name__ == "ndarray" and np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return host.to_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # as PyTorch (backwards compatibility)
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def collate(batch, *, collate_fn_map: dict | None = None):
    """Collate ``batch`` (a list of samples) using ``collate_fn_map`` for leaf types, as PyTorch's."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        def merged():
            return {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}

        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(merged())
                return clone
            return elem_type(merged())
        except TypeError:
            return merged()
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(samples, collate_fn_map=collate_fn_map) for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def _check_same_shape(shapes) -> None:
    first = shapes[0]
    for i, s in enumerate(shapes):
        if s != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and {list(s)} at entry {i}"
            )


def collate_tensor_fn(batch, *, collate_fn_map=None):
    _check_same_shape([tuple(t.shape) for t in batch])
    if host.IN_WORKER or all(host.is_host(t) and not t.requires_grad for t in batch):
        return host.to_tensor(np.stack([host.as_numpy(t) for t in batch]))
    from ...._functions.shape import stack

    return stack(list(batch), 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    _check_same_shape([b.shape for b in batch])
    return host.to_tensor(np.stack(batch))


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return host.to_tensor(np.array(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    return host.to_tensor(np.array(batch, dtype=np.float64))


def collate_int_fn(batch, *, collate_fn_map=None):
    arr = np.array(batch)
    if arr.dtype.kind == "f":  # ints mixed with floats: torch.tensor gives the default float dtype
        from ...._dtype import get_default_dtype

        arr = arr.astype(get_default_dtype().np)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    return host.to_tensor(arr)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Example:
        >>> default_collate([(0.5, 1), (1.5, 2)])
        [tensor([0.5000, 1.5000], dtype=torchish.float64), tensor([1, 2])]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
