"""``Module.load_state_dict``: PyTorch's algorithm, collecting every problem before raising.

Values are copied into the existing parameter/buffer boxes (``copy_`` under ``no_grad``), so
optimizers and compiled functions holding the parameters keep working.  Checkpoint values may
be torchish Tensors, torch tensors (copied through NumPy) or NumPy arrays.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ... import _dtype as D
from ..._autograd.grad_mode import no_grad
from ..._tensor import Tensor, wrap
from ..parameter import Parameter

_EXTRA = "_extra_state"


def as_tensor(value):
    """A checkpoint value (torchish/torch tensor, NumPy or JAX array) as a torchish Tensor, else ``None``."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, jax.Array)):
        return wrap(jnp.asarray(value))
    mod = type(value).__module__ or ""
    if mod.startswith("torch") and hasattr(value, "detach") and hasattr(value, "numpy"):
        v = value.detach().cpu()
        if str(v.dtype) == "torch.bfloat16":
            return wrap(jnp.asarray(v.float().numpy().astype(D.bfloat16.np)))
        return wrap(jnp.asarray(v.numpy()))
    return None


def load_local(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    """``Module._load_from_state_dict``: load this module's own parameters and buffers."""
    from .module import Module

    for hook in module._load_state_dict_pre_hooks.values():
        hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
    local_state = {k: v for k, v in module._parameters.items() if v is not None}
    local_state.update((k, v) for k, v in module._buffers.items()
                       if v is not None and k not in module._non_persistent_buffers_set)
    assign = local_metadata.get("assign_to_params_buffers", False)

    for name, param in local_state.items():
        key = prefix + name
        if key not in state_dict:
            if strict:
                missing_keys.append(key)
            continue
        raw = state_dict[key]
        value = as_tensor(raw)
        if value is None:
            error_msgs.append(f'While copying the parameter named "{key}", expected torchish.Tensor or Tensor-like '
                              f"object from checkpoint but received {type(raw)}")
            continue
        if param.ndim == 0 and value.ndim == 1 and value.shape[0] == 1:
            value = value[0]  # PyTorch's backward-compatibility rule for old 0-d checkpoints
        if tuple(value.shape) != tuple(param.shape):
            error_msgs.append(f"size mismatch for {key}: copying a param with shape {value.shape} from checkpoint, "
                              f"the shape in current model is {param.shape}.")
            continue
        try:
            with no_grad():
                if assign:
                    if isinstance(param, Parameter):
                        if not isinstance(value, Parameter):
                            value = Parameter(value, requires_grad=param.requires_grad)
                        else:
                            value.requires_grad_(param.requires_grad)
                    setattr(module, name, value)
                else:
                    param.copy_(value)
        except Exception as ex:  # noqa: BLE001 - reported with the others, as PyTorch does
            error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in the model are '
                              f"{param.size()} and whose dimensions in the checkpoint are {value.size()}, "
                              f"an exception occurred : {ex.args}.")

    extra_key = prefix + _EXTRA
    if type(module).set_extra_state is not Module.set_extra_state:
        if extra_key in state_dict:
            module.set_extra_state(state_dict[extra_key])
        elif strict:
            missing_keys.append(extra_key)
    elif strict and extra_key in state_dict:
        unexpected_keys.append(extra_key)

    if strict:
        for key in state_dict:
            if key.startswith(prefix) and key != extra_key:
                parts = key[len(prefix):].split(".", 1)
                if len(parts) > 1:
                    if parts[0] not in module._modules:
                        unexpected_keys.append(key)
                elif parts[0] not in local_state:
                    unexpected_keys.append(key)


def load_state_dict(root, state_dict, strict: bool, assign: bool):
    from .module import _IncompatibleKeys

    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    missing_keys: list = []
    unexpected_keys: list = []
    error_msgs: list = []
    metadata = getattr(state_dict, "_metadata", None)
    state_dict = OrderedDict(state_dict)

    def load(module, local_state_dict, prefix=""):
        local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
        if assign:
            local_metadata["assign_to_params_buffers"] = assign
        module._load_from_state_dict(local_state_dict, prefix, local_metadata, True, missing_keys, unexpected_keys,
                                     error_msgs)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = prefix + name + "."
                load(child, {k: v for k, v in local_state_dict.items() if k.startswith(child_prefix)}, child_prefix)
        incompatible = _IncompatibleKeys(missing_keys, unexpected_keys)
        for hook in module._load_state_dict_post_hooks.values():
            if hook(module, incompatible) is not None:
                raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not expected "
                                     "to return new values, if incompatible_keys need to be modified, it should be "
                                     "done inplace.")

    load(root, state_dict)
    if strict:
        if unexpected_keys:
            error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected_keys)))
        if missing_keys:
            error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing_keys)))
    if error_msgs:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
            root.__class__.__name__, "\n\t".join(error_msgs)))
    return _IncompatibleKeys(missing_keys, unexpected_keys)
