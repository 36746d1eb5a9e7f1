"""Process groups: ``init_process_group`` on ``jax.distributed``, ranks, barrier.

A torchish *rank* is a process (as in PyTorch); each process drives all of its local devices,
and compiled data-parallel steps run over the devices of every process.  The default group is
the only group: ``new_group`` accepts the full rank list only.

NOTE [ Initialising before the backend ]
``jax.distributed.initialize`` must run before JAX starts its backend (the first array, device
query or computation).  ``import torchish`` starts nothing, so a script that calls
``init_process_group()`` before creating tensors works under any launcher (torchrun, Slurm
with the torchrun variables, ``torchish run``).  ``torchish run`` goes further: it initialises
each worker before the script runs (``run.py``), so the script's own call only records the group.
"""

from __future__ import annotations

import datetime
import importlib.util
import os

import jax

__all__ = ["Backend", "GroupMember", "ProcessGroup", "init_process_group", "destroy_process_group", "is_available",
           "is_initialized", "is_torchelastic_launched", "get_rank", "get_world_size", "get_backend", "barrier",
           "new_group", "get_process_group_ranks", "get_node_local_rank"]

_NOT_INIT = "Default process group has not been initialized, please make sure to call init_process_group."


class Backend(str):
    """Backend names (``'gloo'`` for CPU collectives, ``'nccl'`` for GPUs); JAX picks the transport."""

    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"
    UNDEFINED = "undefined"

    def __new__(cls, name: str):
        return str.__new__(cls, name.lower())


class ProcessGroup:
    """The group of all processes (torchish has only the default group)."""

    def __init__(self, world_size: int, rank: int, backend: str):
        self._world_size, self._rank, self._backend = world_size, rank, backend

    def size(self) -> int:
        return self._world_size

    def rank(self) -> int:
        return self._rank

    def name(self) -> str:
        return self._backend

    def __repr__(self) -> str:
        return f"<torchish.distributed.ProcessGroup rank={self._rank} world_size={self._world_size}>"


class GroupMember:
    WORLD = None
    NON_GROUP_MEMBER = -100


class _State:
    group: ProcessGroup | None = None
    owns_jax = False  # this module called jax.distributed.initialize (destroy shuts it down)
    launched = False  # initialised by ``torchish run`` before the script started


_STATE = _State()


def is_available() -> bool:
    return True


def is_initialized() -> bool:
    return _STATE.group is not None


def is_torchelastic_launched() -> bool:
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def _group() -> ProcessGroup:
    if _STATE.group is None:
        raise ValueError(_NOT_INIT)
    return _STATE.group


def world_size_or_one() -> int:
    """The number of processes (1 when no process group is initialised)."""
    return 1 if _STATE.group is None else _STATE.group.size()


def _env_int(name: str, default=None):
    v = os.environ.get(name)
    if v is None or v == "":
        if default is None:
            raise ValueError(f"Error initializing torchish.distributed using env:// rendezvous: environment variable "
                             f"{name} expected, but not set")
        return default
    return int(v)


def _jax_initialized() -> bool:
    from jax._src import distributed as jd

    return jd.global_state.client is not None


def _gpu_platform(backend) -> bool:
    if backend == Backend.NCCL:
        return True
    platforms = (jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS", "")).lower()
    if platforms:
        return any(p in platforms for p in ("cuda", "gpu", "rocm"))
    plugins = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin")
    return any(importlib.util.find_spec(m) is not None for m in plugins)


def initialize_jax(world_size: int, rank: int, address: str, backend=None, local_rank=None, local_world_size=None,
                   timeout: int = 300) -> None:
    """``jax.distributed.initialize`` for ``world_size`` processes (gloo collectives on CPU)."""
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise RuntimeError(
            "init_process_group must run before JAX starts its backend, but tensors were already created (or a "
            "device queried) in this process. Call torchish.distributed.init_process_group() at the start of the "
            "script, before building models or tensors, or launch with `torchish run`, which initialises each "
            "process before the script starts."
        )
    # CPU collectives across processes (the CPU client needs an implementation; GPUs use NCCL)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kw = {}
    if local_world_size and local_world_size > 1 and local_rank is not None and _gpu_platform(backend):
        kw["local_device_ids"] = [local_rank]  # one GPU per process, as torchrun lays processes out
    jax.distributed.initialize(coordinator_address=address, num_processes=world_size, process_id=rank,
                               initialization_timeout=int(timeout), **kw)
    _STATE.owns_jax = True


def _from_env(init_method, world_size: int, rank: int):
    """(world size, rank, coordinator address) from arguments, ``init_method`` and torchrun's variables."""
    if world_size == -1:
        world_size = _env_int("WORLD_SIZE", 1)
    if rank == -1:
        rank = _env_int("RANK", 0)
    address = None
    if world_size > 1:
        if init_method and init_method.startswith("tcp://"):
            address = init_method[len("tcp://"):]
        elif init_method and not init_method.startswith("env://"):
            raise ValueError(f"init_method {init_method!r} is not supported; use 'env://' or 'tcp://host:port'")
        else:
            addr = os.environ.get("MASTER_ADDR")
            port = os.environ.get("MASTER_PORT")
            if not addr:
                raise ValueError("Error initializing torchish.distributed using env:// rendezvous: environment "
                                 "variable MASTER_ADDR expected, but not set")
            if not port:
                raise ValueError("Error initializing torchish.distributed using env:// rendezvous: environment "
                                 "variable MASTER_PORT expected, but not set")
            address = f"{addr}:{port}"
    if not 0 <= rank < world_size:
        raise ValueError(f"Invalid rank {rank} for world_size {world_size}: rank must be in [0, {world_size - 1}]")
    return world_size, rank, address


def init_process_group(backend=None, init_method=None, timeout=None, world_size: int = -1, rank: int = -1,
                       store=None, group_name: str = "", pg_options=None, device_id=None) -> None:
    """Join the group of training processes (``torch.distributed.init_process_group``).

    Reads torchrun's variables (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``) unless given, and with more than one process calls
    ``jax.distributed.initialize`` (CPU collectives over gloo).  Without ``WORLD_SIZE`` it is a
    group of one process, so the same script runs with or without a launcher.  Must run before
    tensors are created (see NOTE [ Initialising before the backend ]).
    """
    if _STATE.group is not None:
        if _STATE.launched:
            _STATE.launched = False  # ``torchish run`` already did it; the script's own call is accepted once
            return
        raise ValueError("trying to initialize the default process group twice!")
    world, r, address = _from_env(init_method, world_size, rank)
    if backend is not None:
        backend = Backend(str(backend))  # informational: JAX chooses the transport ("cpu:gloo,cuda:nccl" kept)
    if world > 1 and not _jax_initialized():
        t = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else (timeout or 300)
        initialize_jax(world, r, address, backend, _env_int("LOCAL_RANK", r),
                       _env_int("LOCAL_WORLD_SIZE", world), timeout=t)
    if world > 1 and (jax.process_count() != world or jax.process_index() != r):
        raise RuntimeError(f"jax.distributed runs {jax.process_count()} processes (this is {jax.process_index()}), "
                           f"but init_process_group was asked for world_size={world}, rank={r}")
    _STATE.group = ProcessGroup(world, r, backend or (Backend.NCCL if _gpu_platform(None) else Backend.GLOO))
    GroupMember.WORLD = _STATE.group


def destroy_process_group(group=None) -> None:
    """Leave the process group (and shut ``jax.distributed`` down if ``init_process_group`` started it)."""
    if _STATE.group is None:
        raise ValueError(_NOT_INIT)
    if _STATE.owns_jax:
        jax.distributed.shutdown()
        _STATE.owns_jax = False
    _STATE.group = None
    _STATE.launched = False
    GroupMember.WORLD = None


def get_rank(group=None) -> int:
    """This process's rank (its ``jax.process_index()``)."""
    return _group().rank()


def get_world_size(group=None) -> int:
    """The number of processes; inside a pmap-style step, the number of devices on its axis.

    NOTE: every device of a data-parallel program is a replica, and the collectives reduce over
    the devices there, so ``all_reduce(t); t /= get_world_size()`` averages in both places.
    """
    from .._stateful import PARALLEL

    if PARALLEL.axis is not None:
        return int(jax.lax.axis_size(PARALLEL.axis))
    return _group().size()


def get_node_local_rank(fallback_rank=None) -> int:
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment. Consider passing fallback_rank to allow "
                       "`get_node_local_rank` to work, assuming you are not running in a multi-device context and "
                       "want the code to run locally instead.")


def get_backend(group=None) -> str:
    return _group().name()


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every process reaches this point."""
    g = _group()
    if g.size() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("torchish.distributed.barrier")
    return _Done() if async_op else None


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """The default group (torchish supports the group of all processes only)."""
    g = _group()
    if ranks is not None and sorted(ranks) != list(range(g.size())):
        raise NotImplementedError(f"torchish.distributed supports only the group of all {g.size()} ranks, got {ranks}")
    return g


def get_process_group_ranks(group) -> list:
    return list(range(_group().size()))


class _Done:
    """The handle of a finished (synchronous) collective: ``async_op=True`` returns one."""

    def wait(self, timeout=None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True

    def is_success(self) -> bool:
        return True
