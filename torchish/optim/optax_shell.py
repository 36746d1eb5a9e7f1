"""``Optax``: any ``optax.GradientTransformation`` behind PyTorch's optimizer shell.

Each param group keeps one optax state over the list of its parameters, stored as boxes:
state leaves that belong to one parameter (``mu``, ``nu``, ...) live in ``state[param]`` under
their path in the optax state (``"[1].inner_state[0].mu"``); leaves shared by the group
(``count``) live in ``state["optax_group_<i>"]``.  Parameters are handed to optax inside a
private container node, so a leaf's path tells which parameter it belongs to.

Hyperparameters: a transformation built with ``optax.inject_hyperparams`` keeps them in its
state (``hyperparams``); the shell exposes each one as a param-group entry (``learning_rate`` as
``lr``), writes the group's value into the state before every update, and so LR schedulers,
per-group learning rates and ``torchish.compile`` (traced group numbers) all work.  Without
``inject_hyperparams`` the hyperparameters are constants of the transformation (use optax's
own schedules, which count steps in the optax state).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.tree_util import DictKey, GetAttrKey, keystr, register_pytree_with_keys, tree_flatten_with_path

from .._stateful import bump_structure
from .._tensor import wrap
from . import _num
from .optimizer import Optimizer, _hyper, _set_value, _to_array, _is_tensor_like
from .._ops import lowering

__all__ = ["Optax"]

_ALIASES = {"learning_rate": "lr"}


class _Params:
    """The parameter list as a pytree node of its own, so state paths name their parameter."""

    __slots__ = ("xs",)

    def __init__(self, xs):
        self.xs = list(xs)


class _ParamKey:
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i

    def __hash__(self):
        return hash((_ParamKey, self.i))

    def __eq__(self, other):
        return isinstance(other, _ParamKey) and other.i == self.i

    def __str__(self):
        return ""


register_pytree_with_keys(
    _Params,
    lambda p: (tuple((_ParamKey(i), x) for i, x in enumerate(p.xs)), None),
    lambda aux, children: _Params(children),
    lambda p: (tuple(p.xs), None),
)


def _leaf_kind(path):
    """``("param", index, name)``, ``("hyper", None, name)`` or ``("group", None, name)``."""
    for j, k in enumerate(path):
        if isinstance(k, _ParamKey):
            return "param", k.i, keystr(path[:j] + path[j + 1:])
    if len(path) >= 2 and isinstance(path[-1], DictKey) and path[-2] == GetAttrKey("hyperparams"):
        return "hyper", None, path[-1].key
    return "group", None, keystr(path)


class Optax(Optimizer):
    """Use an optax ``GradientTransformation`` with PyTorch ergonomics.

    Args:
        params: tensors, named tensors or param-group dicts, as for any optimizer.
        transformation: e.g. ``optax.lion(1e-4)``, ``optax.chain(optax.clip_by_global_norm(1.0),
            optax.inject_hyperparams(optax.adam)(learning_rate=1e-3))``.
        **defaults: extra param-group entries (e.g. an ``lr`` that overrides an injected
            ``learning_rate``).

    Example:
        >>> opt = torchish.optim.Optax(model.parameters(), optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3))
        >>> sched = torchish.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)  # drives group["lr"]
    """

    def __init__(self, params, transformation, **defaults):
        if not isinstance(transformation, optax.GradientTransformation):
            raise TypeError(
                "Optax expects an optax.GradientTransformation (e.g. optax.adam(1e-3)), "
                f"got {type(transformation).__name__}")
        self.transformation = transformation
        self._layouts: dict = {}
        self._fns: dict = {}
        super().__init__(params, dict(defaults))

    def _check_group(self, group) -> None:
        # Injected hyperparameters become group entries (their initial values as defaults).
        ps = [p._value() for p in group["params"]]
        if not ps:
            return
        for kind, _, name, leaf in self._layout_of(ps)[1]:
            if kind == "hyper":
                key = _ALIASES.get(name, name)
                if key not in group:
                    value = self._initial_hyper(ps, name)
                    group[key] = value
                    self.defaults.setdefault(key, value)

    def _initial_hyper(self, ps, name):
        state = self.transformation.init(_Params(ps))
        for path, leaf in tree_flatten_with_path(state)[0]:
            kind, _, n = _leaf_kind(path)
            if kind == "hyper" and n == name:
                return float(leaf)
        raise KeyError(name)

    # ------------------------------------------------------------------ layout and jitted update
    def _layout_of(self, arrays):
        key = tuple((a.shape, a.dtype) for a in arrays)
        layout = self._layouts.get(key)
        if layout is None:
            spec = _Params([jax.ShapeDtypeStruct(a.shape, a.dtype) for a in arrays])
            template = jax.eval_shape(self.transformation.init, spec)
            flat, treedef = tree_flatten_with_path(template)
            leaves = tuple(_leaf_kind(path) + (leaf,) for path, leaf in flat)
            layout = self._layouts[key] = (treedef, leaves)
        return layout

    def _fn(self, layout):
        fn = self._fns.get(id(layout))
        if fn is None:
            treedef, leaves = layout
            tx = self.transformation

            def update(h, params, grads, stored):
                it = iter(stored)
                flat = [jnp.asarray(_num.value(h[_ALIASES.get(name, name)]), leaf.dtype) if kind == "hyper"
                        else next(it) for kind, _, name, leaf in leaves]
                state = jax.tree.unflatten(treedef, flat)
                updates, state = tx.update(_Params(grads), state, _Params(params))
                new_params = [p + u.astype(p.dtype) for p, u in zip(params, updates.xs)]
                out = [x for x, (kind, *_rest) in zip(jax.tree.leaves(state), leaves) if kind != "hyper"]
                return new_params, out

            fn = self._fns[id(layout)] = lowering.jit(update)
        return fn

    def _group_key(self, group) -> str:
        for i, g in enumerate(self.param_groups):
            if g is group:
                return f"optax_group_{i}"
        raise ValueError("param group is not part of this optimizer")

    def _step_group(self, group) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        values = [p._value() for p in params]
        layout = self._layout_of(values)
        _, leaves = layout
        gkey = self._group_key(group)
        created = self._ensure_state(params, values, leaves, gkey)
        gstate = self.state[gkey]
        stored = []
        for kind, i, name, _ in leaves:
            if kind == "param":
                stored.append(self.state[params[i]][name]._value())
            elif kind == "group":
                stored.append(gstate[name]._value())
        h = {_ALIASES.get(name, name): _hyper(group[_ALIASES.get(name, name)])
             for kind, _, name, _ in leaves if kind == "hyper"}
        new_params, out = self._fn(layout)(h, values, [p.grad._value() for p in params], stored)
        for p, arr in zip(params, new_params):
            _set_value(p, arr)
        it = iter(out)
        for kind, i, name, _ in leaves:
            if kind == "hyper":
                continue
            box = self.state[params[i]][name] if kind == "param" else gstate[name]
            box._data = next(it)
            box._version += 1
        if created:
            bump_structure()

    def _ensure_state(self, params, values, leaves, gkey) -> bool:
        """Create optax state (``transformation.init``) for parameters and groups that lack it."""
        need = [i for i, p in enumerate(params) if len(self.state[p]) == 0]
        gstate = self.state[gkey]
        if not need and gstate:
            return False
        init = jax.tree.leaves(self.transformation.init(_Params(values)))
        for (kind, i, name, _), arr in zip(leaves, init):
            if kind == "param" and i in need:
                self.state[params[i]][name] = wrap(arr)
            elif kind == "group" and name not in gstate:
                gstate[name] = wrap(arr)
        return True

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        for k, v in list(self.state.items()):
            if isinstance(k, str) and k.startswith("optax_group_"):
                self.state[k] = {n: (wrap(_to_array(x)) if _is_tensor_like(x) else x) for n, x in v.items()}
