"""``torchish.autograd.functional``: jacobian/hessian/vjp/jvp of functions of tensors.

Built on ``torchish.func`` (JAX transforms), not on the tape.
"""

from __future__ import annotations


def _func():
    from .. import func

    return func


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    single = not isinstance(inputs, tuple)
    ins = (inputs,) if single else inputs
    out, fn = _func().vjp(func, *ins)
    if v is None:
        from .._functions.creation import ones_like

        v = ones_like(out)
    g = fn(v)
    return out, g[0] if single else g


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    single = not isinstance(inputs, tuple)
    ins = (inputs,) if single else inputs
    vs = (v,) if single else v
    return _func().jvp(func, ins, vs)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    single = not isinstance(inputs, tuple)
    ins = (inputs,) if single else inputs
    argnums = 0 if single else tuple(range(len(ins)))
    f = _func().jacrev if strategy == "reverse-mode" else _func().jacfwd
    return f(func, argnums=argnums)(*ins)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    single = not isinstance(inputs, tuple)
    ins = (inputs,) if single else inputs
    argnums = 0 if single else tuple(range(len(ins)))
    return _func().hessian(func, argnums=argnums)(*ins)
