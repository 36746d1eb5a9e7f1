"""``torchish.compile``: the state swap (see README.md in this package).

One ``Compiled`` object wraps the user's function.  Per *program key* (which boxes, their
shapes/dtypes, ``.grad`` presence, static flags such as ``Module.training``, grad mode, the
argument structure) it holds an ``_Entry``: the ordered boxes and number slots, and
``jax.jit(pure)`` where ``pure`` runs the user's function on tracers placed in those boxes.

The fast path of a call, once an entry exists: one integer compare (the global structure
version), a flatten of the arguments, one jitted call with the state donated, and a loop that
writes the new arrays into the boxes.  No device synchronisation: the call returns while the
device works.
"""

from __future__ import annotations

import collections
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.core import trace_state_clean as _trace_state_clean
from jax.extend.core import Literal as _Literal

from .. import _random
from .._autograd import graph as _graph
from .._autograd.grad_mode import STATE as _GRAD
from .._autograd.grad_mode import no_grad
from .._ops import Op, lowering
from .._stateful import GRADS, STRUCTURE
from .._tensor import Tensor, apply_op, wrap
from ..errors import CompileError, TracedValueError
from . import packing
from . import parallel as _parallel
from .discovery import discover
from .pure import TraceInfo, make_pure, missed_state

CacheInfo = collections.namedtuple("CacheInfo", ["traces", "entries", "calls", "fallbacks"])

_FALLBACK_ERRORS = (
    TracedValueError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
)


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _hashable(x):
    try:
        hash(x)
        return x
    except TypeError:
        return ("<id>", id(x))


class Args:
    """The user's (args, kwargs) split into static structure and dynamic leaves."""

    __slots__ = ("tree", "kinds", "dyn", "tensors")

    def __init__(self, args, kwargs, box_ids):
        leaves, self.tree = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_tensor)
        kinds, dyn, tensors = [], [], []
        for x in leaves:
            if isinstance(x, Tensor):
                root = x._base if x._base is not None else x
                idx = box_ids.get(id(root))
                if idx is not None and root is x:
                    kinds.append(("box", idx))
                else:
                    kinds.append(("t", x._requires_grad))
                    dyn.append(x._value())
                    tensors.append(x)
            elif isinstance(x, (jax.Array, np.ndarray)):
                kinds.append(("a", None))
                dyn.append(x)
                tensors.append(x)
            elif type(x) is float:
                kinds.append(("f", None))
                dyn.append(x)
                tensors.append(x)
            else:
                kinds.append(("s", _hashable(x)))
        self.kinds = tuple(kinds)
        self.dyn = dyn
        self.tensors = tensors

    def rebuild(self, dyn, boxes):
        return rebuild_args(self.tree, self.kinds, dyn, boxes)


class _PlainArgs:
    """``Args`` of positional tensors that need no grad (the fast path builds it without flattening)."""

    __slots__ = ("dyn", "tensors")

    def __init__(self, dyn, tensors):
        self.dyn = dyn
        self.tensors = list(tensors)


def rebuild_args(tree, kinds, dyn, boxes):
    it = iter(dyn)
    leaves = []
    for kind, v in kinds:
        if kind == "box":
            leaves.append(boxes[v])
        elif kind == "t":
            t = wrap(next(it))
            if v:
                t._requires_grad = True
            leaves.append(t)
        elif kind in ("a", "f"):
            leaves.append(next(it))
        else:
            leaves.append(v[1] if isinstance(v, tuple) and len(v) == 2 and v[0] == "<id>" else v)
    return jax.tree_util.tree_unflatten(tree, leaves)


class _Entry:
    """One compiled program and the state it reads and writes."""

    __slots__ = ("boxes", "box_ids", "numbers", "num_cache", "dicts", "spec", "jitted", "info", "mode", "op", "scan",
                 "parallel", "io", "pure", "presence", "flags")

    def __init__(self, boxes, numbers, dicts, spec):
        self.boxes = boxes
        self.box_ids = {id(b): i for i, b in enumerate(boxes)}
        # (parts of the key: which boxes have a .grad, which require grad)
        self.presence = [b._grad is not None for b in boxes]
        self.flags = [b._requires_grad for b in boxes]
        self.numbers = numbers
        self.num_cache = [None] * len(numbers)  # (python value, device array) per number slot
        self.dicts = dicts
        self.spec = spec  # (tree, kinds) of the arguments
        self.jitted = None
        self.info: TraceInfo | None = None
        self.mode = "step"  # or "diff": the call is one node on the eager tape
        self.op = None
        self.scan = None
        self.parallel = False
        self.pure = None
        self.io = None  # _WrittenIO: the program that reads all state but returns only what it writes


class Compiled:
    """A function whose every call runs as one XLA program (see ``torchish.compile``)."""

    _parallel = None  # torchish.pmap sets a DataParallelSpec (parallel.py)

    def __init__(self, fn, *, fullgraph=False, donate=True, steps_per_call=1):
        if int(steps_per_call) < 1:
            raise ValueError(f"steps_per_call must be a positive integer, got {steps_per_call}")
        self.fn = fn
        self.fullgraph = fullgraph
        self.donate = donate
        self.steps_per_call = int(steps_per_call)
        self._entries: dict = {}
        self._fast = None
        self._traces = 0
        self._calls = 0
        self._fallbacks = 0
        self._eager_reason = None
        self._adopted: list = []  # boxes found by the trace log that discovery missed
        self._warm = False  # steps_per_call: state has settled, the scanned program can run
        self._plain_n = -1  # the fast path's arguments are this many plain tensors (no flatten needed)
        try:
            functools.update_wrapper(self, fn, updated=())
        except AttributeError:
            pass

    # ------------------------------------------------------------------------- public
    def cache_info(self) -> CacheInfo:
        """Traces made, programs cached, calls, and eager fallbacks."""
        return CacheInfo(self._traces, len(self._entries), self._calls, self._fallbacks)

    def cache_clear(self) -> None:
        self._entries.clear()
        self._fast = None

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    def __repr__(self) -> str:
        return f"<torchish.compile of {getattr(self.fn, '__qualname__', self.fn)!r}>"

    def __call__(self, *args, **kwargs):
        self._calls += 1
        if self._eager_reason is not None:
            return self._eager(args, kwargs)
        if self.steps_per_call > 1:
            return self._call_k(args, kwargs)
        fast = self._fast
        if fast is not None and fast[0] == STRUCTURE.value and fast[1] == _GRAD.enabled:
            entry = fast[3]
            if fast[4] != GRADS.value:  # a .grad or requires_grad flag changed somewhere: still this program?
                boxes = entry.boxes
                if [b._grad is not None for b in boxes] != entry.presence or \
                        [b._requires_grad for b in boxes] != entry.flags:
                    return self._slow_call(args, kwargs)
                self._fast = fast = fast[:4] + (GRADS.value,)
            if not kwargs and len(args) == self._plain_n:
                # the common case, positional tensors that need no grad: no pytree flatten
                dyn = []
                ids = entry.box_ids
                for x in args:
                    if type(x) is not Tensor or x._requires_grad or id(x) in ids:
                        break
                    dyn.append(x._data if x._base is None else x._sync())
                else:
                    io = entry.io
                    if io is not None and entry.info is not None and _trace_state_clean():
                        return self._run_io(entry, io, dyn, args, kwargs)
                    return self._run(entry, _PlainArgs(dyn, args), args, kwargs)
            a = Args(args, kwargs, entry.box_ids)
            if a.tree == fast[2][0] and a.kinds == fast[2][1]:
                return self._run(entry, a, args, kwargs)
        return self._slow_call(args, kwargs)

    # ------------------------------------------------------------------------- slow path
    def _roots(self, args, kwargs):
        # Tensors passed as arguments are inputs, not state; stateful objects passed are walked.
        leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_tensor)
        return [self.fn, _random.default_generator] + [x for x in leaves if not isinstance(x, Tensor)]

    def _entry_for(self, args, kwargs):
        found = discover(self._roots(args, kwargs), self._adopted)
        boxes = found.boxes
        box_ids = {id(b): i for i, b in enumerate(boxes)}
        # leaf tensors passed as arguments that require grad are state too (their .grad is written back)
        for x in jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_tensor):
            if isinstance(x, Tensor) and x._requires_grad and x._grad_fn is None and x._base is None \
                    and id(x) not in box_ids:
                box_ids[id(x)] = len(boxes)
                boxes.append(x)
        a = Args(args, kwargs, box_ids)
        par = _parallel.spec_for(self, found)  # data parallelism (parallel.py); None: one device
        key = (
            tuple((id(b), b._data.shape, str(b._data.dtype), b._grad is not None, b._requires_grad) for b in boxes),
            tuple((id(c), k) for c, k in found.numbers),
            tuple(_hashable(s) for s in found.statics),
            _GRAD.enabled, a.tree, a.kinds, par,
        )
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(boxes, found.numbers, found.dicts, (a.tree, a.kinds))
            roots = self._roots(args, kwargs)
            if par is not None:  # hook: a data-parallel program over a device mesh (see parallel.py)
                entry.jitted = _parallel.build(self, entry, roots, par, found)
                entry.parallel = True
            else:
                entry.pure = make_pure(self, entry, roots)
                entry.jitted = lowering.jit(entry.pure,
                                       donate_argnums=(0, 1) if self.donate else (),
                                       # a grad input the step discards (zero_grad first) is still donated
                                       keep_unused=True)
            self._entries[key] = entry
        _dedupe_arrays(entry.boxes)
        return entry, a

    def _slow_call(self, args, kwargs):
        self._fast = None
        entry, a = self._entry_for(args, kwargs)
        version, grads = STRUCTURE.value, GRADS.value
        out = self._run(entry, a, args, kwargs)
        # The run may have created state (first backward / optimizer step): then the version
        # moved and the next call re-keys.  A nested slow call (after adopting missed state)
        # has already set the fast path.
        if self._fast is None and self._eager_reason is None:
            self._fast = (version, _GRAD.enabled, entry.spec, entry, grads)
            plain = not kwargs and all(k == ("t", False) for k in a.kinds) and len(a.kinds) == len(args)
            self._plain_n = len(args) if plain else -1
        return out

    # ------------------------------------------------------------------------- run
    def _inputs(self, entry):
        boxes = entry.boxes
        box_in = [b._data for b in boxes]
        grad_in = [None if b._grad is None else b._grad._data for b in boxes]
        return box_in, grad_in, self._num_inputs(entry)

    @staticmethod
    def _num_inputs(entry):
        # NOTE: Python numbers are turned into (weakly typed) device arrays once and reused while
        # the slot holds the same object: a Python scalar argument costs a host-to-device
        # transfer on every call.
        cache = entry.num_cache
        num_in = []
        for i, (c, k) in enumerate(entry.numbers):
            v = c[k]
            hit = cache[i]
            if hit is not None and hit[0] is v:
                num_in.append(hit[1])
                continue
            arr = [_as_num(x) for x in v] if isinstance(v, tuple) else _as_num(v)
            cache[i] = (v, arr)
            num_in.append(arr)
        return num_in

    def _first_trace(self, entry, inputs, a, args, kwargs):
        """Trace ahead of time (nothing runs, nothing is donated): a failed or incomplete trace
        leaves every box intact.  Returns a result if the call was handled otherwise."""
        runs = _graph.RUNS.count
        try:
            traced = entry.jitted.trace(*inputs, a.dyn)
        except _FALLBACK_ERRORS as e:
            return True, self._fallback(e, a, args, kwargs)
        info = entry.info
        log, info.log = info.log, None
        missed = missed_state(log, entry) if log else []
        if missed:
            # In-place updates of tensors that discovery did not find: restored; adopt them as
            # state and build a program that includes them.
            self._adopted.extend(missed)
            self._entries = {k: e for k, e in self._entries.items() if e is not entry}
            self._fast = None
            STRUCTURE.value += 1
            return True, self._slow_call(args, kwargs)
        if _graph.RUNS.count == runs and _GRAD.enabled and info.outputs_require_grad:
            # A forward (no backward inside) whose outputs need gradients: the call becomes one
            # node on the eager tape (see _run_diff).
            entry.mode = "diff"
            entry.op = Op(f"compiled_{getattr(self.fn, '__name__', 'fn')}", make_pure(self, entry, self._roots(args, kwargs), diff=True))
        elif not entry.parallel:
            entry.io = _WrittenIO(self, entry, traced)
            if entry.io.convolutions:  # the full program (kept as a fallback) gets the same options
                entry.jitted = lowering.jit(entry.pure, donate_argnums=(0, 1) if self.donate else (),
                                            keep_unused=True, convolutions=True)
        return False, None

    def _run(self, entry, a, args, kwargs):
        if entry.info is None:
            handled, result = self._first_trace(entry, self._inputs(entry), a, args, kwargs)
            if handled:
                return result
        io = entry.io
        if io is not None and _trace_state_clean():  # the usual case: the program reduced to the state it writes
            return self._run_io(entry, io, a.dyn, args, kwargs)
        traces = self._traces
        inputs = self._inputs(entry)
        if entry.mode == "diff":
            return self._run_diff(entry, inputs, a)
        try:
            box_out, grad_out, num_out, new_out, outs = entry.jitted(*inputs, a.dyn)
        except _FALLBACK_ERRORS as e:
            return self._fallback(e, a, args, kwargs)
        self._check_retrace(entry, traces)
        self._write_back(entry, box_out, grad_out, num_out, new_out)
        return _rebuild_outputs(entry.info, outs, entry.boxes)

    def _run_io(self, entry, io, dyn, args, kwargs):
        """The fast path's one jitted call (kept short: it is most of a small step's host time)."""
        traces = self._traces
        num_in = self._num_inputs(entry) if entry.numbers else []
        spacks = io.spacks
        try:
            b_out, s_out, g_out, g_packed, num_out, new_out, outs = io.program(
                [b._data for b in io.b_don], [p.input() for p in spacks], [b._grad._data for b in io.g_don],
                [b._data for b in io.b_keep], [b._grad._data for b in io.g_keep], num_in, dyn)
        except _FALLBACK_ERRORS as e:
            return self._fallback(e, Args(args, kwargs, entry.box_ids), args, kwargs)
        except _WritesMore:
            entry.io = None  # from now on every box goes in and out (the full program)
            return self._run(entry, Args(args, kwargs, entry.box_ids), args, kwargs)
        if self._traces != traces:
            self._check_retrace(entry, traces)
        for b, arr in zip(io.b_don, b_out):
            b._data = arr
            b._v += 1
        for p, buf in zip(spacks, s_out):
            p.written(buf)
        changed = _write_grads(io.g_out, g_out, io.g_none)
        if g_packed:
            changed = io.write_grad_packs(g_packed) or changed
        info = entry.info
        if changed or num_out or new_out:
            _write_numbers_and_new(entry, num_out, new_out, changed)
        if info.single:
            return wrap(outs[0])
        return _rebuild_outputs(info, outs, entry.boxes)

    def _check_retrace(self, entry, traces):
        info = entry.info
        if self._traces != traces and info.log and missed_state(info.log, entry):
            raise CompileError(
                "torchish.compile found tensors changed in place that are not reachable state while retracing "
                "for new shapes; pass them to the function as arguments or register them as module buffers."
            )

    def _write_back(self, entry, box_out, grad_out, num_out, new_out):
        info = entry.info
        for b, arr in zip(entry.boxes, box_out):
            b._data = arr
            b._v += 1
        pairs = list(zip(entry.boxes, grad_out))
        changed = _write_grads([b for b, g in pairs if g is not None], [g for _, g in pairs if g is not None],
                               [b for b, g in pairs if g is None])
        _write_numbers_and_new(entry, num_out, new_out, changed)


    def _run_diff(self, entry, inputs, a):
        """Run a compiled forward as one op, so the eager tape can differentiate through it."""
        box_in, _, num_in = inputs
        n_b = len(entry.boxes)
        flat_nums = [x for v in num_in for x in (v if isinstance(v, list) else [v])]
        res = apply_op(entry.op, (), *entry.boxes, *flat_nums, *a.tensors)
        res = res if isinstance(res, tuple) else (res,)
        outs, box_out = res[: len(res) - n_b], res[len(res) - n_b:]
        for b, t in zip(entry.boxes, box_out):
            b._data = t._data
            b._v += 1
        info = entry.info
        it = iter(outs)
        leaves = []
        for kind, v in zip(info.out_kinds, info.out_static):
            if kind in ("t", "a"):
                leaves.append(next(it))
            elif kind == "box":
                leaves.append(entry.boxes[v])
            else:
                leaves.append(v)
        return jax.tree_util.tree_unflatten(info.out_tree, leaves)

    # ------------------------------------------------------------------------- K steps per call
    def _call_k(self, args, kwargs):
        """Run ``steps_per_call`` steps over arguments stacked on a leading axis, in one program."""
        K = self.steps_per_call
        leaves, tree = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_tensor)
        for x in leaves:
            if isinstance(x, (Tensor, jax.Array, np.ndarray)) and (x.ndim == 0 or x.shape[0] != K):
                raise ValueError(
                    f"torchish.compile(steps_per_call={K}) expects every tensor argument stacked with a leading axis "
                    f"of size {K}, got shape {tuple(x.shape)}"
                )
        if not self._warm:
            # Until the state settles (lazily created .grad and optimizer state), run the K steps one
            # at a time through single-step programs.
            outs = []
            for i in range(K):
                sl = jax.tree_util.tree_unflatten(tree, [x[i] if isinstance(x, (Tensor, jax.Array, np.ndarray)) else x for x in leaves])
                v = (STRUCTURE.value, GRADS.value)
                self._fast = None
                entry, a = self._entry_for(*sl)
                outs.append(self._run(entry, a, *sl))
                if self._eager_reason is not None:
                    return _stack_outputs(outs)
                if (STRUCTURE.value, GRADS.value) == v:
                    self._warm = True
            return _stack_outputs(outs)
        fast = self._fast
        if fast is None or fast[0] != STRUCTURE.value or fast[1] != _GRAD.enabled or fast[4] != GRADS.value:
            sl = jax.tree_util.tree_unflatten(tree, [x[0] if isinstance(x, (Tensor, jax.Array, np.ndarray)) else x for x in leaves])
            entry, _ = self._entry_for(*sl)
            if entry.info is None or entry.mode != "step":
                self._warm = False
                return self._call_k(args, kwargs)
            self._fast = (STRUCTURE.value, _GRAD.enabled, entry.spec, entry, GRADS.value)
        entry = self._fast[3]
        a = Args(args, kwargs, entry.box_ids)
        if entry.scan is None:
            entry.scan = _make_scan(self, entry)
        box_in, grad_in, num_in = self._inputs(entry)
        box_out, grad_out, num_out, outs = entry.scan(box_in, grad_in, num_in, a.dyn)
        info = entry.info
        self._write_back(entry, box_out, grad_out, [num_out[i] for i in info.num_changed], [])
        return _rebuild_outputs(info, outs, entry.boxes)

    # ------------------------------------------------------------------------- eager fallback
    def _fallback(self, err, a, args, kwargs):
        if self.fullgraph:
            if isinstance(err, TracedValueError):
                raise err
            raise TracedValueError(_jax_msg(err)) from err
        reason = str(err).strip().splitlines()[0] if str(err) else type(err).__name__
        self._eager_reason = reason
        self._fallbacks += 1
        warnings.warn(
            f"torchish.compile({getattr(self.fn, '__qualname__', 'fn')}) falls back to eager execution: the "
            f"function needs concrete tensor values while tracing ({reason}). Use fullgraph=True to get an error "
            "instead, or keep values as tensors (torchish.where instead of `if`, no .item()).",
            UserWarning, stacklevel=4,
        )
        return self._eager(args, kwargs)

    def _eager(self, args, kwargs):
        if self.steps_per_call > 1:
            leaves, tree = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_tensor)
            outs = []
            for i in range(self.steps_per_call):
                a, k = jax.tree_util.tree_unflatten(tree, [x[i] if isinstance(x, (Tensor, jax.Array, np.ndarray)) else x for x in leaves])
                outs.append(self.fn(*a, **k))
            return _stack_outputs(outs)
        return self.fn(*args, **kwargs)


def _as_num(x):
    """A Python number as a weakly typed 0-d array (the type JAX gives a Python scalar argument)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return jnp.asarray(x)
    return x


def _jax_msg(err) -> str:
    from .._tensor import _traced_msg

    return _traced_msg("Python control flow or a conversion on a traced value") + f"\n  (JAX: {str(err).splitlines()[0]})"


def _dedupe_arrays(boxes) -> None:
    """Two boxes holding the same array cannot both be donated: give one of them a copy."""
    seen = set()
    for b in boxes:
        for t in (b, b._grad):
            if t is None or t._packed:  # (its array is part of a packed buffer)
                continue
            i = id(t._data)
            if i in seen:
                t._data = jnp.array(t._data, copy=True)
            else:
                seen.add(i)


def _rebuild_outputs(info, outs, boxes):
    if info.out_kinds == ("t",) and info.out_tree.num_leaves == 1 and info.out_tree.num_nodes == 1:
        return wrap(outs[0])  # a single tensor (a loss): the common case
    it = iter(outs)
    leaves = []
    for kind, v in zip(info.out_kinds, info.out_static):
        if kind == "t":
            leaves.append(wrap(next(it)))
        elif kind == "box":
            leaves.append(boxes[v])
        elif kind == "a":
            leaves.append(next(it))
        else:
            leaves.append(v)
    return jax.tree_util.tree_unflatten(info.out_tree, leaves)


def _stack_outputs(outs):
    def stack(*xs):
        if isinstance(xs[0], Tensor):
            from .._functions.shape import stack as tstack

            return tstack(list(xs))
        if isinstance(xs[0], jax.Array):
            return jnp.stack(xs)
        return list(xs)

    return jax.tree_util.tree_map(stack, *outs, is_leaf=_is_tensor)


def _make_scan(compiled, entry):
    """One program running the step ``K`` times with ``lax.scan`` (state as the carry)."""
    pure = make_pure(compiled, entry, None)

    def run(box_in, grad_in, num_in, dyn):
        num_in = [jax.tree_util.tree_map(lambda v: jnp.asarray(v), v) for v in num_in]

        def body(carry, d):
            box, grad, nums = carry
            box_out, grad_out, num_out, new_out, outs = pure(box, grad, nums, d)
            if new_out:
                raise CompileError("steps_per_call: the step created new state inside the scanned program")
            nums = list(nums)
            for i, v in zip(entry.info.num_changed, num_out):
                nums[i] = jax.tree_util.tree_map(lambda new, old: jnp.asarray(new, old.dtype), v, nums[i])
            grad_out = [g if g is not None else None for g in grad_out]
            return (box_out, grad_out, nums), outs

        (box, grad, nums), outs = jax.lax.scan(body, (box_in, grad_in, num_in), dyn)
        return box, grad, nums, outs

    return lowering.jit(run, donate_argnums=(0, 1) if compiled.donate else (), keep_unused=True,
                        convolutions=entry.io is None or entry.io.convolutions)


def _write_grads(boxes, grads, none_boxes) -> bool:
    """New ``.grad`` arrays into ``boxes`` (an existing grad tensor keeps its identity), and
    ``.grad = None`` for ``none_boxes``.  Returns whether a ``.grad`` appeared or disappeared."""
    changed = False
    for b, g in zip(boxes, grads):
        gb = b._grad
        if gb is None:
            b._grad = wrap(g)
            changed = True
        else:
            gb._data = g
            gb._v += 1
    for b in none_boxes:
        if b._grad is not None:
            b._grad = None
            changed = True
    return changed


def _write_numbers_and_new(entry, num_out, new_out, grads_changed):
    info = entry.info
    for i, v in zip(info.num_changed, num_out):
        c, k = entry.numbers[i]
        c[k] = tuple(v) if isinstance(v, list) else v
    for b, arr in zip(info.new_boxes, new_out):
        b._data = arr
        b._v += 1
    if grads_changed:
        GRADS.value += 1
    if info.new_boxes:
        STRUCTURE.value += 1


class _WritesMore(Exception):
    """Raised while tracing a ``_WrittenIO`` program: the step writes state it left alone at
    the first trace (its writes depend on argument shapes); the entry uses the full program."""


class _WrittenIO:
    """An entry's program reduced to the state it reads and writes (run at top level only).

    The first trace (``Compiled._first_trace``) shows which boxes and ``.grad`` arrays the
    step leaves untouched (the output is the input variable itself: parameters in an
    evaluation step, a generator nothing sampled from, frozen layers) and which inputs no
    equation reads (the ``.grad`` arrays ``zero_grad()`` discards, an unused generator key).
    This program passes the read ones without donating them, leaves out the unread small ones,
    and returns only what changed.  Small state written every step travels as one flat buffer
    per dtype (``packing.StatePack``: one input and one output instead of one per tensor) and
    small new ``.grad`` arrays come back as one buffer (``packing.GradPack``), so a call pays
    per-array costs (on CPU about 0.2 us per input and 0.3-1.4 us per output) only where it
    must.  It evaluates the traced jaxpr, so the user's function is not traced again;
    arguments of other shapes trace it anew through ``pure`` and check that this layout still
    holds (else ``_WritesMore``: the entry switches to the full program).
    """

    __slots__ = ("b_don", "spacks", "g_don", "b_keep", "g_keep", "g_out", "g_none", "gpacks", "program",
                 "convolutions")

    def __init__(self, compiled, entry, traced):
        boxes = entry.boxes
        n = len(boxes)
        closed = traced.jaxpr
        jx = closed.jaxpr
        lay = _Layout(traced.in_tree, traced.out_tree, jx)
        ins, outs = jx.invars, jx.outvars
        b_don = [i for i in range(n) if not lay.box_same(i)]
        b_keep = [i for i in range(n) if lay.box_same(i)]
        g_don, g_keep, g_out, g_none = [], [], [], []
        for i in range(n):
            gi, go = lay.grad_i[i], lay.grad_o[i]
            if gi is None:
                if go is not None:
                    g_out.append(i)  # a new .grad
            elif go is None:
                g_don.append(i)  # .grad set to None (zero_grad): its buffer is donated, never read back
                g_none.append(i)
            elif outs[go] is ins[gi]:
                g_keep.append(i)
            else:
                g_don.append(i)
                g_out.append(i)
        # inputs no equation reads: read-only ones, and small discarded .grad arrays (large ones
        # stay donated: XLA reuses their buffers for the new gradients)
        needed = lay.needed(set(b_keep), set(g_keep))
        small = [boxes[i]._data.size <= packing.PACK_MAX for i in range(n)]
        drop_b = {i for i in b_keep if ins[lay.box_i[i]] not in needed}
        drop_g = {i for i in g_keep + g_don if ins[lay.grad_i[i]] not in needed and (small[i] or i in g_keep)}
        b_ro, g_ro = b_keep, g_keep  # all read-only state, passed in or not
        b_keep = [i for i in b_keep if i not in drop_b]
        g_keep = [i for i in g_keep if i not in drop_g]
        g_don = [i for i in g_don if i not in drop_g]
        # small written state in flat buffers
        cand = [i for i in b_don if packing.packable(boxes[i])]
        spacks = packing.groups(cand, [boxes[i]._data for i in cand])
        in_pack = {i for g in spacks for i in g}
        b_don = [i for i in b_don if i not in in_pack]
        # small new .grad arrays whose old value is not passed in: one flat output per dtype
        cand = [i for i in g_out if small[i] and (lay.grad_i[i] is None or i in drop_g)]
        gpacks = packing.groups(cand, [outs[lay.grad_o[i]].aval for i in cand])
        packed = {i for g in gpacks for i in g}
        g_out = [i for i in g_out if i not in packed]

        self.b_don = [boxes[i] for i in b_don]
        self.spacks = [packing.StatePack([boxes[i] for i in g], [boxes[i]._data.shape for i in g]) for g in spacks]
        self.g_don = [boxes[i] for i in g_don]
        self.b_keep = [boxes[i] for i in b_keep]
        self.g_keep = [boxes[i] for i in g_keep]
        self.g_out = [boxes[i] for i in g_out]
        self.g_none = [boxes[i] for i in g_none]
        self.gpacks = [([boxes[i] for i in g], packing.splitter([outs[lay.grad_o[i]].aval.shape for i in g]))
                       for g in gpacks]
        s_shapes = [[boxes[i]._data.shape for i in g] for g in spacks]
        pure = entry.pure
        placeholder = {("b", i): ins[lay.box_i[i]].aval for i in drop_b}
        placeholder.update({("g", i): ins[lay.grad_i[i]].aval for i in drop_g})
        sig = [(v.aval.shape, v.aval.dtype, v.aval.weak_type) for v in ins]
        traced_program = (jx, closed.consts, lay)

        def program(b_don_in, s_in, g_don_in, b_keep_in, g_keep_in, num_in, dyn):
            box_in, grad_in = [None] * n, [None] * n
            for i, x in zip(b_don, b_don_in):
                box_in[i] = x
            for g, shapes, buf in zip(spacks, s_shapes, s_in):
                for i, x in zip(g, packing.unpack(buf, shapes)):
                    box_in[i] = x
            for i, x in zip(b_keep, b_keep_in):
                box_in[i] = x
            for i, x in zip(g_don, g_don_in):
                grad_in[i] = x
            for i, x in zip(g_keep, g_keep_in):
                grad_in[i] = x
            for (kind, i), aval in placeholder.items():  # read by no equation: any value will do
                (box_in if kind == "b" else grad_in)[i] = jnp.zeros(aval.shape, aval.dtype)
            flat, tree = jax.tree_util.tree_flatten(((box_in, grad_in, num_in, dyn), {}))
            if tree == traced.in_tree and [(x.aval.shape, x.aval.dtype, x.aval.weak_type) for x in flat] == sig:
                jaxpr, consts, lay2 = traced_program
            else:  # other argument shapes: trace the user's function again, check the layout holds
                closed2, shapes = jax.make_jaxpr(lambda *f: pure(*jax.tree_util.tree_unflatten(tree, f)[0]),
                                                 return_shape=True)(*flat)
                jaxpr, consts = closed2.jaxpr, closed2.consts
                lay2 = _Layout(tree, jax.tree_util.tree_structure(shapes), jaxpr)
                if not lay2.fits(b_ro, g_ro, g_out, g_none, gpacks, placeholder):
                    raise _WritesMore
            res = jax.tree_util.tree_unflatten(lay2.out_tree, jax.core.eval_jaxpr(jaxpr, consts, *flat))
            box_out, grad_out, num_out, new_out, outs_ = res
            return ([box_out[i] for i in b_don], [packing.pack_arrays([box_out[i] for i in g]) for g in spacks],
                    [grad_out[i] for i in g_out], [packing.pack_arrays([grad_out[i] for i in g]) for g in gpacks],
                    num_out, new_out, outs_)

        self.convolutions = lowering.has_convolution(jx)
        self.program = lowering.jit(program, donate_argnums=(0, 1, 2) if compiled.donate else (), keep_unused=True,
                                    convolutions=self.convolutions, top_level_only=True)

    def write_grad_packs(self, flat_grads) -> bool:
        """Point each packed parameter's ``.grad`` at its part of the returned buffers."""
        changed = False
        for (members, split), buf in zip(self.gpacks, flat_grads):
            pack = packing.GradPack(buf, split)
            for k, b in enumerate(members):
                changed = packing.set_packed_grad(b, pack, k) or changed
        return changed


class _Layout:
    """Where the boxes and ``.grad`` arrays sit among a traced step's jaxpr inputs and outputs."""

    __slots__ = ("box_i", "grad_i", "box_o", "grad_o", "out_tree", "jaxpr")

    def __init__(self, in_tree, out_tree, jaxpr):
        (self.box_i, self.grad_i, _, _), _ = jax.tree_util.tree_unflatten(in_tree, list(range(len(jaxpr.invars))))
        self.box_o, self.grad_o = jax.tree_util.tree_unflatten(out_tree, list(range(len(jaxpr.outvars))))[:2]
        self.out_tree, self.jaxpr = out_tree, jaxpr

    def box_same(self, i) -> bool:
        return self.jaxpr.outvars[self.box_o[i]] is self.jaxpr.invars[self.box_i[i]]

    def needed(self, b_keep, g_keep) -> set:
        """Input variables an equation reads or an output the program returns (outputs of
        read-only boxes ``b_keep`` / ``.grad`` arrays ``g_keep`` are not returned)."""
        jx = self.jaxpr
        skip = {self.box_o[i] for i in b_keep} | {self.grad_o[i] for i in g_keep}
        used = {v for e in jx.eqns for v in e.invars if not isinstance(v, _Literal)}
        used.update(v for j, v in enumerate(jx.outvars) if j not in skip and not isinstance(v, _Literal))
        return used

    def fits(self, b_keep, g_keep, g_out, g_none, packs, placeholder) -> bool:
        """Whether a trace for other argument shapes keeps the first trace's reduced layout:
        read-only state (``b_keep``, ``g_keep``: all of it, passed in or not) unwritten, dropped
        inputs unread, the same ``.grad`` arrays written."""
        ins, outs = self.jaxpr.invars, self.jaxpr.outvars
        if any(not self.box_same(i) for i in b_keep):
            return False
        if any(self.grad_i[i] is None or self.grad_o[i] is None or outs[self.grad_o[i]] is not ins[self.grad_i[i]]
               for i in g_keep):
            return False
        if any(self.grad_o[i] is None for i in g_out) or any(self.grad_o[i] is not None for i in g_none):
            return False
        if any(self.grad_o[i] is None for g in packs for i in g):
            return False
        needed = self.needed(set(b_keep), set(g_keep))
        return not any(ins[self.box_i[i] if kind == "b" else self.grad_i[i]] in needed for kind, i in placeholder)
