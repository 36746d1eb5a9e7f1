"""``nn.Parameter``: a leaf Tensor that Modules register as a parameter."""

from __future__ import annotations

import jax

from .. import _tensor as _T
from .._tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter (``requires_grad=True`` by default).

    Assigning one as a Module attribute registers it.  It shares the value (not the box) of the
    tensor it was made from.
    """

    _is_param = True

    def __new__(cls, data=None, requires_grad=True):
        t = object.__new__(cls)
        if data is None:
            import jax.numpy as jnp

            arr = jnp.zeros((0,), jnp.float32)
        elif isinstance(data, Tensor):
            arr = data._value()
        else:
            import jax.numpy as jnp

            arr = jnp.asarray(data)
        t._data = arr
        t._grad_fn = None
        t._requires_grad = False
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + _T.Tensor.__repr__(self)

    def __reduce_ex__(self, protocol):
        import numpy as np

        return (Parameter, (np.asarray(self._concrete("pickling a Parameter")), self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(wrap_copy(self), self._requires_grad)
        if self._grad is not None:
            p._grad = _T.wrap(self._grad._value())
        memo[id(self)] = p
        return p


def wrap_copy(t: Tensor) -> Tensor:
    return _T.wrap(t._value())


class Buffer(Tensor):
    """``nn.Buffer(data, persistent=True)``: assigning one as a Module attribute registers a buffer."""

    def __new__(cls, data=None, *, persistent=True):
        t = object.__new__(cls)
        t._data = data._value() if isinstance(data, Tensor) else __import__("jax.numpy").numpy.asarray(data)
        t._grad_fn = None
        t._requires_grad = False
        t.__dict__["persistent"] = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass


def _flatten(p):
    return (p._value(),), p._requires_grad


def _unflatten(rg, children):
    t = object.__new__(Parameter)
    t._data = children[0]
    t._grad_fn = None
    t._requires_grad = rg
    return t


jax.tree_util.register_pytree_node(Parameter, _flatten, _unflatten)


def is_lazy(param) -> bool:
    return False
