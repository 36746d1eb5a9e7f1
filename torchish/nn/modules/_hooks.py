"""Module hook machinery: ``RemovableHandle``, the global module hooks, and ``BackwardHook``.

``BackwardHook`` implements ``register_full_backward_hook``/``register_full_backward_pre_hook``
as PyTorch does: the module's tensor inputs and outputs pass through an identity autograd
Function, and hooks on those two identity nodes see the gradients w.r.t. the outputs (first)
and w.r.t. the inputs (second), and may replace them.
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict

from ..._autograd.grad_mode import STATE as _GRAD
from ..._tensor import Tensor, wrap
from ...autograd import Function


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook (also a context manager)."""

    next_id: int = 0

    def __init__(self, hooks_dict, *, extra_dict=None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        if isinstance(extra_dict, dict):
            extra_dict = [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in (extra_dict or ()))

    def remove(self) -> None:
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None and self.id in d:
                del d[self.id]

    def __getstate__(self):
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state) -> None:
        self.hooks_dict_ref = weakref.ref(state[0] if state[0] is not None else OrderedDict())
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        self.extra_dict_ref = tuple(weakref.ref(d) for d in state[2] if d is not None) if len(state) > 2 else ()

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def add_hook(hooks: OrderedDict, hook, prepend: bool = False, extra=None) -> RemovableHandle:
    handle = RemovableHandle(hooks, extra_dict=extra)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


# Hooks common to all modules (debugging/profiling), as torch.nn.modules.module's globals.
_global_buffer_registration_hooks: OrderedDict = OrderedDict()
_global_module_registration_hooks: OrderedDict = OrderedDict()
_global_parameter_registration_hooks: OrderedDict = OrderedDict()
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_forward_hooks_always_called: OrderedDict = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict = OrderedDict()


def register_module_buffer_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, buffer) -> None or new buffer`` runs on every ``register_buffer``."""
    return add_hook(_global_buffer_registration_hooks, hook)


def register_module_module_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, submodule) -> None or new submodule`` runs on every submodule registration."""
    return add_hook(_global_module_registration_hooks, hook)


def register_module_parameter_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, param) -> None or new param`` runs on every ``register_parameter``."""
    return add_hook(_global_parameter_registration_hooks, hook)


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """A forward pre-hook for every module (runs before the module's own)."""
    return add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """A forward hook for every module (runs before the module's own)."""
    handle = add_hook(_global_forward_hooks, hook,
                      extra=[_global_forward_hooks_always_called, _global_forward_hooks_with_kwargs])
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """A backward pre-hook for every module."""
    return add_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """A full backward hook for every module."""
    return add_hook(_global_backward_hooks, hook)


# ----------------------------------------------------------------------------- backward hooks
class _BackwardHookFunction(Function):
    """Identity on tensors; its node is where module backward hooks attach."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        return args

    @staticmethod
    def backward(ctx, *grads):
        return grads


def _as_tensor(g):
    return g if g is None or isinstance(g, Tensor) else wrap(g)


def _as_array(g):
    return g._value() if isinstance(g, Tensor) else g


def _pack_with_none(indices, values, size):
    res = [None] * size
    for i, v in zip(indices, values):
        res[i] = v
    return tuple(res)


class BackwardHook:
    """Wires a module's full backward (pre-)hooks onto identity nodes around one forward call."""

    def __init__(self, module, user_hooks, user_pre_hooks) -> None:
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_tensors_index = None
        self.n_inputs = -1
        self.input_tensors_index = None

    def _apply_on_tensors(self, fn, args):
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in idx]
        if not (_GRAD.enabled and any(t._requires_grad for t in tensors)):
            return args, None
        new = _BackwardHookFunction.apply(*tensors)
        node = next(t._grad_fn for t in new if t._grad_fn is not None)
        # which of the tensor args have an edge (a gradient) at the identity node
        fn(node, idx, [i for i, t in zip(idx, tensors) if t._requires_grad])
        out = list(args)
        for i, t in zip(idx, new):
            out[i] = t
        return tuple(out), idx

    def setup_input_hook(self, args):
        def fn(node, idx, grad_idx):
            def hook(grad_input, _):
                if self.grad_outputs is None:
                    return None  # the outputs got no gradient: nothing to report
                res = _pack_with_none(grad_idx, [_as_tensor(g) for g in grad_input], self.n_inputs)
                for user_hook in self.user_hooks:
                    out = user_hook(self.module, res, self.grad_outputs)
                    if out is None:
                        continue
                    if len(out) != len(res):
                        raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                           f"got {len(out)}, but expected {len(res)}")
                    res = tuple(out)
                self.grad_outputs = None
                return tuple(_as_array(res[i]) for i in grad_idx)

            node.register_hook(hook)

        res, idx = self._apply_on_tensors(fn, args)
        self.n_inputs = len(args)
        self.input_tensors_index = idx
        return res

    def setup_output_hook(self, result):
        def fn(node, idx, grad_idx):
            def hook(_, grad_output):
                self.grad_outputs = _pack_with_none(idx, [_as_tensor(g) for g in grad_output], self.n_outputs)
                for pre in self.user_pre_hooks:
                    new = pre(self.module, self.grad_outputs)
                    if new is None:
                        continue
                    if len(new) != len(self.grad_outputs):
                        raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                           f"got {len(new)}, but expected {len(self.grad_outputs)}")
                    self.grad_outputs = tuple(new)
                local = self.grad_outputs
                if self.input_tensors_index is None:
                    warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                                  "outputs since no inputs require gradients.", stacklevel=5)
                    grad_inputs = _pack_with_none([], [], self.n_inputs)
                    for user_hook in self.user_hooks:
                        r = user_hook(self.module, grad_inputs, self.grad_outputs)
                        if r is not None and not (isinstance(r, tuple) and all(e is None for e in r)):
                            raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                               "always return None or None for all gradients.")
                    self.grad_outputs = None
                return tuple(_as_array(local[i]) for i in grad_idx)

            node.register_hook(hook)

        is_tuple = isinstance(result, tuple)
        args = result if is_tuple else (result,)
        res, idx = self._apply_on_tensors(fn, args)
        self.n_outputs = len(args)
        self.output_tensors_index = idx
        return res if is_tuple else res[0]


# ----------------------------------------------------------------------------- the slow call path
def call_with_hooks(module, args, kwargs):
    """``Module.__call__`` when any hook is registered: PyTorch's ``_call_impl``."""
    result = None
    called_always = set()
    fwd_hooks = module._forward_hooks
    with_kw = module._forward_hooks_with_kwargs

    def inner():
        nonlocal result, args, kwargs
        bw_pre = module._get_backward_pre_hooks() if (module._backward_pre_hooks or _global_backward_pre_hooks) else []
        bw_full = module._get_backward_hooks()[0] if (module._backward_hooks or _global_backward_hooks) else []
        for hook_id, hook in (*_global_forward_pre_hooks.items(), *module._forward_pre_hooks.items()):
            if hook_id in module._forward_pre_hooks_with_kwargs:
                r = hook(module, args, kwargs)
                if r is not None:
                    if isinstance(r, tuple) and len(r) == 2:
                        args, kwargs = r
                    else:
                        raise RuntimeError(f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {r}.")
            else:
                r = hook(module, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        bw_hook = None
        if bw_full or bw_pre:
            bw_hook = BackwardHook(module, bw_full, bw_pre)
            args = bw_hook.setup_input_hook(args)
        forward = module._compiled_call_impl or module.forward
        result = forward(*args, **kwargs)
        for hook_id, hook in (*_global_forward_hooks.items(), *fwd_hooks.items()):
            if hook_id in module._forward_hooks_always_called or hook_id in _global_forward_hooks_always_called:
                called_always.add(hook_id)
            if hook_id in with_kw or hook_id in _global_forward_hooks_with_kwargs:
                r = hook(module, args, kwargs, result)
            else:
                r = hook(module, args, result)
            if r is not None:
                result = r
        if bw_hook is not None:
            if not isinstance(result, (Tensor, tuple)):
                warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                              f"Tensors but received {type(result)}", stacklevel=3)
            else:
                result = bw_hook.setup_output_hook(result)
        return result

    try:
        return inner()
    except Exception:
        for hooks, always, where in ((_global_forward_hooks, _global_forward_hooks_always_called, "global module"),
                                     (fwd_hooks, module._forward_hooks_always_called, "module")):
            for hook_id, hook in hooks.items():
                if hook_id in always and hook_id not in called_always:
                    try:
                        if hook_id in with_kw or hook_id in _global_forward_hooks_with_kwargs:
                            r = hook(module, args, kwargs, result)
                        else:
                            r = hook(module, args, result)
                        if r is not None:
                            result = r
                    except Exception as e:  # noqa: BLE001 - PyTorch silences it: the original error wins
                        warnings.warn(f"{where} forward hook with ``always_call=True`` raised an exception that was "
                                      f"silenced as another error was raised in forward: {e}", stacklevel=2)
        raise
