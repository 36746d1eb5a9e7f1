"""What runs inside a DataLoader worker process: seeding, ``get_worker_info`` and the task loop.

The protocol over each worker's duplex connection (main -> worker):
``(task_idx, indices)``, ``_ResumeIteration`` (persistent workers, new epoch) or ``None`` (exit);
(worker -> main, pickled bytes): ``(task_idx, batch | ExceptionWrapper | _IterableDatasetStopIteration)``
and ``(_ResumeIteration, None)`` acknowledgements.  The main process closing its end is the
shutdown signal: the worker sees EOF (or a broken pipe while sending) and exits.
"""

from __future__ import annotations

import os
import pickle
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import host

MP_STATUS_CHECK_INTERVAL = 5.0  # seconds between liveness checks, as PyTorch


@dataclass(frozen=True)
class WorkerInfo:
    """Information about the current worker process (``get_worker_info()``)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    worker_method: str = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its ``id``, ``num_workers``, ``seed`` and its ``dataset`` copy; else None.

    Use it in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker its shard.
    """
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    seed: int | None = None


class KeyErrorMessage(str):
    """str whose repr is itself, so a re-raised KeyError shows the traceback text readably."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception from another process: its type and formatted traceback (``torch._utils``)."""

    def __init__(self, exc_info=None, where: str = "in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise the exception in this process, with the original traceback text in its message."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


def _generate_state(base_seed, worker_id):
    """The NumPy seed of a worker: PyTorch's SeedSequence-style hash of (base_seed, worker_id).

    Adapted (as in PyTorch) from numpy.random.SeedSequence: Copyright (c) 2015 Melissa E. O'Neill,
    Copyright (c) 2019 NumPy Developers, MIT license.
    """
    INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    MIX_MULT_L, MIX_MULT_R, XSHIFT, MASK32 = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & MASK32, base_seed >> 32, 0]
    pool = [0] * 4
    hash_const_A = INIT_A

    def hash(value):
        nonlocal hash_const_A
        value = (value ^ hash_const_A) & MASK32
        hash_const_A = (hash_const_A * MULT_A) & MASK32
        value = (value * hash_const_A) & MASK32
        return (value ^ (value >> XSHIFT)) & MASK32

    def mix(x, y):
        result = ((MIX_MULT_L * x) & MASK32) - ((MIX_MULT_R * y) & MASK32)
        result &= MASK32
        return (result ^ (result >> XSHIFT)) & MASK32

    for i in range(4):
        pool[i] = hash(entropy[i])
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash(pool[i_src]))
    hash_const_B = INIT_B
    state = []
    for i_dst in range(4):
        data_val = (pool[i_dst] ^ hash_const_B) & MASK32
        hash_const_B = (hash_const_B * MULT_B) & MASK32
        data_val = (data_val * hash_const_B) & MASK32
        state.append((data_val ^ (data_val >> XSHIFT)) & MASK32)
    return state


@dataclass
class WorkerArgs:
    """Everything a worker needs, sent once when it starts."""

    dataset_kind: int
    dataset: Any
    auto_collation: bool
    collate_fn: Any
    drop_last: bool
    base_seed: int
    init_fn: Any
    num_workers: int
    persistent_workers: bool


def _send(conn, msg) -> None:
    try:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        idx, payload = msg
        where = payload.where if isinstance(payload, ExceptionWrapper) else "in DataLoader worker process"
        text = payload.exc_msg if isinstance(payload, ExceptionWrapper) else ""
        try:
            raise RuntimeError(f"could not send a result to the main process (it is not picklable):\n{text}")
        except RuntimeError:
            data = pickle.dumps((idx, ExceptionWrapper(where=where)), protocol=pickle.HIGHEST_PROTOCOL)
    conn.send_bytes(data)


def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed Python's ``random``, NumPy's global RNG and torchish's default generator, as PyTorch does."""
    from ...._random import default_generator

    seed = base_seed + worker_id
    random.seed(seed)
    host.seed_without_device(default_generator, seed)
    np.random.seed(_generate_state(base_seed, worker_id))
    return seed


def _create_fetcher(args: WorkerArgs):
    from .fetch import _IterableDatasetFetcher, _MapDatasetFetcher

    cls = _MapDatasetFetcher if args.dataset_kind == 0 else _IterableDatasetFetcher
    return cls(args.dataset, args.auto_collation, args.collate_fn, args.drop_last)


class _ParentWatchdog:
    def __init__(self) -> None:
        self.ppid = os.getppid()

    def is_alive(self) -> bool:
        return os.getppid() == self.ppid


def _worker_loop(conn, worker_id: int, payload) -> None:
    """The worker: set up (unpickle, seed, ``worker_init_fn``), then serve tasks until told to stop."""
    global _worker_info
    host.IN_WORKER = True
    where = f"in DataLoader worker process {worker_id}"
    init_exception = fetcher = args = None
    try:
        args = payload if isinstance(payload, WorkerArgs) else pickle.loads(payload)
        del payload
        seed = _seed_worker(args.base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=args.num_workers, seed=seed, dataset=args.dataset)
        if args.init_fn is not None:
            args.init_fn(worker_id)
        fetcher = _create_fetcher(args)
    except Exception:
        init_exception = ExceptionWrapper(where=where)
    iteration_end = False
    watchdog = _ParentWatchdog()
    try:
        while watchdog.is_alive():
            if not conn.poll(MP_STATUS_CHECK_INTERVAL):
                continue
            r = conn.recv()
            if isinstance(r, _ResumeIteration):
                _send(conn, (r, None))
                iteration_end = False
                if fetcher is not None:
                    fetcher = _create_fetcher(args)  # a fresh iterator for an IterableDataset
                continue
            if r is None:
                break
            if iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data = init_exception
                if fetcher is not None:
                    init_exception = None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and args.dataset_kind == 1:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=where)
            _send(conn, (idx, data))
            del data, idx, index, r
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass  # the main process closed our connection (shutdown) or went away


_KEEP_ALIVE: list = []


def _forked_worker_loop(conn, worker_id: int, args: WorkerArgs, close) -> None:
    """Entry point of a ``fork``-started worker: drop inherited pipe ends, never free JAX objects."""
    from ...._random import default_generator

    for c in close:
        c.close()
    # NOTE: freeing a JAX buffer inherited through fork can deadlock; keep the old key alive
    _KEEP_ALIVE.append(default_generator._key._data)
    _worker_loop(conn, worker_id, args)
