"""The op registry: every op once, as a pure function of ``jax.Array``s.

An op is a plain function ``impl(*arrays, **static) -> array | tuple[array, ...]``:

* positional arguments are *dynamic*: ``jax.Array``s (or Python scalars, which JAX treats as
  weakly typed) that may be differentiated and that vary from call to call;
* keyword-only arguments are *static*: hashable Python values (shapes, dims, dtypes as NumPy
  dtypes, flags) that select the program.

``Op.forward(static)`` returns ``jax.jit(partial(impl, **static))``, cached per static key, so an
eager call is one jitted dispatch whatever the op's size (a fused layer norm costs the same
dispatch as an add).  ``Op.vjp(static, mask)`` returns a jitted function
``(diff_primals, other_primals, cotangents) -> input cotangents`` that recomputes the forward
inside the same XLA program (XLA removes the parts the gradient does not need); the eager tape
calls it, so it never pays for an eager ``jax.vjp`` per op.

Ops whose output shape depends on input *values* (``nonzero``, ``unique``, boolean masking) set
``jit=False``: they run eagerly on concrete arrays and cannot be traced.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

OPS: dict[str, "Op"] = {}


class Op:
    """One registered op: its name, pure implementation and cached jitted forms."""

    __slots__ = ("name", "impl", "jit", "differentiable", "_fwd", "_vjp", "doc")

    def __init__(self, name: str, impl: Callable, *, jit: bool = True, differentiable: bool = True):
        self.name = name
        self.impl = impl
        self.jit = jit
        self.differentiable = differentiable
        self._fwd: dict = {}
        self._vjp: dict = {}
        self.doc = impl.__doc__

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    def bind(self, static: tuple) -> Callable:
        """The impl with its static arguments bound (unjitted; for tracing and jax.vjp)."""
        return functools.partial(self.impl, **dict(static)) if static else self.impl

    def forward(self, static: tuple) -> Callable:
        """The jitted forward for one static key (a tuple of ``(name, value)`` pairs)."""
        fn = self._fwd.get(static)
        if fn is None:
            fn = self.bind(static)
            if self.jit:
                fn = _jit(self.name, fn)
            self._fwd[static] = fn
        return fn

    def vjp(self, static: tuple, mask: tuple) -> Callable:
        """A jitted ``(diff, rest, cts) -> grads`` for the inputs where ``mask`` is True."""
        key = (static, mask)
        fn = self._vjp.get(key)
        if fn is None:
            fn = _make_vjp(self.bind(static), mask, self.jit and self.name)
            self._vjp[key] = fn
        return fn


def _jit(name: str, fn: Callable) -> Callable:
    """``jax.jit`` of an op's program; the conv family's with the compiler options of programs
    that contain a convolution (``lowering.compiler_options``)."""
    from . import lowering

    if name in lowering.AFFECTS["conv"]:
        return lowering.jit(fn, convolutions=True)
    return jax.jit(fn)


def _make_vjp(f: Callable, mask: tuple, jit_name) -> Callable:
    """(``jit_name``: the op's name to jit the program under, or False for no jit)"""
    def vjp(diff, rest, cts):
        def g(*d):
            di, ri = iter(d), iter(rest)
            return f(*[next(di) if m else next(ri) for m in mask])

        out, pullback = jax.vjp(g, *diff)
        if isinstance(out, (tuple, list)):
            cts = tuple(_zero_ct(o) if c is None else c for o, c in zip(out, cts))
            return pullback(type(out)(cts))
        return pullback(cts[0])

    return _jit(jit_name, vjp) if jit_name else vjp


def _zero_ct(o):
    if jnp.issubdtype(o.dtype, jnp.inexact):
        return jnp.zeros(o.shape, o.dtype)
    return jnp.zeros(o.shape, jax.dtypes.float0)


def op(name: str | None = None, **kwargs):
    """Register ``impl`` as an op: ``@op()`` above a pure JAX function."""

    def deco(impl):
        n = name or impl.__name__.rstrip("_")
        if n in OPS:
            raise ValueError(f"op {n!r} registered twice")
        OPS[n] = Op(n, impl, **kwargs)
        return OPS[n]

    return deco


def opmath(dtype):
    """The dtype to compute in: float32 for half types, as PyTorch's CPU kernels do."""
    if dtype == jnp.float16 or dtype == jnp.bfloat16:
        return jnp.float32
    return dtype
