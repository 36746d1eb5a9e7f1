"""Random sampling functions (``rand``, ``randn``, ``randint``, ...) and in-place fills."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import _dtype as D
from .._ops import OPS
from .._random import default_generator, sample
from .._tensor import Tensor
from ._common import method, np_dtype, shape_arg
from .creation import _finish, _default


def _shape_kw(size):
    return shape_arg(size)


def _float_only(dt, name):
    if not (dt.kind == "f" or dt == D.bfloat16.np):
        raise RuntimeError(f'"{name}" not implemented for \'{D.from_np(dt).name}\'')


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """Uniform samples on [0, 1)."""
    dt = _default(dtype)
    _float_only(dt, "check_uniform_bounds")
    t = sample(OPS["uniform"], (("shape", _shape_kw(size)), ("dtype", dt)), generator, 0.0, 1.0)
    return _finish(t._data, device, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """Standard normal samples."""
    dt = _default(dtype)
    _float_only(dt, "normal_kernel_cpu")
    t = sample(OPS["normal"], (("shape", _shape_kw(size)), ("dtype", dt)), generator, 0.0, 1.0)
    return _finish(t._data, device, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """Integers uniform on [low, high); ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = np_dtype(dtype) or D.int64.np
    t = sample(OPS["randint"], (("shape", tuple(size)), ("dtype", dt)), generator, int(low), int(high))
    return _finish(t._data, device, requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    dt = np_dtype(dtype) or D.int64.np
    t = sample(OPS["randperm"], (("n", int(n)), ("dtype", dt)), generator)
    return _finish(t._data, device, requires_grad)


def _like_shape(input, dtype):
    return tuple(input.shape), (np_dtype(dtype) if dtype is not None else input._data.dtype)


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None, generator=None):
    s, dt = _like_shape(input, dtype)
    return rand(s, dtype=D.from_np(dt), device=device, requires_grad=requires_grad, generator=generator)


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None, generator=None):
    s, dt = _like_shape(input, dtype)
    return randn(s, dtype=D.from_np(dt), device=device, requires_grad=requires_grad, generator=generator)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None, generator=None):
    s, dt = _like_shape(input, dtype)
    return randint(low, high, s, dtype=D.from_np(dt), device=device, generator=generator)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """Normal samples: tensors ``mean``/``std`` broadcast, or floats with ``size``."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        shape = jnp.broadcast_shapes(tuple(getattr(mean, "shape", ())), tuple(getattr(std, "shape", ())))
        dt = (mean if isinstance(mean, Tensor) else std)._data.dtype
        t = sample(OPS["normal"], (("shape", tuple(shape)), ("dtype", dt)), generator, mean, std)
        return t
    if size is None:
        raise TypeError("normal() with float mean and std needs a size")
    dt = _default(dtype)
    t = sample(OPS["normal"], (("shape", tuple(size)), ("dtype", dt)), generator, float(mean), float(std))
    return _finish(t._data, device, requires_grad)


def bernoulli(input, p=None, *, generator=None, out=None):
    """1 with probability ``input`` (elementwise), else 0; same dtype as ``input``."""
    probs = input if p is None else p
    return sample(OPS["bernoulli"], (("shape", tuple(input.shape)), ("dtype", input._data.dtype)), generator,
                  probs if isinstance(probs, Tensor) else float(probs))


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Indices sampled from the rows of ``input`` (non-negative weights)."""
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    probs = input / input.sum(-1, keepdim=True)
    return sample(OPS["multinomial"], (("num_samples", int(num_samples)), ("replacement", bool(replacement))),
                  generator, probs)


def poisson(input, generator=None):
    return sample(OPS["poisson"], (("dtype", input._data.dtype),), generator, input)


Tensor.bernoulli = lambda self, p=None, *, generator=None: bernoulli(self, p, generator=generator)
Tensor.multinomial = lambda self, num_samples, replacement=False, *, generator=None: multinomial(self, num_samples, replacement, generator=generator)


def _fill_random(self, op, static_extra, generator, *args):
    t = sample(OPS[op], (("shape", tuple(self.shape)), ("dtype", self._data.dtype)) + static_extra, generator, *args)
    return self._inplace(t)


@method
def uniform_(self, a=0.0, b=1.0, *, generator=None):
    return _fill_random(self, "uniform", (), generator, float(a), float(b))


@method
def normal_(self, mean=0.0, std=1.0, *, generator=None):
    return _fill_random(self, "normal", (), generator, float(mean), float(std))


@method
def bernoulli_(self, p=0.5, *, generator=None):
    return _fill_random(self, "bernoulli", (), generator, p if isinstance(p, Tensor) else float(p))


@method
def exponential_(self, lambd=1.0, *, generator=None):
    return _fill_random(self, "exponential", (), generator, float(lambd))


@method
def geometric_(self, p, *, generator=None):
    return _fill_random(self, "geometric", (), generator, float(p))


@method
def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    return _fill_random(self, "cauchy", (), generator, float(median), float(sigma))


@method
def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    return _fill_random(self, "log_normal", (), generator, float(mean), float(std))


@method
def random_(self, from_=0, to=None, *, generator=None):
    if to is None:
        if self._data.dtype.kind == "f":
            to = 2 ** np.finfo(self._data.dtype).nmant + 1
        elif self._data.dtype == np.bool_:
            to = 2
        else:
            to = int(np.iinfo(self._data.dtype).max)
    t = sample(OPS["randint"], (("shape", tuple(self.shape)), ("dtype", self._data.dtype)), generator, int(from_), int(to))
    return self._inplace(t)


__all__ = ["rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
           "bernoulli", "multinomial", "poisson", "default_generator"]
