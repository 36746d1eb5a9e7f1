"""The tape: ``Node`` and the backward engine.

A Node is one recorded op.  It holds the arrays its backward needs and, for each input that
requires grad, an *edge* ``(node, output_nr)`` to the node that produced that input (a leaf's
edge points to its ``AccumulateGrad`` node).  ``run_backward`` sorts the reachable nodes
topologically, calls each once with the summed cotangents of its outputs, and passes the input
cotangents along the edges.  That is the whole engine (micrograd's, with PyTorch's hooks).

Eager nodes call the op's cached, jitted VJP (``Op.vjp``), which recomputes what it needs from
the saved inputs inside one XLA program.  Nodes recorded while tracing (inside
``torchish.compile`` or a ``jax`` transform) hold the pullback from ``jax.vjp`` instead, so the
traced program contains exactly the forward and backward that ``jax.grad`` would produce.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._stateful import GRADS, TRACE
from . import grad_mode

FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_store", "_key")

    def __init__(self, store: dict, key):
        self._store, self._key = store, key

    def remove(self) -> None:
        self._store.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_hook_ids = iter(range(1 << 62))


def add_hook(store: dict, fn) -> RemovableHandle:
    key = next(_hook_ids)
    store[key] = fn
    return RemovableHandle(store, key)


class Node:
    """A recorded op.  ``next_functions`` are the edges to the producers of its inputs."""

    __slots__ = ("op", "static", "mask", "saved", "vjp_fn", "edges", "n_out", "out_meta", "multi",
                 "pre_hooks", "hooks", "_freed", "__weakref__", "metadata")

    def __init__(self, op, static, mask, saved, vjp_fn, edges, n_out, out_meta=None, multi=False):
        self.op = op
        self.static = static
        self.mask = mask
        self.saved = saved  # (diff_arrays, other_arrays) for eager nodes, else None
        self.vjp_fn = vjp_fn  # jax.vjp pullback for traced nodes, else None
        self.edges = edges
        self.n_out = n_out
        self.out_meta = out_meta  # ((shape, dtype), ...) of the outputs, for zero cotangents
        self.multi = multi  # the op returns a tuple (even of one array)
        self.pre_hooks = None  # {output_nr: {id: fn}} tensor hooks on non-leaf outputs
        self.hooks = None
        self._freed = False
        self.metadata = None

    def name(self) -> str:
        n = self.op.name if self.op is not None else "Custom"
        return "".join(p.capitalize() for p in n.split("_")) + "Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` runs after this node computed its input grads."""
        if self.hooks is None:
            self.hooks = {}
        return add_hook(self.hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` runs before this node; it may return replacement grads."""
        return self._add_pre(-1, fn)

    def _add_pre(self, output_nr, fn):
        if self.pre_hooks is None:
            self.pre_hooks = {}
        return add_hook(self.pre_hooks.setdefault(output_nr, {}), fn)

    def apply(self, cts):
        """Input cotangents (one per edge) from output cotangents (None where none arrived)."""
        if self._freed:
            raise RuntimeError(FREED_MSG)
        if self.vjp_fn is not None:
            if self.multi:
                return self.vjp_fn(tuple(_zeros(m) if c is None else c for c, m in zip(cts, self.out_meta)))
            return self.vjp_fn(cts[0])
        diff, rest = self.saved
        return self.op.vjp(self.static, self.mask)(diff, rest, tuple(cts))

    def release(self):
        self.saved = self.vjp_fn = None
        self._freed = True


def _zeros(meta):
    shape, dtype = meta
    if jnp.issubdtype(dtype, jnp.inexact):
        return jnp.zeros(shape, dtype)
    return jnp.zeros(shape, jax.dtypes.float0)


class AccumulateGrad(Node):
    """The sink for a leaf tensor: runs the leaf's hooks and adds into ``leaf.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        super().__init__(None, (), (), None, None, (), 1)
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def apply(self, cts):
        return ()


class FunctionNode(Node):
    """A node whose backward is user Python code (``torchish.autograd.Function``)."""

    __slots__ = ("backward_fn", "fn_name", "ctx")

    def __init__(self, backward_fn, edges, n_out, out_meta, fn_name, ctx=None):
        super().__init__(None, (), (), None, None, edges, n_out, out_meta)
        self.backward_fn = backward_fn
        self.fn_name = fn_name
        self.ctx = ctx

    def name(self) -> str:
        return f"{self.fn_name}Backward"

    def apply(self, cts):
        if self._freed:
            raise RuntimeError(FREED_MSG)
        if self.ctx is None or self.ctx.materialize_grads:
            cts = tuple(_zeros(m) if c is None and m[1] is not None else c for c, m in zip(cts, self.out_meta))
        return self.backward_fn(cts)

    def release(self):
        self._freed = True
        self.backward_fn = None
        if self.ctx is not None:
            self.ctx._freed = True


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _topo_order(roots):
    """Nodes reachable from ``roots`` in an order where every node precedes its inputs."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.edges))]
        while stack:
            node, it = stack[-1]
            for e in it:
                if e is not None and id(e[0]) not in seen:
                    seen.add(id(e[0]))
                    stack.append((e[0], iter(e[0].edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


class _Runs:
    __slots__ = ("count",)

    def __init__(self):
        self.count = 0


RUNS = _Runs()  # number of backward passes so far (torchish.compile tells training steps from forwards)


def run_backward(roots, root_grads, *, retain_graph: bool, capture=None, accumulate: bool = True,
                 only_leaves=None):
    """Propagate ``root_grads`` from ``roots`` (a list of ``(node, output_nr)`` edges).

    ``capture``: ``{(id(node), output_nr): slot}``; the total cotangent arriving at each such
    edge is stored in ``captured[slot]`` (``autograd.grad``).  ``accumulate``: add into leaves'
    ``.grad``.  ``only_leaves``: if given, a set of ids of the AccumulateGrad nodes to update.
    """
    RUNS.count += 1
    buffers: dict[int, list] = {}
    for (node, nr), g in zip(roots, root_grads):
        buf = buffers.setdefault(id(node), [None] * node.n_out)
        buf[nr] = _add(buf[nr], g)
    captured = {}
    state = grad_mode.STATE
    prev_mode = state.enabled
    state.enabled = False  # backward computations are never recorded
    try:
        for node in _topo_order([n for n, _ in roots]):
            cts = buffers.pop(id(node), None)
            if cts is None:
                continue
            if node.pre_hooks:
                cts = _run_pre_hooks(node, cts)
            if node.metadata is not None and "retain" in node.metadata:
                _retain(node.metadata["retain"], cts)
            if capture is not None:
                for nr, c in enumerate(cts):
                    slot = capture.get((id(node), nr))
                    if slot is not None and c is not None:
                        captured[slot] = _add(captured.get(slot), c)
            if type(node) is AccumulateGrad:
                if accumulate and (only_leaves is None or id(node) in only_leaves):
                    _accumulate(node.variable, cts[0])
                continue
            grads = node.apply(cts)
            if node.hooks:
                grads = _run_post_hooks(node, grads, cts)
            if not retain_graph:
                node.release()
            # NOTE: only floating inputs have edges, so every cotangent here is a float array.
            for e, g in zip(node.edges, grads):
                if g is None:
                    continue
                nxt, nr = e
                k = id(nxt)
                buf = buffers.get(k)
                if buf is None:
                    if nxt.n_out == 1:
                        buffers[k] = [g]
                        continue
                    buf = buffers[k] = [None] * nxt.n_out
                old = buf[nr]
                buf[nr] = g if old is None else old + g
    finally:
        state.enabled = prev_mode
    return captured


# NOTE: hooks receive Tensors, a level-3 type; ``_tensor`` installs its constructor here.
wrap = None


def _run_pre_hooks(node, cts):
    cts = list(cts)

    for nr, hooks in node.pre_hooks.items():
        if nr < 0 or cts[nr] is None:
            continue
        for h in list(hooks.values()):
            r = h(wrap(cts[nr]))
            if r is not None:
                cts[nr] = r._data if hasattr(r, "_data") else r
    if -1 in node.pre_hooks:
        for h in list(node.pre_hooks[-1].values()):
            r = h(tuple(wrap(c) if c is not None else None for c in cts))
            if r is not None:
                cts = [x._data if hasattr(x, "_data") else x for x in r]
    return cts


def _run_post_hooks(node, grads, cts):
    """``hook(grad_inputs, grad_outputs)`` with Tensors (or None), as PyTorch's Node hooks."""
    def tens(xs):
        return tuple(None if x is None else wrap(x) for x in xs)

    for h in list(node.hooks.values()):
        r = h(tens(grads), tens(cts))
        if r is not None:
            grads = tuple(None if x is None else (x._data if hasattr(x, "_data") else x) for x in r)
    return grads


def _retain(tensors, cts):
    for nr, t in tensors.items():
        c = cts[nr]
        if c is not None:
            t._grad = wrap(c) if t._grad is None else wrap(t._grad._data + c)


def _accumulate(leaf, g):
    if leaf._hooks:
        for h in list(leaf._hooks.values()):
            r = h(wrap(g))
            if r is not None:
                g = r._data if hasattr(r, "_data") else r
    if g.dtype != leaf._data.dtype:
        g = g.astype(leaf._data.dtype)
    if TRACE.log is not None and not isinstance(leaf._data, jax.core.Tracer):
        # a leaf that holds a concrete value is not part of the traced state: log it (see _compile)
        TRACE.log.append((leaf, "grad", leaf._grad, None if leaf._grad is None else leaf._grad._data))
    if leaf._grad is None:
        leaf._grad = wrap(g)
        GRADS.value += 1
    else:
        leaf._grad._data = leaf._grad._data + g
        leaf._grad._v += 1
    if leaf._post_accumulate_hooks:
        for h in list(leaf._post_accumulate_hooks.values()):
            h(leaf)
