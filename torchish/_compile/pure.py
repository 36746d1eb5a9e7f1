"""``make_pure``: the user's stateful function as a pure function of arrays.

``pure(box_arrays, grad_arrays, numbers, args)`` puts tracers into the boxes (and their
``.grad`` boxes and the number slots), runs the user's function unchanged, reads the boxes
back, finds state created during the run, and in a ``finally`` restores every box, grad and
number to its previous concrete value (so an exception never leaks a tracer, and dict entries
a failed run added are removed).
"""

from __future__ import annotations

import gc
import weakref

import jax

from .._autograd.grad_mode import no_grad
from .._stateful import TRACE
from .._tensor import Tensor
from ..errors import TracerLeakError
from .discovery import discover

_Tracer = jax.core.Tracer


class TraceInfo:
    """What one trace learned."""

    __slots__ = ("grad_out", "num_changed", "new_boxes", "out_tree", "out_kinds", "out_static", "log",
                 "outputs_require_grad", "single")


def make_pure(compiled, entry, roots, diff: bool = False):
    fn = compiled.fn
    boxes = entry.boxes

    def pure(box_in, grad_in, num_in, dyn):
        compiled._traces += 1
        info = TraceInfo()
        prev_log = TRACE.log
        TRACE.log = log = []
        saved = [(b._data, b._grad, b._grad_fn, b._requires_grad, b.__dict__.get("_output_nr")) for b in boxes]
        saved_grad = [(b._grad, b._grad._data) for b in boxes if b._grad is not None]
        saved_nums = [c[k] for c, k in entry.numbers]
        snapshot = [(d, set(d.keys())) for d in entry.dicts]
        ok = False
        try:
            for b, a, g in zip(boxes, box_in, grad_in):
                b._data = a
                b._v += 1
                if g is not None:
                    b._grad._data = g
            placed = []
            for (c, k), v in zip(entry.numbers, num_in):
                v = tuple(v) if isinstance(v, list) else v
                c[k] = v
                placed.append(v)
            args, kwargs = _rebuild(entry, dyn)
            if diff:
                with no_grad():  # gradients come from jax.vjp of this whole function
                    result = fn(*args, **kwargs)
            else:
                result = fn(*args, **kwargs)
            # ---- the new state
            box_out = [b._value() for b in boxes]
            if diff:
                grad_out = [None] * len(boxes)
            else:
                grad_out = [None if b._grad is None else b._grad._value() for b in boxes]
            info.grad_out = tuple(g is not None for g in grad_out)
            num_out, changed = [], []
            for i, ((c, k), v) in enumerate(zip(entry.numbers, placed)):
                nv = c[k]
                if nv is not v:
                    changed.append(i)
                    num_out.append(list(nv) if isinstance(nv, tuple) else nv)
            info.num_changed = tuple(changed)
            # ---- state created during the run (optimizer state on the first step, ...)
            new = []
            if roots is not None:
                found = discover(roots)
                new = [b for b in found.boxes if id(b) not in entry.box_ids and isinstance(b._data, _Tracer)]
                leaks = [b for b in new if id(b) not in found.owned]
                if leaks:
                    raise TracerLeakError(_leak_msg(leaks[0]))
            info.new_boxes = new
            new_out = [b._data for b in new]
            # ---- outputs
            leaves, tree = jax.tree_util.tree_flatten(result, is_leaf=lambda x: isinstance(x, Tensor))
            kinds, static, outs = [], [], []
            needs_grad = False
            for x in leaves:
                if isinstance(x, Tensor):
                    idx = entry.box_ids.get(id(x))
                    if idx is not None:
                        kinds.append("box")
                        static.append(idx)
                    else:
                        kinds.append("t")
                        static.append(None)
                        outs.append(x._value())
                        needs_grad = needs_grad or x._requires_grad
                elif isinstance(x, (jax.Array, _Tracer)):
                    kinds.append("a")
                    static.append(None)
                    outs.append(x)
                else:
                    kinds.append("s")
                    static.append(x)
            info.out_tree, info.out_kinds, info.out_static = tree, tuple(kinds), tuple(static)
            # the common result, one tensor (a loss): rebuilt without the pytree
            info.single = info.out_kinds == ("t",) and tree.num_leaves == 1 and tree.num_nodes == 1
            info.outputs_require_grad = needs_grad
            entry.info = info
            ok = True
            if diff:
                return tuple(outs) + tuple(box_out)
            return box_out, grad_out, num_out, new_out, outs
        finally:
            TRACE.log = prev_log
            info.log = [(weakref.ref(e[0]),) + tuple(e[1:]) for e in log]
            for b, (d, g, gf, rg, onr) in zip(boxes, saved):
                b._data, b._grad, b._grad_fn, b._requires_grad = d, g, gf, rg
                if onr is None:
                    b.__dict__.pop("_output_nr", None)
                else:
                    b.__dict__["_output_nr"] = onr
                b._v += 1
            for g, d in saved_grad:
                g._data = d
            for (c, k), v in zip(entry.numbers, saved_nums):
                c[k] = v
            if not ok:
                for d, keys in snapshot:
                    for k in [k for k in d if k not in keys]:
                        del d[k]

    if not diff:
        return pure

    n_b = len(boxes)
    shapes = [len(v) if isinstance(v, tuple) else -1 for v in (c[k] for c, k in entry.numbers)]

    def diff_impl(*flat):
        """Flat form for the op registry: (boxes..., numbers..., args...) -> (outputs..., boxes...)."""
        box_in = list(flat[:n_b])
        pos = n_b
        num_in = []
        for s in shapes:
            if s < 0:
                num_in.append(flat[pos])
                pos += 1
            else:
                num_in.append(list(flat[pos:pos + s]))
                pos += s
        return pure(box_in, [None] * n_b, num_in, list(flat[pos:]))

    return diff_impl


def _rebuild(entry, dyn):
    from .compiled import rebuild_args

    return rebuild_args(*entry.spec, dyn, entry.boxes)


def missed_state(log, entry):
    """Logged boxes still alive and holding tracers (state that discovery did not find):
    restore their pre-trace values and return them."""

    def bad():
        out = {}
        for e in log:
            b = e[0]()
            if b is None or id(b) in entry.box_ids:
                continue
            g = b._grad
            if isinstance(b._data, _Tracer) or (g is not None and isinstance(g._data, _Tracer)):
                out[id(b)] = b
        return out

    if not bad():
        return []
    gc.collect()  # temporaries in reference cycles (tensor <-> grad node) are not state
    missed = bad()
    for e in reversed(log):  # restore the oldest logged values last
        b = e[0]()
        if b is None or id(b) not in missed:
            continue
        if e[1] == "data":
            b._data = e[2]
        else:
            b._grad = e[2]
            if e[2] is not None:
                e[2]._data = e[3]
    return list(missed.values())


def _leak_msg(t) -> str:
    return (
        f"A tensor of shape {tuple(t.shape)} computed inside torchish.compile was stored outside the tracked state.\n"
        "  Pattern:  `self.last_out = out`, `history.append(loss)` or a global assignment inside the compiled "
        "function keeps a traced value that does not exist after the call.\n"
        "  Fix:      return the value from the compiled function and store it outside, or register it as state "
        "(module.register_buffer(name, tensor) and update it in place with .copy_())."
    )
