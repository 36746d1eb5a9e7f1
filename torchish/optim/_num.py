"""Arithmetic on numbers that may be Python scalars, 0-d ``jax.Array``s or JAX tracers.

Optimizer hyperparameters and LR-scheduler counters are plain Python numbers in eager code
(as in PyTorch) and 0-d tracers inside ``torchish.compile`` (see ``torchish/_stateful.py``).
Code that reads them uses these helpers instead of ``math``/``if``: for Python numbers they do
exactly what Python does (so eager results equal PyTorch's bit for bit), for arrays they call
``jax.numpy`` and never ask for a concrete value.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_Tracer = jax.core.Tracer
pi = math.pi


def is_py(*xs) -> bool:
    """True when every ``x`` is a plain Python (or NumPy) number: use Python arithmetic."""
    return all(isinstance(x, (int, float, np.number, np.bool_)) for x in xs)


def is_traced(x) -> bool:
    """True for JAX tracers (values unknown until the program runs)."""
    return isinstance(x, _Tracer)


def is_number(v) -> bool:
    """A scalar hyperparameter/counter: Python int/float (not bool) or a 0-d numeric array."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, jax.Array) and v.ndim == 0 and v.dtype != jnp.bool_


def is_numeric(v) -> bool:
    """``is_number(v)``, or a non-empty tuple of such numbers (``betas``, ``etas``)."""
    if isinstance(v, tuple):
        return len(v) > 0 and all(is_number(x) for x in v)
    return is_number(v)


def concrete(x):
    """``x`` as a Python number, or ``None`` when it is traced (value unknown)."""
    if isinstance(x, _Tracer):
        return None
    if isinstance(x, jax.Array):
        return x.item()
    return x


def cond(c, if_true, if_false):
    """``if_true() if c else if_false()`` for a concrete ``c``; ``jnp.where`` of both when traced.

    The branches are thunks so eager code evaluates only the branch PyTorch evaluates (no
    ZeroDivisionError from the other one).  Results may be numbers or lists/tuples of them.
    """
    if not isinstance(c, _Tracer):
        return if_true() if c else if_false()
    a, b = if_true(), if_false()
    return jax.tree.map(lambda u, v: jnp.where(c, u, v), a, b)


def where(c, a, b):
    """``a if c else b`` for concrete ``c`` (both already computed); ``jnp.where`` when traced."""
    if not isinstance(c, _Tracer):
        return a if c else b
    return jnp.where(c, a, b)


def logical_or(a, b):
    """``a or b``; ``jnp.logical_or`` when either is an array (a Python ``True`` short-circuits)."""
    if is_py(a) and a:
        return True
    return (a or b) if is_py(a, b) else jnp.logical_or(a, b)


def logical_and(a, b):
    """``a and b``; ``jnp.logical_and`` when either is an array (a Python ``False`` short-circuits)."""
    if is_py(a) and not a:
        return False
    return (a and b) if is_py(a, b) else jnp.logical_and(a, b)


def cos(x):
    return math.cos(x) if is_py(x) else jnp.cos(x)


def floor(x):
    """``math.floor`` (an int) for Python numbers, ``jnp.floor`` for arrays."""
    return math.floor(x) if is_py(x) else jnp.floor(x)


def minimum(a, b):
    return min(a, b) if is_py(a, b) else jnp.minimum(a, b)


def maximum(a, b):
    return max(a, b) if is_py(a, b) else jnp.maximum(a, b)


def value(x):
    """Unwrap a torchish Tensor hyperparameter (``lr=torchish.tensor(0.1)``) to its array."""
    v = getattr(x, "_value", None)
    return v() if v is not None else x
