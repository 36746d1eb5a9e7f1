"""The protocol between stateful classes and ``torchish.compile`` (level 0: no imports).

``torchish.compile`` finds state by walking the objects a function can reach.  It knows
Tensors (boxes) and plain containers (list, tuple, dict).  Any other class that owns state
says so with up to three methods:

``_torchish_state_(self)``
    Everything this object owns that holds state: Tensors, ``None`` placeholders, nested
    stateful objects, and lists/tuples/dicts of those.  (Module: its ``_parameters``,
    ``_buffers`` and ``_modules`` dicts.  Optimizer: ``param_groups`` and ``state``.)

``_torchish_numbers_(self)``
    ``(container, key)`` pairs whose value is a Python ``int``/``float`` (or a tuple of them)
    that compiled code should treat as *data*: compile passes them in as 0-d arrays and
    writes changed values back (as 0-d ``jax.Array``s), so a scheduler changing ``lr`` or a
    step counter never causes a retrace.  Code reading them must therefore accept a tracer:
    no Python branching on their values (use the ``_num`` helpers in ``optim``).

``_torchish_static_(self)``
    A hashable value that, when it changes, changes the compiled program (``Module.training``,
    an optimizer's per-group structural flags).  Part of compile's cache key.

Structural changes (a new parameter, optimizer state created) call ``bump_structure()``, so
compile's fast path can check one integer per call instead of re-walking the object graph.
A ``.grad`` appearing or disappearing, or a ``requires_grad`` flag changing (freezing layers),
bumps ``GRADS`` instead: it changes which program runs but not which state exists, so compile
checks the ``.grad`` presence and flags of the state it knows (O(number of tensors)) instead of
walking the objects again (``optimizer.zero_grad()`` outside a compiled step sets every
``.grad`` to ``None`` before each call).
"""


class _Version:
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


STRUCTURE = _Version()
GRADS = _Version()  # bumped when a .grad appears or disappears, or a requires_grad flag changes


def bump_structure() -> None:
    STRUCTURE.value += 1


class _TraceLog:
    """While ``torchish.compile`` traces, ``log`` is a list: boxes that held concrete values and
    were changed in place are appended, so state that discovery missed is caught."""

    __slots__ = ("log",)

    def __init__(self):
        self.log = None


TRACE = _TraceLog()


class _Parallel:
    """The named device axis of the data-parallel program being traced, or ``None``.

    NOTE: the data-parallel hook.  ``torchish/_compile/parallel.py`` sets ``axis`` while it
    traces the per-device program of a pmap-style step (``jax.shard_map`` over a device mesh);
    code at any level reads it: DistributedDataParallel's gradient hooks average over it,
    SyncBatchNorm syncs its statistics over it, ``torchish.distributed`` collectives reduce over
    it.  Outside such a trace it is ``None`` and all of those are the single-device code path.
    """

    __slots__ = ("axis",)

    def __init__(self):
        self.axis = None


PARALLEL = _Parallel()
