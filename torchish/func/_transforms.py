"""``torch.func``-style transforms built directly on JAX's.

Each transform converts Tensor arguments (and pytrees of them) to arrays, applies the JAX
transform to a function that re-wraps its arguments as plain Tensors and runs the user's
function, and wraps the results back.  Inside, tensors hold JAX tracers, so the eager tape is
not used (gradients come from JAX) and the transforms nest freely with each other and with
``torchish.compile``.
"""

from __future__ import annotations

import contextlib
import functools

import jax

from .._autograd.grad_mode import no_grad
from .._random import default_generator
from .._tensor import Tensor, wrap


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _to_arrays(tree):
    return jax.tree_util.tree_map(lambda x: x._value() if isinstance(x, Tensor) else x, tree, is_leaf=_is_tensor)


def _to_tensors(tree):
    return jax.tree_util.tree_map(lambda x: wrap(x) if isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer) else x,
                                  tree)


def _call(func, arrays_args, kwargs):
    """Run ``func`` on Tensors wrapping ``arrays_args`` (no tape: JAX differentiates)."""
    with no_grad():
        out = func(*_to_tensors(arrays_args), **kwargs)
    return _to_arrays(out)


def _scalar_check(out, name):
    if isinstance(out, jax.Array) or isinstance(out, jax.core.Tracer):
        if out.size != 1:
            raise RuntimeError(
                f"{name}(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with {out.ndim} dims. "
                "Maybe you wanted to use the vjp or jacrev APIs instead?"
            )
        return out.reshape(())
    raise RuntimeError(f"{name}(f)(*args): Expected f(*args) to return a Tensor, got {type(out).__name__}")


def grad_and_value(func, argnums=0, has_aux=False):
    """``(grad, value)`` of a scalar function (as ``torch.func.grad_and_value``).

    Example:
        >>> g, v = torchish.func.grad_and_value(lambda x: (x ** 2).sum())(torchish.tensor([1., 2.]))
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        def f(*a):
            out = _call(func, a, kwargs)
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: (output, aux) if has_aux is True")
                return _scalar_check(out[0], "grad_and_value"), out[1]
            return _scalar_check(out, "grad_and_value")

        (val, g) = None, None
        res = jax.value_and_grad(f, argnums=argnums, has_aux=has_aux)(*_to_arrays(args))
        val, g = res
        if has_aux:
            val, aux = val
            return _to_tensors(g), (_to_tensors(val), _to_tensors(aux))
        return _to_tensors(g), _to_tensors(val)

    return wrapper


def grad(func, argnums=0, has_aux=False):
    """The gradient of a scalar function with respect to argument(s) ``argnums`` (``torch.func.grad``)."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, v = gv(*args, **kwargs)
        if has_aux:
            return g, v[1]
        return g

    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(output, vjp_fn)``: ``vjp_fn(cotangents)`` returns one cotangent per primal."""
    res = jax.vjp(lambda *a: _call(func, a, {}), *_to_arrays(primals), has_aux=has_aux)
    if has_aux:
        out, pull, aux = res
    else:
        out, pull = res

    def vjp_fn(*cts):
        ct = cts[0] if len(cts) == 1 else cts
        return _to_tensors(pull(_to_arrays(ct)))

    if has_aux:
        return _to_tensors(out), vjp_fn, _to_tensors(aux)
    return _to_tensors(out), vjp_fn


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(output, jvp_out)``: the forward-mode derivative along ``tangents``."""
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to be tuples")
    if has_aux:
        out, t, aux = jax.jvp(lambda *a: _call(func, a, {}), _to_arrays(primals), _to_arrays(tangents), has_aux=True)
        return _to_tensors(out), _to_tensors(t), _to_tensors(aux)
    out, t = jax.jvp(lambda *a: _call(func, a, {}), _to_arrays(primals), _to_arrays(tangents))
    return _to_tensors(out), _to_tensors(t)


def _jac(jax_jac, func, argnums, has_aux):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        res = jax_jac(lambda *a: _call(func, a, kwargs), argnums=argnums, has_aux=has_aux)(*_to_arrays(args))
        if has_aux:
            j, aux = res
            return _to_tensors(j), _to_tensors(aux)
        return _to_tensors(res)

    return wrapper


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian by reverse mode (``torch.func.jacrev``)."""
    return _jac(jax.jacrev, func, argnums, has_aux)


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian by forward mode (``torch.func.jacfwd``)."""
    return _jac(jax.jacfwd, func, argnums, has_aux)


def hessian(func, argnums=0):
    """The Hessian (``jacfwd(jacrev(f))``, as ``torch.func.hessian``)."""
    return _jac(jax.hessian, func, argnums, False)


_VMAP_AXIS = "torchish_vmap"
_vmap_depth = [0]


@contextlib.contextmanager
def _randomness(mode, axis_name):
    g = default_generator
    prev = g._fold
    if mode == "different":
        def fold():
            i = jax.lax.axis_index(axis_name)
            return i if prev is None else prev() * 1000003 + i

        g._fold = fold
    elif mode == "error":
        def fold():
            raise RuntimeError(
                "vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                "'different' randomness flags on vmap or perform the randomness operation out of vmap"
            )

        g._fold = fold
    elif mode != "same":
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {mode}")
    try:
        yield
    finally:
        g._fold = prev


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """Vectorise ``func`` over a batch dimension of its inputs (``torch.func.vmap``).

    ``in_dims``: an int, None (not batched), or a tuple/pytree matching the arguments.
    ``randomness``: 'error' (random ops raise), 'different' (each sample its own draws) or
    'same' (one draw shared by the batch).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _vmap_depth[0] += 1
        axis = f"{_VMAP_AXIS}{_vmap_depth[0]}"
        try:
            dims = in_dims
            if isinstance(dims, list):
                dims = tuple(dims)
            if isinstance(dims, tuple) and len(dims) != len(args):
                raise ValueError(
                    f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the structure of "
                    f"`inputs`. in_dims has structure {len(dims)} but inputs has {len(args)} arguments"
                )
            with _randomness(randomness, axis):
                out = jax.vmap(lambda *a: _call(func, a, kwargs), in_axes=dims, out_axes=out_dims,
                               axis_name=axis)(*_to_arrays(args))
            return _to_tensors(out)
        finally:
            _vmap_depth[0] -= 1

    return wrapper


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """Call ``module`` with its parameters and buffers replaced by the given tensors.

    The given tensors are used as they are (the module's own boxes are swapped out and back in
    a ``finally``), so gradients — from the tape or from ``torchish.func`` transforms — flow
    to them.
    """
    if isinstance(parameter_and_buffer_dicts, (list, tuple)):
        merged = {}
        for d in parameter_and_buffer_dicts:
            dup = set(merged) & set(d)
            if dup:
                raise ValueError(f"{sorted(dup)} appeared in multiple dictionaries; behavior of functional call is ambiguous")
            merged.update(d)
    else:
        merged = dict(parameter_and_buffer_dicts)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = kwargs or {}
    known = {n for n, _ in module.named_parameters(remove_duplicate=False)} | {n for n, _ in module.named_buffers(remove_duplicate=False)}
    if strict:
        missing = sorted(known - set(merged))
        unexpected = sorted(set(merged) - known)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}: missing keys {missing}, unexpected keys {unexpected}")
    swaps = []
    try:
        for name, value in merged.items():
            *path, leaf = name.split(".")
            owner = module.get_submodule(".".join(path)) if path else module
            value = value if isinstance(value, Tensor) else wrap(value)
            for store in (owner._parameters, owner._buffers):
                if leaf in store:
                    swaps.append((store, leaf, store[leaf]))
                    store[leaf] = value
                    break
            else:
                raise AttributeError(f"{type(owner).__name__} has no parameter or buffer named {leaf!r} ({name})")
        return module(*args, **kwargs)
    finally:
        for store, leaf, old in reversed(swaps):
            store[leaf] = old


def stack_module_state(models):
    """Stack the parameters and buffers of identical modules (for ``vmap`` over model ensembles)."""
    from .._functions.shape import stack

    params = {n: stack([dict(m.named_parameters())[n].detach() for m in models]) for n, _ in models[0].named_parameters()}
    buffers = {n: stack([dict(m.named_buffers())[n] for m in models]) for n, _ in models[0].named_buffers()}
    return params, buffers
