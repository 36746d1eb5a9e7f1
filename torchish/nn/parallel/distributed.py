"""``DistributedDataParallel``: one model, many devices (and processes), the same training step.

The wrapper itself is small: it holds ``module``, registers one gradient hook per parameter and
tells ``torchish.compile`` how to run (``_torchish_parallel_``); the data-parallel program is
built by ``torchish/_compile/parallel.py`` (see NOTE [ Data-parallel steps ] there).
"""

from __future__ import annotations

import contextlib

import jax

from ..._stateful import PARALLEL
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]


class _SyncFlag:
    """Shared by a DDP module and its parameters' hooks: ``no_sync()`` turns gradient averaging off."""

    __slots__ = ("enabled",)

    def __init__(self):
        self.enabled = True


class _AverageGrad:
    """Post-accumulate-grad hook: average ``param.grad`` over the data-parallel devices.

    Inside a pmap-style step it is ``pmean`` over the traced device axis; in eager code with
    several processes it is a cross-process all-reduce; otherwise (one device, or a sharded
    GSPMD step, whose program already sees the global batch) it does nothing.

    NOTE: it runs after each accumulation into ``.grad``, so a gradient accumulated under
    ``no_sync()`` is averaged by the next synchronised backward.  Averaging is linear and
    idempotent, so a parameter used twice, or hooked by two wrappers, still gets the mean.
    """

    __slots__ = ("flag",)

    def __init__(self, flag):
        self.flag = flag

    def __call__(self, param):
        if not self.flag.enabled:
            return
        g = param._grad
        if PARALLEL.axis is not None:
            g._data = jax.lax.pmean(g._data, PARALLEL.axis)
            g._v += 1
        elif not isinstance(g._data, jax.core.Tracer):
            from ...distributed import _group  # level 7, imported lazily

            if _group.world_size_or_one() > 1:
                from ...distributed._collectives import ReduceOp, all_reduce

                all_reduce(g, op=ReduceOp.AVG)


class DistributedDataParallel(Module):
    """Data parallelism for ``module``: run it under ``torchish.compile`` and each step uses every device.

    The compiled training step (``zero_grad``, forward, ``backward``, ``step``) is unchanged.  With
    ``strategy='pmap'`` (default) one program runs per device: each batch is split on dim 0
    across the devices, parameters stay replicated, gradients are averaged across devices as
    ``backward()`` accumulates them, and floating-point buffers (BatchNorm running statistics)
    are averaged after the step; ``SyncBatchNorm`` layers compute batch statistics over the
    global batch, and dropout draws a different mask on each device.  ``strategy='sharded'``
    compiles the single-device program on the global batch with the batch sharded (GSPMD);
    ``strategy='fsdp'`` also shards parameters, gradients and optimizer state.

    Outside ``torchish.compile`` it is the plain module (with several processes, gradients are
    averaged across processes eagerly).  ``state_dict`` keys get the ``module.`` prefix.

    Args:
        module: the model.
        device_ids, output_device, process_group, bucket_cap_mb, find_unused_parameters,
            check_reduction, gradient_as_bucket_view, static_graph, ...: accepted for PyTorch
            compatibility; ignored (every device of every process is used, one gradient per
            parameter is averaged, unused parameters are fine).
        dim: the batch dimension; only 0 is supported.
        broadcast_buffers, init_sync: with several processes, copy process 0's parameters and
            buffers to every process at construction (PyTorch's ``init_sync``).
        strategy: ``'pmap'``, ``'sharded'`` or ``'fsdp'``.
        devices: the JAX devices (or local device indices) to use (default: all devices of all
            processes).

    Example:
        >>> model = DistributedDataParallel(Net())
        >>> @torchish.compile
        ... def step(x, y):
        ...     opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=None, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None, *, strategy="pmap",
                 devices=None):
        super().__init__()
        from ..._compile.parallel import STRATEGIES, DataParallelSpec, make_mesh

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expected an nn.Module, got {type(module).__name__}")
        if strategy not in STRATEGIES:
            raise ValueError(f"DistributedDataParallel strategy must be one of {STRATEGIES}, got {strategy!r}")
        if dim != 0:
            raise ValueError(f"DistributedDataParallel splits batches along dim 0 only, got dim={dim}")
        self.module = module
        self.dim = dim
        self.device_ids = device_ids
        self.output_device = output_device
        self.broadcast_buffers = True if broadcast_buffers is None else broadcast_buffers
        self.process_group = process_group
        self.strategy = strategy
        self._sync_flag = _SyncFlag()
        self._spec = DataParallelSpec(make_mesh(devices), strategy, "data", True, owner=self)
        self._hooked = frozenset()
        self._hook_parameters()
        if init_sync:
            _sync_module_states(module, self.broadcast_buffers)

    # the compile protocol: this step runs data-parallel (torchish/_compile/parallel.py)
    def _torchish_parallel_(self):
        return self._spec

    @property
    def devices(self) -> list:
        """The devices the compiled step runs on."""
        return list(self._spec.mesh.devices.flat)

    @property
    def require_backward_grad_sync(self) -> bool:
        return self._sync_flag.enabled

    @require_backward_grad_sync.setter
    def require_backward_grad_sync(self, value: bool) -> None:
        self._sync_flag.enabled = bool(value)

    def _hook_parameters(self) -> None:
        """Give every parameter the averaging hook (again after ``copy.deepcopy``, which drops tensor hooks)."""
        params = list(self.module.parameters())
        ids = frozenset(map(id, params))
        if ids == self._hooked:
            return
        for p in params:
            if id(p) not in self._hooked:
                p.register_post_accumulate_grad_hook(_AverageGrad(self._sync_flag))
        self._hooked = ids

    def forward(self, *inputs, **kwargs):
        self._hook_parameters()
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Skip gradient averaging in backward passes inside; the next synchronised backward averages all."""
        old = self._sync_flag.enabled
        self._sync_flag.enabled = False
        try:
            yield
        finally:
            self._sync_flag.enabled = old

    def extra_repr(self) -> str:
        return f"strategy={self.strategy!r}, devices={len(self.devices)}"


def _sync_module_states(module, buffers: bool) -> None:
    """With several processes, give every process process 0's parameters (and buffers)."""
    from ...distributed import _group

    if _group.world_size_or_one() <= 1:
        return
    from ...distributed._collectives import broadcast_tensors

    tensors = list(module.parameters()) + (list(module.buffers()) if buffers else [])
    broadcast_tensors(tensors, src=0)
