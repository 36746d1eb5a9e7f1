"""Helpers shared by the ``torchish.*`` function wrappers: argument normalisation, promotion."""

from __future__ import annotations

import numbers

import jax
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim, wrap

SCALARS = (bool, int, float)


def method(fn=None, *, name=None):
    """Also attach ``fn`` as a ``Tensor`` method (PyTorch's functions and methods are one)."""

    def deco(f):
        setattr(Tensor, name or f.__name__, f)
        return f

    return deco(fn) if fn is not None else deco


def as_tensor_arg(x):
    """Accept jax/NumPy arrays and NumPy scalars wherever tensors are accepted."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, jax.Array):
        return wrap(x)
    if isinstance(x, np.ndarray):
        return wrap(jax.numpy.asarray(x))
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (list, tuple)):
        from .creation import tensor

        return tensor(x)
    if x is None or isinstance(x, SCALARS):
        return x
    if isinstance(x, numbers.Number):
        return float(x) if isinstance(x, numbers.Real) else x
    raise TypeError(f"expected a Tensor or a number, got {type(x).__name__}")


def promote(*xs):
    """PyTorch's result dtype (a torchish dtype) of Tensors and Python scalars ``xs``."""
    dims = zero = scal = None
    P = D._PROMOTE
    for x in xs:
        if isinstance(x, Tensor):
            d = D.from_np(x._data.dtype)
            if x._data.ndim:
                dims = d if dims is None else P[(dims, d)]
            else:
                zero = d if zero is None else P[(zero, d)]
        elif x is None:
            continue
        else:
            d = D.scalar_dtype(x)
            scal = d if scal is None else P[(scal, d)]
    return D.result_type_of(dims, zero, scal)


def dims(dim, ndim):
    """Normalise a ``dim`` argument (None, int, or sequence) to None or a sorted tuple."""
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return None
        return tuple(sorted({_wrap_dim(int(d), ndim) for d in dim}))
    return (_wrap_dim(int(dim), ndim),)


def dim1(dim, ndim) -> int:
    return _wrap_dim(int(dim), ndim)


def shape_arg(size):
    """``f(2, 3)``, ``f((2, 3))`` and ``f(torchish.Size([2, 3]))`` all mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    try:
        return tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"expected a sequence of integers as a size, got {size!r}") from None


def np_dtype(d):
    return None if d is None else D.as_dtype(d).np
