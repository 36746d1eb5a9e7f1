"""Collectives: ``all_reduce``, ``all_gather``, ``reduce_scatter``, ``broadcast`` (in place, as PyTorch).

Each works in three places:

* inside a pmap-style step (``torchish.pmap``, or a DDP step with ``strategy='pmap'``): over the
  devices of the traced named axis (``jax.lax.psum`` and friends), every device a replica;
* in eager code with several processes: across processes (``multihost_utils``: each process
  contributes its tensor, every process gets the result);
* with a group of one process: the identity.

Like PyTorch's ``torch.distributed`` collectives they are not differentiable: the result is
stored into the tensor's box without autograd history.
"""

from __future__ import annotations

import enum
import functools
import pickle

import jax
import jax.numpy as jnp
import numpy as np

from .._autograd.grad_mode import no_grad
from .._stateful import PARALLEL
from .._tensor import Tensor, wrap
from . import _group

__all__ = ["ReduceOp", "all_reduce", "all_gather", "all_gather_into_tensor", "reduce_scatter",
           "reduce_scatter_tensor", "broadcast", "reduce", "all_gather_object", "broadcast_object_list"]


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"


_STACK_REDUCE = {
    ReduceOp.SUM: lambda x: jnp.sum(x, 0, dtype=x.dtype),
    ReduceOp.PRODUCT: lambda x: jnp.prod(x, 0, dtype=x.dtype),
    ReduceOp.MIN: lambda x: jnp.min(x, 0),
    ReduceOp.MAX: lambda x: jnp.max(x, 0),
    ReduceOp.BAND: lambda x: functools.reduce(jnp.bitwise_and, list(x)),
    ReduceOp.BOR: lambda x: functools.reduce(jnp.bitwise_or, list(x)),
    ReduceOp.BXOR: lambda x: functools.reduce(jnp.bitwise_xor, list(x)),
}


def _reduce_stack(x, op):
    """Reduce ``x`` (ranks, ...) over its first axis."""
    if op is ReduceOp.AVG:
        return (jnp.sum(x, 0) / x.shape[0]).astype(x.dtype)
    return _STACK_REDUCE[op](x)


def _op(op) -> ReduceOp:
    if isinstance(op, ReduceOp):
        return op
    try:
        return ReduceOp(str(op).lower().rsplit(".", 1)[-1])
    except ValueError:
        raise ValueError(f"unsupported reduce op {op!r}; use one of {[o.name for o in ReduceOp]}") from None


def _where(t) -> str:
    """'axis' (traced per-device program), 'process' (eager, several processes) or 'one' (identity)."""
    if PARALLEL.axis is not None:
        return "axis"
    world = _group._group().size()  # raises PyTorch's error when no group is initialised
    if world == 1:
        return "one"
    if isinstance(t._value() if isinstance(t, Tensor) else t, jax.core.Tracer):
        raise RuntimeError(
            "torchish.distributed collectives on a traced tensor need a data-parallel device axis: call them inside "
            "torchish.pmap or a DistributedDataParallel step with strategy='pmap'. (A sharded/FSDP step is one "
            "global program that already sees the whole batch: no collective is needed there.)"
        )
    return "process"


def _store(t: Tensor, arr) -> None:
    with no_grad():
        t._inplace(wrap(jnp.asarray(arr, t._data.dtype)))


def _host(t: Tensor) -> np.ndarray:
    """This process's value of ``t`` as a NumPy array (a replicated global array: its local copy)."""
    a = t._value()
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        if not a.is_fully_replicated:
            raise RuntimeError(f"cannot use a tensor sharded across processes (shape {tuple(a.shape)}) in an eager "
                               "collective; gather it first")
        a = a.addressable_data(0)
    return np.asarray(a)


def _gather_processes(arrays):
    """Every process's arrays, stacked on a new leading axis of size world (NumPy)."""
    from jax.experimental import multihost_utils

    return [np.asarray(g) for g in multihost_utils.process_allgather(list(arrays), tiled=False)]


def _done(async_op):
    return _group._Done() if async_op else None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks (devices inside a pmap-style step) and store the result in it."""
    op = _op(op)
    where = _where(tensor)
    if where == "axis":
        x, axis = tensor._value(), PARALLEL.axis
        direct = {ReduceOp.SUM: jax.lax.psum, ReduceOp.MIN: jax.lax.pmin, ReduceOp.MAX: jax.lax.pmax}
        if op in direct:
            _store(tensor, direct[op](x, axis))
        elif op is ReduceOp.AVG and jnp.issubdtype(x.dtype, jnp.inexact):
            _store(tensor, jax.lax.pmean(x, axis))
        else:
            _store(tensor, _reduce_stack(jax.lax.all_gather(x, axis), op))
    elif where == "process":
        _store(tensor, _reduce_stack(_gather_processes([_host(tensor)])[0], op))
    return _done(async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce to ``dst`` (torchish stores the result on every rank, which PyTorch allows)."""
    return all_reduce(tensor, op, group, async_op)


def _gathered(tensor):
    where = _where(tensor)
    if where == "axis":
        return jax.lax.all_gather(tensor._value(), PARALLEL.axis)
    if where == "process":
        return _gather_processes([_host(tensor)])[0]
    return tensor._value()[None]


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[i]`` with rank ``i``'s ``tensor``."""
    g = _gathered(tensor)
    if len(tensor_list) != g.shape[0]:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, expected one per rank "
                         f"({g.shape[0]})")
    for out, x in zip(tensor_list, g):
        _store(out, x)
    return _done(async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Gather every rank's ``input_tensor`` into ``output_tensor``, concatenated (or stacked) on dim 0."""
    g = _gathered(input_tensor)
    if g.size != output_tensor.numel():
        raise ValueError(f"all_gather_into_tensor: output has {output_tensor.numel()} elements, expected "
                         f"{g.size} ({g.shape[0]} ranks x {tuple(input_tensor.shape)})")
    _store(output_tensor, jnp.reshape(g, tuple(output_tensor.shape)))
    return _done(async_op)


def _scatter(stacked, op, where):
    """Rank r's share of the reduction of ``stacked`` (ranks, ...) over ranks."""
    if where == "axis":
        axis = PARALLEL.axis
        if op in (ReduceOp.SUM, ReduceOp.AVG) and jnp.issubdtype(stacked.dtype, jnp.inexact):
            out = jax.lax.psum_scatter(stacked, axis, scatter_dimension=0, tiled=False)
            return out / stacked.shape[0] if op is ReduceOp.AVG else out
        total = _reduce_stack(jax.lax.all_gather(stacked, axis), op)
        return total[jax.lax.axis_index(axis)]
    if where == "process":
        return _reduce_stack(_gather_processes([stacked])[0], op)[_group.get_rank()]
    return stacked[0]


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """``output`` on rank ``r`` = the reduction over ranks of their ``input_list[r]``."""
    where = _where(output)
    arrays = [t._value() if where == "axis" else _host(t) for t in input_list]
    _store(output, _scatter(jnp.stack(arrays) if where != "process" else np.stack(arrays), _op(op), where))
    return _done(async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """``reduce_scatter`` with the inputs concatenated on dim 0 of one tensor."""
    where = _where(output)
    x = input._value() if where == "axis" else _host(input)
    n = x.shape[0] // output.shape[0] if output.ndim and output.shape[0] else 1
    if x.size != n * output.numel():
        raise ValueError(f"reduce_scatter_tensor: input of shape {tuple(input.shape)} is not world size x output "
                         f"shape {tuple(output.shape)}")
    stacked = x.reshape((n,) + tuple(output.shape))
    _store(output, _scatter(stacked, _op(op), where))
    return _done(async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    src = src if src is not None else (group_src or 0)
    where = _where(tensor)
    if where == "axis":
        _store(tensor, jax.lax.all_gather(tensor._value(), PARALLEL.axis)[src])
    elif where == "process":
        broadcast_tensors([tensor], src)
    return _done(async_op)


def broadcast_tensors(tensors, src: int = 0) -> None:
    """Eager, several processes: every process gets process ``src``'s values of ``tensors`` (one collective)."""
    from jax.experimental import multihost_utils

    if not tensors:
        return
    values = multihost_utils.broadcast_one_to_all([_host(t) for t in tensors], is_source=_group.get_rank() == src)
    for t, v in zip(tensors, values):
        _store(t, np.asarray(v))


def _gather_bytes(obj) -> list:
    data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes = _gather_processes([np.array(data.size, np.int64)])[0]
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[: data.size] = data
    rows = _gather_processes([padded])[0]
    return [row[: int(n)].tobytes() for row, n in zip(rows, sizes)]


def all_gather_object(object_list, obj, group=None) -> None:
    """Fill ``object_list[i]`` with rank ``i``'s picklable ``obj`` (eager only)."""
    if PARALLEL.axis is not None:
        raise RuntimeError("all_gather_object cannot run inside a compiled step; gather tensors instead")
    world = _group._group().size()
    if len(object_list) != world:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries, expected {world}")
    blobs = _gather_bytes(obj) if world > 1 else [pickle.dumps(obj)]
    for i, b in enumerate(blobs):
        object_list[i] = pickle.loads(b)  # noqa: S301 - objects from this job's own processes


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None) -> None:
    """Replace ``object_list`` on every rank by rank ``src``'s (eager only)."""
    src = src if src is not None else (group_src or 0)
    if PARALLEL.axis is not None:
        raise RuntimeError("broadcast_object_list cannot run inside a compiled step")
    if _group._group().size() == 1:
        return
    blobs = _gather_bytes(list(object_list))
    object_list[:] = pickle.loads(blobs[src])  # noqa: S301
