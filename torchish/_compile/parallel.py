"""Data-parallel programs for ``torchish.compile``: pmap-style (shard_map) and sharded (GSPMD).

NOTE [ Data-parallel steps ]
A compiled step runs data-parallel when it reaches an object defining ``_torchish_parallel_``
(``nn.parallel.DistributedDataParallel``) or was made by ``torchish.pmap``.  The state swap is
unchanged (``make_pure``); only the program around ``pure`` differs, chosen by the spec's
``strategy``:

* ``'pmap'``: one program per device.  ``jax.jit(jax.shard_map(per_device, mesh))`` with
  boxes, ``.grad`` and numbers replicated (``P()``) and every tensor argument split on its
  leading axis (``P('data')``).  While ``per_device`` is traced, ``PARALLEL.axis``
  (``_stateful.py``) names the mesh axis: DDP's gradient hooks ``pmean`` each parameter's
  gradient as ``backward()`` accumulates it, SyncBatchNorm averages its statistics, the
  ``torchish.distributed`` collectives reduce over it, and the default generator folds in
  ``axis_index`` (a different dropout mask per device).  After the step the floating-point
  buffers of DDP modules are averaged (plain BatchNorm running statistics).  ``check_vma`` is
  off: replicated outputs are replicated because the step made them so (averaged gradients,
  identical updates), and the transpose of ``psum`` is ``psum`` (each device's gradient is its
  share of the gradient of the sum of all devices' losses), as in ``jax.pmap``.
* ``'sharded'`` / ``'fsdp'``: one global program.  ``jax.jit(pure)`` on arrays placed with
  ``NamedSharding`` (batch on ``'data'``; boxes replicated, or for FSDP parameters, gradients
  and optimizer state sharded on their first dimension divisible by the device count); GSPMD
  inserts the collectives.  This is the single-device program on the global batch, so
  BatchNorm always sees global statistics and dropout draws one mask for the global batch.

Between steps every box keeps its normal (global, unstacked) shape; its array carries the
sharding, so later calls move nothing.  With several processes (``jax.distributed``) the mesh
spans all processes' devices, each process passes its local batch, and batch outputs come back
as the process's local part.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .. import _random
from .._stateful import PARALLEL
from .pure import make_pure

STRATEGIES = ("pmap", "sharded", "fsdp")


@dataclasses.dataclass(frozen=True)
class DataParallelSpec:
    """How a compiled step runs across devices (hashable: part of compile's cache key).

    ``reduce_outputs``: DDP steps return 0-d outputs reduced over devices (floating: mean, which
    is the global-batch mean of a mean loss over equal shards; integer: sum); ``torchish.pmap``
    stacks them into a vector with one entry per device.  Other outputs are concatenated along
    axis 0 in both.  ``owner``: the DDP module whose floating-point buffers are averaged.
    """

    mesh: Mesh
    strategy: str = "pmap"
    axis_name: str = "data"
    reduce_outputs: bool = True
    owner: Any = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        return self.mesh.devices.size


def make_mesh(devices=None, axis_name: str = "data") -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process, grouped by process)."""
    if devices is None:
        devices = jax.devices()
    devices = [jax.local_devices()[d] if isinstance(d, int) else d for d in devices]
    if not devices:
        raise ValueError("data parallelism needs at least one device, got an empty device list")
    devices = sorted(devices, key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(devices), (axis_name,))


def spec_for(compiled, found):
    """The spec a compiled call runs under, or ``None`` for the ordinary single-device program."""
    own = getattr(compiled, "_parallel", None)
    specs = set(found.parallel)
    if own is not None:
        if any(s.strategy != "pmap" for s in specs):
            raise ValueError("torchish.pmap runs one program per device: the DistributedDataParallel modules it "
                             "reaches must use strategy='pmap'")
        return own
    if not specs:
        return None
    if len(specs) > 1:
        raise ValueError(f"one compiled step reaches DistributedDataParallel modules with different strategies or "
                         f"devices: {sorted(repr(s) for s in specs)}; wrap them with the same arguments")
    return next(iter(specs))


def build(compiled, entry, roots, spec, found):
    """``entry.jitted`` for a data-parallel step."""
    if compiled.steps_per_call > 1:
        raise NotImplementedError("torchish.compile(steps_per_call>1) does not support data-parallel steps yet; "
                                  "use steps_per_call=1")
    multi = jax.process_count() > 1
    if spec.strategy == "pmap":
        owners = [s.owner for s in found.parallel if s.owner is not None]
        jitted = _pmap_program(compiled, entry, roots, spec, _buffer_indices(entry, owners))
        shardings = [NamedSharding(spec.mesh, P())] * len(entry.boxes)
    else:
        shardings = [_state_sharding(spec, b._data.shape, b._data.dtype) for b in entry.boxes]
        jitted = _sharded_program(compiled, entry, roots, spec, shardings)
    return _Program(spec, jitted, shardings, multi)


def _buffer_indices(entry, owners):
    out = []
    for m in owners:
        for b in m.buffers():
            i = entry.box_ids.get(id(b._base if b._base is not None else b))
            if i is not None and jnp.issubdtype(b._data.dtype, jnp.inexact) and i not in out:
                out.append(i)
    return tuple(out)


def _state_sharding(spec, shape, dtype) -> NamedSharding:
    """Replicated, or (FSDP, floating point) sharded on the first dimension divisible by the device count."""
    if spec.strategy == "fsdp" and jnp.issubdtype(dtype, jnp.inexact):
        n = spec.size
        for d, s in enumerate(shape):
            if s >= n and s % n == 0:
                return NamedSharding(spec.mesh, P(*([None] * d), spec.axis_name))
    return NamedSharding(spec.mesh, P())


@contextlib.contextmanager
def active_axis(axis):
    """Trace the per-device program: ``PARALLEL.axis`` set, the default generator folding in the device index."""
    g = _random.default_generator
    prev_axis, prev_fold = PARALLEL.axis, g._fold

    def fold():
        i = jax.lax.axis_index(axis)
        return i if prev_fold is None else prev_fold() * 1000003 + i

    PARALLEL.axis, g._fold = axis, fold
    try:
        yield
    finally:
        PARALLEL.axis, g._fold = prev_axis, prev_fold


# ------------------------------------------------------------------------------- programs
def _pmap_program(compiled, entry, roots, spec, buffers):
    pure = make_pure(compiled, entry, roots)
    axis = spec.axis_name
    zero_d: list = []  # which outputs were 0-d (learned while tracing per_device)

    def per_device(box_in, grad_in, num_in, dyn):
        with active_axis(axis):
            box_out, grad_out, num_out, new_out, outs = pure(box_in, grad_in, num_in, dyn)
        box_out = list(box_out)
        for i in buffers:  # plain BatchNorm: each device's running statistics, averaged
            box_out[i] = jax.lax.pmean(box_out[i], axis)
        zero_d[:] = [jnp.ndim(o) == 0 for o in outs]
        if spec.reduce_outputs:
            outs = [_reduce(o, axis) if z else o for o, z in zip(outs, zero_d)]
        # NOTE: 0-d outputs get a unit axis so that out_specs P(axis) can concatenate them
        outs = [o[None] if z else o for o, z in zip(outs, zero_d)]
        return box_out, grad_out, num_out, new_out, outs

    def program(box_in, grad_in, num_in, dyn):
        dyn_specs = [P(axis) if jnp.ndim(d) else P() for d in dyn]
        run = jax.shard_map(per_device, mesh=spec.mesh, in_specs=(P(), P(), P(), dyn_specs),
                            out_specs=(P(), P(), P(), P(), P(axis)), check_vma=False)
        box_out, grad_out, num_out, new_out, outs = run(box_in, grad_in, num_in, dyn)
        if spec.reduce_outputs:
            outs = [o[0] if z else o for o, z in zip(outs, zero_d)]
        return box_out, grad_out, num_out, new_out, outs

    # (XLA's default schedule: torchish's CPU choice was not measured per strategy)
    return jax.jit(program, donate_argnums=(0, 1) if compiled.donate else (), keep_unused=True)


def _reduce(x, axis):
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jax.lax.pmean(x, axis)
    if x.dtype == jnp.bool_:
        return jax.lax.pmax(x.astype(jnp.int32), axis).astype(jnp.bool_)
    return jax.lax.psum(x, axis)


def _sharded_program(compiled, entry, roots, spec, shardings):
    pure = make_pure(compiled, entry, roots)
    wsc = jax.lax.with_sharding_constraint
    rep, data = NamedSharding(spec.mesh, P()), NamedSharding(spec.mesh, P(spec.axis_name))

    def program(box_in, grad_in, num_in, dyn):
        box_out, grad_out, num_out, new_out, outs = pure(box_in, grad_in, num_in, dyn)
        box_out = [wsc(b, s) for b, s in zip(box_out, shardings)]
        grad_out = [None if g is None else wsc(g, s) for g, s in zip(grad_out, shardings)]
        new_out = [wsc(b, _state_sharding(spec, b.shape, b.dtype)) for b in new_out]
        outs = [wsc(o, data if jnp.ndim(o) and o.shape[0] % spec.size == 0 else rep) for o in outs]
        return box_out, grad_out, num_out, new_out, outs

    # (XLA's default schedule: torchish's CPU choice was not measured per strategy)
    return jax.jit(program, donate_argnums=(0, 1) if compiled.donate else (), keep_unused=True)


# ------------------------------------------------------------------------------- calls
class _Program:
    """``entry.jitted`` of a data-parallel step: checks the batch, places the inputs, runs the program."""

    __slots__ = ("spec", "jitted", "shardings", "multi", "rep", "data")

    def __init__(self, spec, jitted, shardings, multi):
        self.spec, self.jitted, self.shardings, self.multi = spec, jitted, shardings, multi
        self.rep = NamedSharding(spec.mesh, P())
        self.data = NamedSharding(spec.mesh, P(spec.axis_name))

    def trace(self, box_in, grad_in, num_in, dyn):
        # NOTE: traced on the placed inputs, as the call will see them: the call then reuses this
        # trace (a second trace would meet state the first one created still holding its tracers)
        return self.jitted.trace(*self._place(box_in, grad_in, num_in, dyn))

    def __call__(self, box_in, grad_in, num_in, dyn):
        box_out, grad_out, num_out, new_out, outs = self.jitted(*self._place(box_in, grad_in, num_in, dyn))
        if self.multi:
            outs = [_host_local(o, self.spec) for o in outs]
        return box_out, grad_out, num_out, new_out, outs

    def _place(self, box_in, grad_in, num_in, dyn):
        self._check(dyn)
        box_in = self._place_state(box_in, self.shardings)
        grad_in = self._place_state(grad_in, self.shardings)
        num_in = jax.tree_util.tree_map(lambda v: self._place_state([v], [self.rep])[0], num_in)
        return box_in, grad_in, num_in, self._place_batch(dyn)

    def _check(self, dyn):
        n = self.spec.size // (jax.process_count() if self.multi else 1)
        for i, d in enumerate(dyn):
            shape = np.shape(d)
            if shape and shape[0] % n:
                where = "this process's local batch" if self.multi else "the batch"
                raise ValueError(
                    f"data parallel over {n} devices: tensor argument {i} has shape {tuple(shape)}, and {where} size "
                    f"{shape[0]} is not divisible by {n}. Use a batch size that is a multiple of {n} "
                    "(e.g. DataLoader(..., drop_last=True)), or pass devices= with fewer devices."
                )

    def _place_state(self, arrays, shardings):
        """Arrays not already laid out as ``shardings`` are moved there (the first call only)."""
        out = list(arrays)
        todo = [i for i, (a, s) in enumerate(zip(arrays, shardings))
                if a is not None and isinstance(a, (jax.Array, np.ndarray)) and getattr(a, "sharding", None) != s]
        if not todo:
            return out
        if not self.multi:
            moved = jax.device_put([out[i] for i in todo], [shardings[i] for i in todo])
            for i, m in zip(todo, moved):
                out[i] = m
            return out
        for i in todo:  # every process holds the full value: build the global array from it
            a, s = out[i], shardings[i]
            if isinstance(a, jax.Array) and not a.is_fully_addressable:
                out[i] = jax.device_put(a, s)
            else:
                host = np.asarray(a)
                out[i] = jax.make_array_from_callback(host.shape, s, lambda idx, h=host: h[idx])
        return out

    def _place_batch(self, dyn):
        out = []
        for d in dyn:
            if not isinstance(d, (jax.Array, np.ndarray)):
                out.append(d)  # Python floats are replicated scalars
                continue
            s = self.data if d.ndim else self.rep
            if getattr(d, "sharding", None) == s:
                out.append(d)
            elif self.multi:  # each process passes its local part of the global batch
                out.append(jax.make_array_from_process_local_data(s, np.asarray(d)))
            else:
                out.append(jax.device_put(d, s))
        return out


def _host_local(x, spec):
    """A batch output of a multi-process step: this process's part (replicated values as they are)."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
        return x
    from jax.experimental import multihost_utils

    return multihost_utils.global_array_to_host_local_array(x, spec.mesh, P(spec.axis_name))
