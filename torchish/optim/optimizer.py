"""``Optimizer``: PyTorch's optimizer shell (param groups, lazy per-parameter state, state_dict).

A subclass supplies the *math* as one pure function over lists of arrays and the shell does
the bookkeeping:

``_flags(g)``
    Structural flags of a group (``momentum != 0``, ``amsgrad``, ...) from ``g``, a view of the
    group that only hands out concrete values.  They choose the traced program and which
    state exists, so they are computed from concrete numbers and cached per group (see
    NOTE [ Hyperparameters as data ]).
``_state_keys(flags)`` / ``_init_state(group, p, flags)``
    The per-parameter state entries and their initial arrays (created on the first step).
``_rule(flags, h, p, g, st)`` (static, pure)
    One parameter's update: ``h`` holds the numeric hyperparameters named in ``_hyper_keys``
    (Python floats or 0-d arrays), ``p``/``g`` are arrays, ``st`` maps state keys to arrays.
    Returns ``(new_p, new_st)``.  ``_update`` maps it over the group's lists (inside one jit).

``step()`` calls ``_update`` once per group through one cached ``jax.jit`` per (class, flags),
so a step of a group is one dispatch, and then stores the results into the same boxes.

NOTE [ Hyperparameters as data ]
Numeric group entries (``lr``, ``betas``, ``weight_decay``...) are plain Python numbers in
eager code, as in PyTorch, and are passed to the jitted update as *dynamic* arguments, so a
scheduler changing ``lr`` never recompiles.  ``torchish.compile`` replaces them with 0-d
float64 tracers (``_torchish_numbers_``).  Hence: the update casts them to the parameter dtype
(a float64 hyperparameter never promotes float32 parameters), and no Python ``if`` ever looks
at their values.  Decisions that change the program's structure (whether a momentum buffer
exists) are the *flags*: computed when the values are concrete, cached per group, and reused
while they are traced; ``_torchish_static_`` exposes them to compile's cache key.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dtype as D
from .._autograd.grad_mode import enable_grad, no_grad
from .._autograd.graph import add_hook
from .._stateful import bump_structure
from .._tensor import Tensor, wrap
from . import _num
from .._ops import lowering

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook", "required"]


class _RequiredParameter:
    """Singleton for a hyperparameter that every param group must specify."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

_global_pre_hooks: dict = OrderedDict()
_global_post_hooks: dict = OrderedDict()


def register_optimizer_step_pre_hook(hook):
    """``hook(optimizer, args, kwargs)`` runs before every optimizer's ``step``."""
    return add_hook(_global_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """``hook(optimizer, args, kwargs)`` runs after every optimizer's ``step``."""
    return add_hook(_global_post_hooks, hook)


def _with_hooks(func):
    """Wrap a ``step`` so step pre/post hooks (global and per optimizer) run around it."""

    @functools.wraps(func)
    def step(self, *args, **kwargs):
        for hook in chain(_global_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        f"{func} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
        out = func(self, *args, **kwargs)
        for hook in chain(self._optimizer_step_post_hooks.values(), _global_post_hooks.values()):
            hook(self, args, kwargs)
        return out

    step._torchish_hooked = True
    return step


class _Traced(Exception):
    """A structural flag was asked of a traced hyperparameter."""


class _Concrete:
    """A read-only view of a param group that returns concrete (Python) values only."""

    __slots__ = ("group",)

    def __init__(self, group):
        self.group = group

    def __getitem__(self, key):
        v = self.group[key]
        if isinstance(v, tuple):
            return tuple(self._one(x) for x in v)
        return self._one(v)

    @staticmethod
    def _one(v):
        if isinstance(v, Tensor):
            v = v._value()
        if isinstance(v, jax.Array):
            if _num.is_traced(v):
                raise _Traced
            return v.item()
        return v


def _hyper(v):
    """A group entry as a dynamic argument of the jitted update (ints become floats)."""
    if isinstance(v, tuple):
        return tuple(_hyper(x) for x in v)
    if isinstance(v, Tensor):
        return v._value()
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return float(v)
    return v


def _to_array(value, like=None, keep_dtype=False):
    """A state value from a state_dict (torchish/torch tensor, NumPy or JAX array) as a jax.Array."""
    if isinstance(value, Tensor):
        arr = value._value()
    elif isinstance(value, jax.Array):
        arr = value
    elif isinstance(value, (np.ndarray, np.generic)):
        # NOTE: copy first: jnp.asarray may alias an aligned host buffer (torch's .numpy()).
        arr = jnp.asarray(np.array(value))
    else:  # a torch.Tensor (torch is never imported here)
        t = value.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            arr = jnp.asarray(np.array(t.float().numpy())).astype(jnp.bfloat16)
        else:
            arr = jnp.asarray(np.array(t.numpy()))
    if like is not None and not keep_dtype and jnp.issubdtype(like.dtype, jnp.floating):
        arr = arr.astype(like.dtype)
    return arr


def _is_tensor_like(v) -> bool:
    if isinstance(v, (Tensor, jax.Array, np.ndarray)):
        return True
    return type(v).__module__.startswith("torch") and hasattr(v, "detach")


def _set_value(p: Tensor, arr) -> None:
    """Store ``arr`` in parameter box ``p`` as an in-place update without autograd history."""
    if p._base is None:
        p._data = arr
        p._version += 1
    else:  # a view: write through to its base
        with no_grad():
            p.detach()._assign(wrap(arr))


def scalar_dtype():
    """PyTorch's ``_get_scalar_dtype()``: the dtype of ``state['step']`` (float64 iff default)."""
    return D.get_default_dtype().np if D.get_default_dtype().np == np.float64 else np.float32


_JIT_CACHE: dict = {}


def _jitted(cls, flags, shared=()):
    """The jitted group update of ``cls`` for ``flags`` and the sharing pattern of shared state
    (one per class and structure)."""
    key = (cls, flags, shared)
    fn = _JIT_CACHE.get(key)
    if fn is None:
        fn = _JIT_CACHE[key] = lowering.jit(functools.partial(cls._update, flags, shared=shared))
    return fn


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``).

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts defining
            parameter groups (``{"params": [...], "lr": ...}``).
        defaults: default hyperparameters, used where a group does not specify them.
    """

    # Subclass interface (see the module docstring).
    _hyper_keys: tuple = ()
    _lazy_keys: tuple = ()  # state entries that may be missing (SGD's momentum_buffer)
    # State entries that the parameters of a group stepped together hold as ONE tensor (see
    # _step_group): the per-parameter step counters, equal while the parameters step together.
    _shared_keys: tuple = ("step",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_torchish_hooked", False):
            cls.step = _with_hooks(step)

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        self._flag_cache: dict = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        if defaults.get("differentiable"):
            raise NotImplementedError(
                "differentiable=True is not supported by torchish optimizers; differentiate through an update "
                "with torchish.func (pure jax.grad) instead."
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ compile protocol
    def _torchish_state_(self):
        return {"param_groups": self.param_groups, "state": self.state}

    def _torchish_numbers_(self):
        return [(g, k) for g in self.param_groups for k, v in g.items() if k != "params" and _num.is_numeric(v)]

    def _torchish_static_(self):
        return tuple(self._group_flags(g) for g in self.param_groups)

    # ------------------------------------------------------------------ subclass hooks
    def _flags(self, g) -> tuple:
        return ()

    def _state_keys(self, flags) -> tuple:
        return ()

    def _init_state(self, group, p, flags) -> dict:
        return {}

    @staticmethod
    def _rule(flags, h, p, g, st):
        raise NotImplementedError

    @classmethod
    def _update(cls, flags, h, params, grads, state, shared=()):
        """One step of a whole group: ``_rule`` for each parameter, traced into one program.

        ``shared``: ``(key, index)`` pairs for state held as one tensor by several parameters:
        ``state[key]`` lists the distinct tensors, ``index[i]`` is parameter i's; the result
        keeps one new value per distinct tensor."""
        share = dict(shared)
        out = {k: [] for k in state}
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads)):
            st_in = {k: (v[share[k][i]] if k in share else v[i]) for k, v in state.items()}
            p, st = cls._rule(flags, h, p, g, st_in)
            new_params.append(p)
            for k, v in st.items():
                if k not in share or share[k][i] == len(out[k]):  # first parameter of a shared tensor
                    out[k].append(v)
        return new_params, out

    # ------------------------------------------------------------------ stepping
    def _group_flags(self, group) -> tuple:
        """Structural flags of ``group``: computed from concrete values, cached for traced ones."""
        entry = self._flag_cache.get(id(group))
        try:
            flags = self._flags(_Concrete(group))
        except _Traced:
            if entry is None:
                raise RuntimeError(
                    f"{type(self).__name__}: a structural hyperparameter of a param group is traced and its "
                    "flags were never computed from concrete values; call optimizer._torchish_static_() "
                    "before tracing (torchish.compile does)."
                ) from None
            return entry[1]
        if entry is None or entry[0] is not group or entry[1] != flags:
            if entry is not None and entry[0] is group:
                bump_structure()
            self._flag_cache[id(group)] = (group, flags)
        return flags

    def step(self, closure=None):
        """Perform one optimization step; returns ``closure()``'s loss when given a closure."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        flags = self._group_flags(group)
        keys = self._state_keys(flags)
        states = [self.state[p] for p in params] if keys else []
        created = False
        shared = self._shared_keys
        fresh: dict = {}
        for p, st in zip(params, states):
            if len(st) == 0:
                for k, arr in self._init_state(group, p._value(), flags).items():
                    if k in shared:  # parameters initialised together share one step counter
                        box = fresh.get(k)
                        if box is None:
                            box = fresh[k] = wrap(arr)
                        st[k] = box
                    else:
                        st[k] = wrap(arr)
                created = True
        if shared and states and len(params) != len(group["params"]):
            created = self._unshare(group, params, states) or created
        lazy = self._lazy_keys
        boxes = {k: [(st.get(k) if k in lazy else st[k]) for st in states] for k in keys}
        sharing = []  # state held as one tensor by several parameters goes in (and out) once
        for k in shared:
            bs = boxes.get(k)
            if bs and len(bs) > 1 and bs[0] is not None:
                pos: dict = {}
                index = tuple(pos.setdefault(id(b), len(pos)) for b in bs)
                if len(pos) < len(bs):
                    sharing.append((k, index))
                    boxes[k] = list({id(b): b for b in bs}.values())
        state = {k: [None if t is None else t._value() for t in v] for k, v in boxes.items()}
        h = {k: _hyper(group[k]) for k in self._hyper_keys}
        new_params, new_state = _jitted(type(self), flags, tuple(sharing))(
            h, [p._value() for p in params], [p.grad._value() for p in params], state)
        for p, arr in zip(params, new_params):
            _set_value(p, arr)
        shared_keys = {k for k, _ in sharing}
        for k, arrs in new_state.items():
            if k in shared_keys:
                for box, arr in zip(boxes[k], arrs):
                    box._data = arr
                    box._version += 1
                continue
            for st, arr in zip(states, arrs):
                box = st.get(k)
                if box is None:
                    st[k] = wrap(arr)
                    created = True
                else:
                    box._data = arr
                    box._version += 1
        if created:
            bump_structure()

    def _unshare(self, group, params, states) -> bool:
        """Parameters without a gradient are not stepped: a shared counter they hold is copied
        for the parameters that are, so each counter keeps PyTorch's per-parameter value."""
        stepped = {id(p) for p in params}
        split = False
        for k in self._shared_keys:
            outside = set()
            for q in group["params"]:
                st = self.state.get(q) if id(q) not in stepped else None
                if st and k in st:
                    outside.add(id(st[k]))
            if not outside:
                continue
            copies: dict = {}
            for st in states:
                box = st.get(k)
                if box is not None and id(box) in outside:
                    c = copies.get(id(box))
                    if c is None:
                        c = copies[id(box)] = wrap(box._value())
                    st[k] = c
                    split = True
        return split

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors (to ``None`` by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad  # (not .grad: a packed grad being discarded need not be split out)
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g._data = jnp.zeros_like(g._value())
                    g._version += 1

    # ------------------------------------------------------------------ param groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a param group (e.g. layers unfrozen during fine-tuning) to ``param_groups``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
                "sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(tensors) != len(set(tensors)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        param_set = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {txt} to the optimizer"
                )
        if not param_set.isdisjoint(set(tensors)):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(param_group)
        self.param_groups.append(param_group)
        bump_structure()

    def _check_group(self, group) -> None:
        """Per-class validation of a new group's values (e.g. LBFGS allows one group)."""

    # ------------------------------------------------------------------ state_dict
    def state_dict(self) -> dict:
        """The optimizer state in PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [...]}``.

        State tensors are returned by reference (as PyTorch does); ``copy.deepcopy`` for a snapshot.
        """
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        mapping: dict = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): self._unshared(v) for k, v in self.state.items()}
        sd = {"state": state, "param_groups": groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, sd)
            if result is not None:
                sd = result
        return sd

    def _unshared(self, st):
        """A parameter's state for ``state_dict()``: a shared counter becomes its own tensor (same
        array), as PyTorch's layout has it: torch.optim, given one tensor for several
        parameters, would advance it once per parameter."""
        if not isinstance(st, dict) or not any(k in st for k in self._shared_keys):
            return st
        return {k: (wrap(v._data) if k in self._shared_keys and isinstance(v, Tensor) else v) for k, v in st.items()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict from ``state_dict()`` (torchish's or PyTorch's, tensors converted or not)."""
        state_dict = state_dict.copy()
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        # Equal step counters of one group become one shared counter again (see _step_group):
        # a group steps its parameters together, and _unshare splits them when it does not.
        seen: dict = {}
        group_of = {id(p): i for i, g in enumerate(groups) for p in g["params"]}

        def cast(param, value, key=None):
            if _is_tensor_like(value):
                like = param._value()
                arr = _to_array(value, like, keep_dtype=(key == "step"))
                if key in self._shared_keys and np.ndim(arr) == 0:
                    shared = (group_of.get(id(param)), str(arr.dtype), float(np.asarray(arr)))
                    if shared not in seen:
                        seen[shared] = wrap(arr)
                    return seen[shared]
                return wrap(arr)
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return value

        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = cast(id_map[k], v)
            else:
                state[k] = v

        new_groups = []
        for g, ng in zip(groups, saved_groups):
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            for k, default in self.defaults.items():
                ng.setdefault(k, default)
            for k, v in ng.items():  # torch tensors / NumPy scalars as hyperparameters
                if k != "params" and not isinstance(v, (int, float, bool, str, tuple, list, type(None), Tensor)):
                    if _is_tensor_like(v) or isinstance(v, np.generic):
                        ng[k] = _to_array(v).item() if np.ndim(_to_array(v)) == 0 else wrap(_to_array(v))
            new_groups.append(ng)
        self.state = state
        self.param_groups = new_groups
        self._flag_cache = {}
        bump_structure()
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    # ------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None or (args, kwargs)`` runs before ``step``."""
        return add_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs)`` runs after ``step``."""
        return add_hook(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False):
        return _add(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False):
        return _add(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False):
        return _add(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False):
        return _add(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ------------------------------------------------------------------ python protocol
    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks", "_optimizer_state_dict_pre_hooks",
                     "_optimizer_state_dict_post_hooks", "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            self.__dict__.setdefault(name, OrderedDict())
        self._flag_cache = {}
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"


Optimizer.step = _with_hooks(Optimizer.step)


def _add(store, hook, prepend):
    handle = add_hook(store, hook)
    if prepend:
        store.move_to_end(handle._key, last=False)
    return handle


def _typename(x) -> str:
    if isinstance(x, Tensor):
        return "torchish." + {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor"}.get(
            str(x._data.dtype), "Tensor")
    return type(x).__module__ + "." + type(x).__qualname__ if type(x).__module__ != "builtins" else type(x).__name__
