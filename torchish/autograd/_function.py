"""``torchish.autograd.Function``: user-defined forward and backward, as in PyTorch."""

from __future__ import annotations

import functools

from .._autograd import graph as G
from .._autograd.grad_mode import STATE, no_grad
from .._tensor import Tensor, _FLOAT_NP, wrap


class FunctionCtx:
    """The ``ctx`` passed to ``forward``/``backward``: saved tensors and flags."""

    def __init__(self):
        self._saved = ()
        self._freed = False
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._non_diff = set()

    def save_for_backward(self, *tensors) -> None:
        self._saved = tuple(tensors)

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(G.FREED_MSG)
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_diff.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:
        """Accepted for compatibility; in-place changes are tracked by the boxes themselves."""

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)


class _FunctionMeta(type):
    pass


class Function(metaclass=_FunctionMeta):
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call ``.apply``.

    Example:
        >>> class Exp(torchish.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         y = x.exp()
        ...         ctx.save_for_backward(y)
        ...         return y
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (y,) = ctx.saved_tensors
        ...         return g * y
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx.needs_input_grad = needs
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if not (STATE.enabled and any(needs)):
            return out
        single = isinstance(out, Tensor)
        outs = (out,) if single else tuple(out)
        inputs = [a for a, n in zip(args, needs) if n]
        edges = tuple(a._edge() for a in inputs)
        n_inputs = len(args)
        diff_out = [isinstance(o, Tensor) and id(o) not in ctx._non_diff and o._data.dtype in _FLOAT_NP for o in outs]
        meta = tuple((o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs)

        def backward_fn(cts):
            if ctx._freed:
                raise RuntimeError(G.FREED_MSG)
            gts = [wrap(c) if d and c is not None else None for c, d in zip(cts, diff_out)]
            with no_grad():
                grads = cls.backward(ctx, *gts)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) < n_inputs:
                if len(grads) != sum(needs) or len(grads) == 0:
                    raise RuntimeError(
                        f"function {cls.__name__}Backward returned an incorrect number of gradients (expected {n_inputs}, got {len(grads)})"
                    )
            elif len(grads) > n_inputs:
                extra = grads[n_inputs:]
                if any(g is not None for g in extra):
                    raise RuntimeError(
                        f"function {cls.__name__}Backward returned an incorrect number of gradients (expected {n_inputs}, got {len(grads)})"
                    )
                grads = grads[:n_inputs]
            sel = [g for g, n in zip(grads, needs) if n] if len(grads) == n_inputs else list(grads)
            res = []
            for g, a in zip(sel, inputs):
                if g is None:
                    res.append(None)
                    continue
                arr = g._value() if isinstance(g, Tensor) else g
                if tuple(arr.shape) != tuple(a.shape):
                    raise RuntimeError(
                        f"Function {cls.__name__}Backward returned an invalid gradient at index 0 - got {list(arr.shape)} but expected shape compatible with {list(a.shape)}"
                    )
                res.append(arr)
            return tuple(res)

        node = G.FunctionNode(backward_fn, edges, len(outs), meta, cls.__name__, ctx)
        input_ids = {id(a) for a in args if isinstance(a, Tensor)}
        new_outs = []
        for i, (o, d) in enumerate(zip(outs, diff_out)):
            if not d:
                new_outs.append(o)
                continue
            t = wrap(o._value()) if id(o) in input_ids else o
            t._grad_fn = node
            t._requires_grad = True
            if i:
                t._output_nr = i
            new_outs.append(t)
        return new_outs[0] if single else type(out)(new_outs) if isinstance(out, tuple) else new_outs


def once_differentiable(fn):
    """Accepted for compatibility: torchish never differentiates a backward with the tape."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        return fn(ctx, *args)

    return wrapper
