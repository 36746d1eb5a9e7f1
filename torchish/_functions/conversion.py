"""dtype and device conversion (``to``, ``float``, ``cuda``, ...) and value-setting methods
(``copy_``, ``fill_``, ``zero_``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _device
from .. import _dtype as D
from .._ops import OPS
from .._tensor import Tensor, apply_op, wrap
from ._common import as_tensor_arg, method


def _cast(t: Tensor, np_dt) -> Tensor:
    if t._data.dtype == np_dt:
        return t
    return apply_op(OPS["cast"], (("dtype", np_dt),), t)


def _move(t: Tensor, dev) -> Tensor:
    jdev = _device.as_device(dev).to_jax()
    a = t._value()
    if isinstance(a, jax.core.Tracer):
        return t  # placement inside compiled code is the compiler's business
    if isinstance(a, np.ndarray):  # a NumPy-backed tensor from the data pipeline (utils/data/_utils/host.py)
        return t if jdev.platform == "cpu" else wrap(jax.device_put(a, jdev))
    if a.devices() == {jdev}:
        return t
    return apply_op(OPS["to_device"], (("device", jdev),), t)


def _parse_to(args, kwargs):
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, D.dtype):
            dtype = a
        elif isinstance(a, (str, _device.device, int)) and not isinstance(a, bool):
            if isinstance(a, str) and a.replace("torch.", "").replace("torchish.", "") in D._BY_NAME:
                dtype = D.as_dtype(a)
            else:
                device = a
        elif isinstance(a, bool):
            pass  # non_blocking / copy positional flags
        elif a is not None:
            dtype = D.as_dtype(a)
    return dtype, device, copy


def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; returns ``self`` if nothing changes."""
    dtype, device, copy = _parse_to(args, dict(kwargs))
    out = self
    if dtype is not None:
        out = _cast(out, D.as_dtype(dtype).np)
    if device is not None:
        out = _move(out, device)
    if copy and out is self:
        out = self.clone()
    return out


Tensor.to = _to


def _caster(dt):
    def f(self, memory_format=None):
        return _cast(self, dt.np)

    f.__name__ = dt.name
    f.__doc__ = f"``self.to({dt!r})``"
    return f


for _name, _dt in dict(float=D.float32, double=D.float64, half=D.float16, bfloat16=D.bfloat16, long=D.int64,
                       int=D.int32, short=D.int16, char=D.int8, byte=D.uint8, bool=D.bool).items():
    setattr(Tensor, _name, _caster(_dt))


def _type(self, dtype=None, non_blocking=False, **kwargs):
    if dtype is None:
        names = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "bfloat16": "BFloat16Tensor",
                 "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
                 "uint8": "ByteTensor", "bool": "BoolTensor"}
        return "torchish." + names.get(self.dtype.name, "Tensor")
    if isinstance(dtype, str) and dtype.endswith("Tensor"):
        rev = {"FloatTensor": D.float32, "DoubleTensor": D.float64, "HalfTensor": D.float16, "LongTensor": D.int64,
               "IntTensor": D.int32, "ByteTensor": D.uint8, "BoolTensor": D.bool, "BFloat16Tensor": D.bfloat16}
        dtype = rev[dtype.split(".")[-1]]
    return _cast(self, D.as_dtype(dtype).np)


Tensor.type = _type
Tensor.type_as = lambda self, other: _cast(self, other._data.dtype)


def _cpu(self, memory_format=None):
    return _move(self, "cpu")


def _cuda(self, device=None, non_blocking=False, memory_format=None):
    return _move(self, _device.device("cuda", device if isinstance(device, int) else None) if not isinstance(device, (str, _device.device)) else device)


Tensor.cpu = _cpu
Tensor.cuda = _cuda
Tensor.pin_memory = lambda self, device=None: self
Tensor.share_memory_ = lambda self: self
Tensor.is_pinned = lambda self, device=None: False
Tensor.is_shared = lambda self: False


@method
def copy_(self, src, non_blocking=False):
    """Copy ``src``'s values into this tensor (broadcast; any dtype conversion; keeps autograd)."""
    src = as_tensor_arg(src)
    if not isinstance(src, Tensor):
        src = wrap(jnp.asarray(src))
    r = src
    if tuple(r.shape) != tuple(self.shape):
        r = r.expand(tuple(self.shape))
    r = _cast(r, self._data.dtype)
    a = r._value()
    if not isinstance(a, jax.core.Tracer) and not isinstance(self._data, jax.core.Tracer):
        try:
            dst_devs = self._data.devices()
            if a.devices() != dst_devs and len(dst_devs) == 1:
                r = _move(r, next(iter(dst_devs)))
        except Exception:  # noqa: BLE001 - deleted buffers
            pass
    if r is src:
        r = apply_op(OPS["contiguous_copy"], (), r) if r._requires_grad else wrap(a)
    self._assign(r)
    return self


@method
def fill_(self, value):
    """Set every element to ``value`` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
        return copy_(self, value)
    self._check_inplace()
    self._assign(wrap(jnp.full(self._data.shape, value, self._data.dtype)))
    return self


@method
def zero_(self):
    self._check_inplace()
    self._assign(wrap(jnp.zeros(self._data.shape, self._data.dtype)))
    return self


def _set_(self, source):
    self._data = source._value()
    self._v += 1
    return self


Tensor.set_ = _set_
