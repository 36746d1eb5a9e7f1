"""``torchish.pmap``: a stateful function run as one program per device (pmap semantics on shard_map)."""

from __future__ import annotations

from . import distributed as distributed  # noqa: F401 - makes ``torchish.distributed`` an attribute
from ._compile.compiled import Compiled
from ._compile.parallel import DataParallelSpec, make_mesh

__all__ = ["pmap"]


def pmap(fn=None, axis_name: str = "batch", devices=None, *, donate: bool = True):
    """Run ``fn`` on every device at once, each on its slice of the batch, with state threaded through.

    Like ``torchish.compile`` (the state reachable from ``fn`` is found and updated), but the
    program is built per device with ``jax.shard_map`` over a 1-D mesh named ``axis_name``:

    * every tensor argument with at least one dimension is split along dim 0 across the devices
      (its size must be divisible by their number); 0-d tensors and Python numbers are passed
      to every device;
    * state (parameters, buffers, ``.grad``, optimizer state) is replicated and must stay so:
      average gradients yourself (``torchish.distributed.all_reduce(p.grad, ReduceOp.AVG)``) or
      wrap the model in ``nn.parallel.DistributedDataParallel``; state that still differs across
      devices after the call keeps the first device's value;
    * ``torchish.distributed`` collectives reduce over ``axis_name``, ``SyncBatchNorm`` syncs over
      it, and random ops draw different numbers on each device;
    * outputs are concatenated along dim 0; 0-d outputs become a vector with one entry per device.

    Between calls every tensor keeps its ordinary shape (no leading device axis).

    Args:
        fn: the function (or use ``@torchish.pmap(axis_name=...)`` as a decorator).
        axis_name: the name collectives refer to.
        devices: JAX devices or local device indices (default: every device of every process).
        donate: donate the state buffers (updated in place).

    Example:
        >>> @torchish.pmap
        ... def step(x, y):
        ...     opt.zero_grad()
        ...     loss = F.mse_loss(model(x), y)
        ...     loss.backward()
        ...     for p in model.parameters():
        ...         torchish.distributed.all_reduce(p.grad, torchish.distributed.ReduceOp.AVG)
        ...     opt.step()
        ...     return loss  # one loss per device
    """
    if fn is None:
        return lambda f: pmap(f, axis_name, devices, donate=donate)
    if not callable(fn):
        raise TypeError(f"torchish.pmap expected a function, got {type(fn).__name__}")
    compiled = Compiled(fn, fullgraph=True, donate=donate)
    compiled._parallel = DataParallelSpec(make_mesh(devices, axis_name), "pmap", axis_name, reduce_outputs=False)
    return compiled
