"""``backward`` and ``grad``: PyTorch's entry points onto the tape engine."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._autograd import graph as G
from .._stateful import GRADS
from .._tensor import Tensor, wrap


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _root_grads(tensors, grads, who):
    out = []
    grads = grads if grads is not None else [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{who}: got {len(grads)} gradients for {len(tensors)} tensors")
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            out.append(_one(t._data.dtype, t._data.shape))
        else:
            g = g._value() if isinstance(g, Tensor) else jnp.asarray(g)
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and output[{i}] has a shape of {tuple(t.shape)}."
                )
            out.append(g.astype(t._data.dtype))
    return out


_ONES: dict = {}


def _one(dtype, shape):
    """A cached array of ones for the implicit gradient of a one-element output."""
    k = (dtype, shape)
    a = _ONES.get(k)
    if a is None:
        a = jnp.ones(shape, dtype)
        if not isinstance(a, jax.core.Tracer):  # NOTE: never cache a value created while tracing
            _ONES[k] = a
    return a


def _no_create_graph():
    raise NotImplementedError(
        "create_graph=True (differentiating a gradient with the tape) is not supported. Higher-order "
        "derivatives come from torchish.func: e.g. torchish.func.grad(torchish.func.grad(f)) or "
        "torchish.func.hessian(f)."
    )


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of graph leaves (or of ``inputs``)."""
    if create_graph:
        _no_create_graph()
    tensors = _as_list(tensors)
    grads = _root_grads(tensors, _as_list(grad_tensors), "backward")
    retain = bool(retain_graph) if retain_graph is not None else create_graph
    roots = [t._edge() for t in tensors]
    if inputs is None:
        G.run_backward(roots, grads, retain_graph=retain)
        return
    inputs = _as_list(inputs)
    if not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    leaves, capture = set(), {}
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        e = t._edge()
        if t._grad_fn is None:
            leaves.add(id(e[0]))
        else:
            capture[(id(e[0]), e[1])] = i
    captured = G.run_backward(roots, grads, retain_graph=retain, capture=capture or None, only_leaves=leaves)
    for i, g in captured.items():
        t = inputs[i]
        if t._grad is None:
            t._grad = wrap(g)
            GRADS.value += 1
        else:
            t._grad = wrap(t._grad._data + g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (returned, not accumulated into .grad)."""
    if create_graph:
        _no_create_graph()
    outputs = _as_list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = _as_list(inputs)
    grads = _root_grads(outputs, _as_list(grad_outputs), "grad")
    capture = {}
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        e = t._edge()
        capture[(id(e[0]), e[1])] = i
    retain = bool(retain_graph) if retain_graph is not None else create_graph
    captured = G.run_backward([t._edge() for t in outputs], grads, retain_graph=retain, capture=capture, accumulate=False)
    if allow_unused is None:
        allow_unused = materialize_grads
    res = []
    for i, t in enumerate(inputs):
        g = captured.get(i)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior."
                )
            res.append(wrap(jnp.zeros(t._data.shape, t._data.dtype)) if materialize_grads else None)
        else:
            res.append(wrap(g))
    return tuple(res)
