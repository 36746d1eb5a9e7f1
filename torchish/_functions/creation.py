"""Tensor creation: ``tensor``, ``zeros``, ``arange``, ``linspace``, ``eye``, ``*_like`` ..."""

from __future__ import annotations

import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import _device
from .. import _dtype as D
from .._tensor import Tensor, wrap
from ._common import method, np_dtype, shape_arg


def _place(arr, device):
    dev = _device.jax_device_or_none(device)
    if dev is not None:
        arr = jax.device_put(arr, dev)
    return arr


def _finish(arr, device, requires_grad):
    t = wrap(_place(arr, device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _to_numpy(data):
    """Nested Python data (which may contain tensors) as a NumPy array, and whether it was Python."""
    if isinstance(data, Tensor):
        return np.asarray(data._concrete("torchish.tensor(tensor)")), False
    if isinstance(data, (np.ndarray, np.generic)):
        # NOTE: a copy; jnp.asarray may alias an aligned host buffer (e.g. torch's .numpy()).
        return np.array(data), False
    if isinstance(data, jax.Array):
        if isinstance(data, jax.core.Tracer):
            return data, False
        return np.asarray(data), False
    if isinstance(data, (list, tuple)):
        if any(isinstance(x, (Tensor, np.ndarray, jax.Array, list, tuple)) for x in data):
            parts = [_to_numpy(x) for x in data]
            kinds = {p[0].dtype for p in parts}
            py = all(p[1] for p in parts)
            if not py:
                # non-Python elements decide the dtype (e.g. a list of float32 tensors stays float32)
                dt = np.result_type(*[p[0].dtype for p in parts if not p[1]]) if any(not p[1] for p in parts) else None
                return np.array([p[0] for p in parts], dtype=dt), False
            return np.array([p[0] for p in parts]), True
        return np.array(data), True
    if isinstance(data, (bool, int, float)):
        return np.array(data), True
    if isinstance(data, numbers.Number):
        return np.array(complex(data) if isinstance(data, complex) else float(data)), True
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _infer_np_dtype(arr: np.ndarray, from_python: bool):
    if arr.dtype == np.float64 and from_python:
        return D.get_default_dtype().np
    if arr.dtype.kind in "iu" and from_python:
        return D.int64.np
    if arr.dtype == np.object_:
        raise TypeError("Could not infer dtype of object")
    if arr.dtype.kind in "US":
        raise TypeError(f"new(): invalid data type '{arr.dtype.kind == 'U' and 'str' or 'bytes'}'")
    return D.from_np(arr.dtype).np


def tensor_from_data(data, dtype=None, device=None):
    arr, py = _to_numpy(data)
    if isinstance(arr, jax.core.Tracer):
        out = arr if dtype is None else arr.astype(np_dtype(dtype))
        return wrap(out)
    dt = np_dtype(dtype) if dtype is not None else _infer_np_dtype(arr, py)
    return wrap(_place(jnp.asarray(arr, dtype=dt), device))


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new leaf tensor copied from ``data`` (nested lists, numbers, NumPy arrays, tensors).

    Python floats give the default float dtype and Python ints ``int64``; NumPy arrays keep
    their dtype.
    """
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() or "
            "sourceTensor.clone().detach().requires_grad_(True), rather than torchish.tensor(sourceTensor).",
            UserWarning, stacklevel=2,
        )
    t = tensor_from_data(data, dtype, device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, without a copy when it already is one of the right dtype/device."""
    if isinstance(data, Tensor):
        if dtype is None and device is None:
            return data
        return data.to(device=device, dtype=dtype)
    if isinstance(data, jax.Array) and dtype is None:
        return wrap(_place(data, device))
    return tensor_from_data(data, dtype, device)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    t = as_tensor(obj, dtype=dtype, device=device)
    if copy:
        t = t.clone().detach()
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor with the array's dtype and values (copied: JAX arrays cannot alias NumPy memory)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return wrap(jnp.asarray(ndarray, dtype=D.from_np(ndarray.dtype).np))


def _default(dtype):
    return np_dtype(dtype) if dtype is not None else D.get_default_dtype().np


def _filled(size, value, dtype, device, requires_grad):
    shape = shape_arg(size)
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    # NOTE: filled on the host and transferred: jnp.full would compile a program per shape.
    if isinstance(value, jax.core.Tracer):
        return _finish(jnp.full(shape, value, dtype), device, requires_grad)
    return _finish(jnp.asarray(np.full(shape, value, dtype)), device, requires_grad)


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _filled(size, 0, _default(dtype), device, requires_grad)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _filled(size, 1, _default(dtype), device, requires_grad)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False, memory_format=None):
    """Like ``zeros`` (JAX has no uninitialised memory)."""
    return _filled(size, 0, _default(dtype), device, requires_grad)


def _fill_dtype(value):
    if isinstance(value, bool):
        return D.bool.np
    if isinstance(value, int):
        return D.int64.np
    if isinstance(value, Tensor):
        return value._data.dtype
    return D.get_default_dtype().np


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    dt = np_dtype(dtype) if dtype is not None else _fill_dtype(fill_value)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value._value()
    return _filled((tuple(size) if not isinstance(size, int) else (size,)), fill_value, dt, device, requires_grad)


def _like(input, dtype, device):
    dt = np_dtype(dtype) if dtype is not None else input._data.dtype
    dev = device if device is not None else (None if _device._default_device is None and input.device == _device.get_default_device() else input.device)
    return tuple(input.shape), dt, dev


def zeros_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    s, dt, dev = _like(input, dtype, device)
    return _filled(s, 0, dt, dev, requires_grad)


def ones_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    s, dt, dev = _like(input, dtype, device)
    return _filled(s, 1, dt, dev, requires_grad)


def empty_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    s, dt, dev = _like(input, dtype, device)
    return _filled(s, fill_value, dt, dev, requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    return _finish(jnp.asarray(s, dtype=_default(dtype)), device, requires_grad)


def _num(x):
    return x.item() if isinstance(x, Tensor) else x


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive); int64 for integer arguments, else default float."""
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError(
            f"upper bound and larger bound inconsistent with step sign"
        )
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) or isinstance(v, bool) for v in (start, end, step))
        dt = D.int64.np if is_int else D.get_default_dtype().np
    else:
        dt = np_dtype(dtype)
    n = int(math.ceil((end - start) / step))
    if dt.kind in "iu":
        vals = start + np.arange(n, dtype=np.int64) * step
    else:
        vals = start + np.arange(n, dtype=np.float64) * step
    return _finish(jnp.asarray(vals.astype(dt)), device, requires_grad)


def range(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):  # noqa: A001
    """Deprecated in PyTorch: like ``arange`` but includes ``end`` (default float dtype)."""
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    vals = start + np.arange(n, dtype=np.float64) * step
    return _finish(jnp.asarray(vals.astype(_default(dtype))), device, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (PyTorch's symmetric formula)."""
    start, end = _num(start), _num(end)
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _default(dtype)
    if steps == 1:
        vals = np.array([start], np.float64)
    else:
        step = (end - start) / (steps - 1) if steps > 1 else 0.0
        i = np.arange(steps, dtype=np.float64)
        half = steps // 2
        vals = np.where(i < half, start + step * i, end - step * (steps - 1 - i))
    if dt.kind in "iu":
        vals = np.trunc(vals)
    return _finish(jnp.asarray(vals.astype(dt)), device, requires_grad)


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    lin = linspace(start, end, steps, dtype=D.float64)
    vals = np.power(float(base), np.asarray(lin._data, np.float64))
    return _finish(jnp.asarray(vals.astype(_default(dtype))), device, requires_grad)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    return _finish(jnp.eye(int(n), None if m is None else int(m), dtype=_default(dtype)), device, requires_grad)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    r, c = np.tril_indices(row, offset, col)
    return _finish(jnp.asarray(np.stack([r, c]), dtype=np_dtype(dtype) or D.int64.np), device, False)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    r, c = np.triu_indices(row, offset, col)
    return _finish(jnp.asarray(np.stack([r, c]), dtype=np_dtype(dtype) or D.int64.np), device, False)


def complex(real, imag):  # noqa: A001
    raise NotImplementedError("complex tensors are not supported by torchish")


# -------------------------------------------------------------------------- Tensor.new_*
def _new_args(self, dtype, device):
    return (np_dtype(dtype) if dtype is not None else self._data.dtype), (device if device is not None else self.device)


@method
def new_zeros(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    dt, dev = _new_args(self, dtype, device)
    return _filled(size, 0, dt, dev, requires_grad)


@method
def new_ones(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    dt, dev = _new_args(self, dtype, device)
    return _filled(size, 1, dt, dev, requires_grad)


@method
def new_empty(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return new_zeros(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)


@method
def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    dt, dev = _new_args(self, dtype, device)
    return _filled((size,) if isinstance(size, int) else tuple(size), fill_value, dt, dev, requires_grad)


@method
def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    dt, dev = _new_args(self, dtype, device)
    return tensor(data.detach() if isinstance(data, Tensor) else data, dtype=D.from_np(dt), device=dev, requires_grad=requires_grad)
