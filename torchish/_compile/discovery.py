"""State discovery: find the boxes a function can reach.

``discover(roots)`` walks Python objects from the roots (the function, its arguments, bound
``self``): closure cells and referenced globals of user functions, lists/tuples/dicts, plain
objects' ``__dict__``, and every object that speaks the protocol in ``torchish/_stateful.py``
(``_torchish_state_`` / ``_torchish_numbers_`` / ``_torchish_static_``).  It returns the root
boxes in a stable order, the number slots, the static parts of the cache key, the dicts
owned by stateful objects (snapshotted so a failed trace can remove entries it added), and the
data-parallel specs of objects that define ``_torchish_parallel_`` (DistributedDataParallel).

Library code (torchish, jax, numpy, optax, the standard library) is not walked: only state
reachable through user objects and stateful objects counts.
"""

from __future__ import annotations

import functools
import types

import jax
import numpy as np

from .._tensor import Tensor

_SKIP_TYPES = (int, float, complex, str, bytes, bool, type(None), type, types.ModuleType, np.ndarray,
               np.generic, jax.Array, range, slice, type(Ellipsis), types.BuiltinFunctionType)
_LIB_PREFIXES = ("torchish.", "jax.", "jaxlib.", "numpy.", "optax.", "collections", "functools", "typing",
                 "abc", "threading", "logging", "os.", "sys", "re.", "math", "random", "enum", "torch.")


def _is_library(mod: str | None) -> bool:
    if not mod:
        return False
    return mod in ("torchish", "jax", "numpy", "optax", "torch", "builtins") or mod.startswith(_LIB_PREFIXES)


class Found:
    """The result of a walk."""

    __slots__ = ("boxes", "owned", "numbers", "statics", "dicts", "leaks", "parallel")

    def __init__(self):
        self.boxes: list = []          # root Tensors, in discovery order
        self.owned: set = set()        # ids of boxes reached through a stateful object's protocol
        self.numbers: list = []        # (container, key) slots holding traced Python numbers
        self.statics: list = []        # hashable static values (Module.training, flags)
        self.dicts: list = []          # dicts owned by stateful objects
        self.parallel: list = []       # data-parallel specs (``_torchish_parallel_``, see parallel.py)


def _code_names(code, out):
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_names(c, out)


def discover(roots, extra_boxes=()) -> Found:
    found = Found()
    seen: set = set()
    alive: list = []  # NOTE: keeps visited objects alive, so a freed temporary's id is never reused
    box_ids: set = set()

    def add_box(t: Tensor, owned: bool):
        root = t._base if t._base is not None else t
        rid = id(root)
        if owned:
            found.owned.add(rid)
        if rid not in box_ids:
            box_ids.add(rid)
            found.boxes.append(root)

    stack = [(r, False) for r in reversed(roots)]
    while stack:
        obj, owned = stack.pop()
        if isinstance(obj, Tensor):
            add_box(obj, owned)
            continue
        if isinstance(obj, _SKIP_TYPES):
            continue
        oid = id(obj)
        if oid in seen:
            continue
        seen.add(oid)
        alive.append(obj)
        cls = type(obj)
        state = getattr(cls, "_torchish_state_", None)
        if state is not None:
            st_items = obj._torchish_state_()
            items = list(st_items.values()) if isinstance(st_items, dict) else list(st_items)
            nums = getattr(cls, "_torchish_numbers_", None)
            if nums is not None:
                found.numbers.extend(obj._torchish_numbers_())
            st = getattr(cls, "_torchish_static_", None)
            if st is not None:
                found.statics.append(obj._torchish_static_())
            par = getattr(cls, "_torchish_parallel_", None)
            if par is not None:  # a DistributedDataParallel wrapper: the step runs data-parallel
                found.parallel.append(obj._torchish_parallel_())
            d = getattr(obj, "__dict__", None)
            if d is not None:
                # unregistered tensor attributes and nested stateful objects of a stateful object
                # (pushed first, so the protocol items below are visited first, as owned)
                stack.extend((v, False) for v in reversed(list(d.values())))
            stack.extend((it, True) for it in reversed(items))
            continue
        if isinstance(obj, dict):
            if owned:
                found.dicts.append(obj)
            for k, v in reversed(list(obj.items())):
                stack.append((v, owned))
                if isinstance(k, Tensor):
                    stack.append((k, owned))
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((v, owned) for v in reversed(list(obj)))
            continue
        if isinstance(obj, types.MethodType):
            stack.append((obj.__self__, False))
            stack.append((obj.__func__, False))
            continue
        if isinstance(obj, functools.partial):
            stack.extend((v, False) for v in (obj.func, obj.args, obj.keywords))
            continue
        if isinstance(obj, types.FunctionType):
            if obj.__closure__:
                for cell in obj.__closure__:
                    try:
                        stack.append((cell.cell_contents, False))
                    except ValueError:  # empty cell
                        pass
            if obj.__defaults__:
                stack.append((obj.__defaults__, False))
            if _is_library(obj.__module__):
                continue  # library globals are not user state; closures above still are
            names: set = set()
            _code_names(obj.__code__, names)
            g = obj.__globals__
            for n in sorted(names):
                if n in g:
                    stack.append((g[n], False))
            continue
        if getattr(cls, "__torchish_opaque__", False) or _is_library(cls.__module__):
            continue
        d = getattr(obj, "__dict__", None)
        if d is not None:
            stack.append((d, False))
    for t in extra_boxes:
        add_box(t, True)
    return found
