"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

Same arguments, validation errors and iteration semantics as ``torch.utils.data.DataLoader``.
Differences that matter: workers are fresh processes by default rather than forked (see NOTE
[ Worker start method ] in ``_utils/launch.py``), batches are collated in NumPy and become
device tensors in the main process (NOTE [ Host mode ] in ``_utils/host.py``), ``pin_memory``
is accepted and does nothing, and ``device=`` stages batches on a device ahead of time
(``DevicePrefetcher``).

NOTE [ DataLoader worker shutdown ]
Each worker owns one duplex pipe to the main process.  The iterator shuts its workers down when
an epoch ends (unless ``persistent_workers``), when it is garbage-collected, and at interpreter
exit (a WeakSet of live iterators, drained by ``atexit``): it closes its pipe ends, which every
worker sees as EOF (or a broken pipe while sending) and exits on; workers still alive after
``MP_STATUS_CHECK_INTERVAL`` seconds are terminated.  Workers are daemonic, so even a main
process that dies abruptly takes them down, and they also exit when their parent changes.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing as python_multiprocessing
import multiprocessing.connection as mp_connection
import os
import pickle
import warnings
import weakref
from typing import Any, Callable, Generic, TypeVar

from . import _utils
from ._utils import launch
from ._utils.collate import default_collate, default_convert
from ._utils.fetch import _IterableDatasetFetcher, _MapDatasetFetcher
from ._utils.worker import (ExceptionWrapper, WorkerArgs, _IterableDatasetStopIteration, _ResumeIteration,
                            get_worker_info)
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info", "default_collate", "default_convert"]

_T_co = TypeVar("_T_co", covariant=True)


class _DatasetKind:
    Map = 0
    Iterable = 1

    @staticmethod
    def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
        cls = _MapDatasetFetcher if kind == _DatasetKind.Map else _IterableDatasetFetcher
        return cls(dataset, auto_collation, collate_fn, drop_last)


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: yields ``None`` forever (the dataset decides when to stop)."""

    def __iter__(self):
        while True:
            yield None


def _cpu_count():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


class DataLoader(Generic[_T_co]):
    """Iterate over a dataset in batches, as ``torch.utils.data.DataLoader``.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__``/``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch (``None`` disables automatic batching).
        shuffle: reshuffle every epoch (a ``RandomSampler`` with ``generator``).
        sampler / batch_sampler: custom index order / custom batches of indices.
        num_workers: worker processes (0: load in the main process).
        collate_fn: merges a list of samples into a batch (default ``default_collate``).
        pin_memory: accepted for compatibility; does nothing (see ``device``).
        drop_last: drop the last incomplete batch.
        timeout: seconds to wait for a batch from the workers (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: start method (``'forkserver'``, ``'spawn'``, ``'fork'``) or context;
            default: fresh ``forkserver`` processes (see the module notes).
        generator: seeds the shuffle order and the workers' base seed.
        prefetch_factor: batches loaded in advance per worker (default 2 with workers).
        persistent_workers: keep the workers alive between epochs.
        in_order: deliver batches in sampler order (``False``: as they become ready).
        device: beyond PyTorch: a device (``'cuda'``, ``torchish.device``, ``jax.Device``) or a
            ``jax.sharding.Sharding``; batches are then copied there ``device_prefetch`` batches
            ahead of use (``DevicePrefetcher``).

    Example:
        >>> ds = TensorDataset(torchish.randn(10, 3), torchish.arange(10))
        >>> [x.shape for x, y in DataLoader(ds, batch_size=4)]
        [torchish.Size([4, 3]), torchish.Size([4, 3]), torchish.Size([2, 3])]
    """

    __initialized = False

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable | None = None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True,
                 device=None, device_prefetch: int = 2) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 to enable "
                "multiprocessing, otherwise set prefetch_factor to None."
            )
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.device = device
        self.device_prefetch = device_prefetch

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )

        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True
        self._IterableDataset_len_called = None
        self._iterator = None
        self.check_worker_number_rationality()

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    @property
    def multiprocessing_context(self):
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, multiprocessing_context) -> None:
        if multiprocessing_context is not None:
            if self.num_workers > 0:
                if isinstance(multiprocessing_context, str):
                    valid_start_methods = python_multiprocessing.get_all_start_methods()
                    if multiprocessing_context not in valid_start_methods:
                        raise ValueError(
                            "multiprocessing_context option should specify a valid start method in "
                            f"{valid_start_methods!r}, but got multiprocessing_context={multiprocessing_context!r}"
                        )
                    multiprocessing_context = python_multiprocessing.get_context(multiprocessing_context)
                if not isinstance(multiprocessing_context, python_multiprocessing.context.BaseContext):
                    raise TypeError(
                        "multiprocessing_context option should be a valid context object or a string specifying "
                        f"the start method, but got multiprocessing_context={multiprocessing_context}"
                    )
            else:
                raise ValueError(
                    "multiprocessing_context can only be used with multi-process loading (num_workers > 0), but "
                    f"got num_workers={self.num_workers}"
                )
        self.__multiprocessing_context = multiprocessing_context

    def __setattr__(self, attr, val) -> None:
        if self.__initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                                           "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            it = self._iterator
        else:
            it = self._get_iterator()
        if self.device is not None:
            from .prefetch import DevicePrefetcher

            return DevicePrefetcher(it, self.device, size=self.device_prefetch)
        return it

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                from math import ceil

                length = length // self.batch_size if self.drop_last else ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self) -> None:
        """Warn (as PyTorch) when more workers are requested than this process may use CPUs."""
        if not self.num_workers:
            return
        suggest = _cpu_count()
        if suggest is None or self.num_workers > suggest:
            cpuset_checked = hasattr(os, "sched_getaffinity")
            if suggest is not None:
                detail = (f"Our suggested max number of worker in current system is {suggest}"
                          f"{'' if cpuset_checked else ' (`cpuset` is not taken into account)'}, which is smaller "
                          "than what this DataLoader is going to create.")
            else:
                detail = "DataLoader is not able to compute a suggested max number of worker in current system."
            warnings.warn(
                f"This DataLoader will create {self.num_workers} worker processes in total. {detail} Please be aware "
                "that excessive worker creation might get DataLoader running slow or even freeze, lower the worker "
                "number to avoid potential slowness/freeze if necessary.",
                stacklevel=2,
            )


class _BaseDataLoaderIter:
    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        self._base_seed = _utils.host.draw_seed(loader.generator)  # worker seeds are base_seed + worker_id
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0
        self._keep_host = loader.device is not None  # batches stay on the host; DevicePrefetcher moves them

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self):
        return next(self._sampler_iter)  # may raise StopIteration

    def _next_data(self):
        raise NotImplementedError

    def __next__(self) -> Any:
        data = self._next_data()
        self._num_yielded += 1
        if (self._dataset_kind == _DatasetKind.Iterable and self._IterableDataset_len_called is not None
                and self._num_yielded > self._IterableDataset_len_called):
            msg = (f"Length of IterableDataset {self._dataset} was reported to be {self._IterableDataset_len_called}"
                   f"(when accessing len(dataloader)), but {self._num_yielded} samples have been fetched. ")
            if self._num_workers > 0:
                msg += ("For multiprocessing data-loading, this could be caused by not properly configuring the "
                        "IterableDataset replica at each worker. Please see "
                        "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset for examples.")
            warnings.warn(msg, stacklevel=2)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader) -> None:
        super().__init__(loader)
        self._dataset_fetcher = _DatasetKind.create_fetcher(
            self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn, self._drop_last)

    def _next_data(self):
        index = self._next_index()  # may raise StopIteration
        with _utils.host.keep_on_host(self._keep_host):
            return self._dataset_fetcher.fetch(index)  # may raise StopIteration


def _prepare_for_fork(dataset) -> None:
    """Build NumPy views in the parent, so a forked worker never touches a JAX array."""
    if isinstance(dataset, TensorDataset):
        dataset._arrays()
    elif isinstance(dataset, Subset):
        _prepare_for_fork(dataset.dataset)
    elif isinstance(dataset, (ConcatDataset, ChainDataset)):
        for d in dataset.datasets:
            _prepare_for_fork(d)
    elif isinstance(dataset, StackDataset):
        for d in (dataset.datasets.values() if isinstance(dataset.datasets, dict) else dataset.datasets):
            _prepare_for_fork(d)


def _rebuild_host_tensor(arr, requires_grad, cls):
    from ..._tensor import wrap

    return wrap(arr)


class _HostUnpickler(pickle.Unpickler):
    """Unpickles worker batches with NumPy-backed tensors (for ``DataLoader(device=...)``)."""

    def find_class(self, module, name):
        if module == "torchish._tensor" and name == "_rebuild":
            return _rebuild_host_tensor
        return super().find_class(module, name)


_live_iterators: "weakref.WeakSet[_MultiProcessingDataLoaderIter]" = weakref.WeakSet()


def _shutdown_live_iterators() -> None:
    for it in list(_live_iterators):
        it._shutdown_workers()


import atexit  # noqa: E402

atexit.register(_shutdown_live_iterators)


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Loads batches in ``num_workers`` worker processes; see NOTE [ DataLoader worker shutdown ]."""

    def __init__(self, loader) -> None:
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        self._shutdown = False
        self._workers, self._conns, self._shared_paths = [], [], []
        self._open = {}  # main-side connection -> worker id, while the worker may still send
        self._heard_from = set()
        ctx = loader.multiprocessing_context or launch.default_context()
        args = WorkerArgs(self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn, self._drop_last,
                          self._base_seed, loader.worker_init_fn, self._num_workers, self._persistent_workers)
        _live_iterators.add(self)
        try:
            if launch.is_fork(ctx):
                _prepare_for_fork(self._dataset)
                payload = args
            else:
                payload, self._shared_paths = launch.dumps_payload(args)
            for i in range(self._num_workers):
                w, conn = launch.start_worker(ctx, i, payload)
                self._workers.append(w)
                self._conns.append(conn)
                self._open[conn] = i
            del payload, args
            self._reset(loader, first_iter=True)
        except BaseException:
            self._shutdown_workers()
            raise

    def _reset(self, loader, first_iter=False) -> None:
        super()._reset(loader, first_iter)
        self._send_idx = 0  # idx of the next task to be sent to workers
        self._rcvd_idx = 0  # idx of the next task to be returned in __next__
        self._task_info = {}  # idx -> (worker_id,) while outstanding, (worker_id, data) once received
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            for idx in range(self._num_workers):
                self._send(idx, _ResumeIteration())
            resume_iteration_cnt = self._num_workers
            while resume_iteration_cnt > 0:
                return_idx, _ = self._get_data()
                if isinstance(return_idx, _ResumeIteration):
                    resume_iteration_cnt -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    # ---------------------------------------------------------------- talking to workers
    def _send(self, worker_id, msg) -> None:
        try:
            self._conns[worker_id].send(msg)
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            self._raise_dead([worker_id], e)

    def _raise_dead(self, worker_ids, cause=None):
        for wid in worker_ids:
            self._workers_status[wid] = False
        pids = ", ".join(str(self._workers[w].pid) for w in worker_ids)
        raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from cause

    def _try_get_data(self, timeout=_utils.MP_STATUS_CHECK_INTERVAL):
        if not self._open:
            raise RuntimeError("DataLoader has no live worker to wait for (internal error)")
        for conn in mp_connection.wait(list(self._open), timeout):
            wid = self._open[conn]
            try:
                raw = conn.recv_bytes()
            except (EOFError, OSError) as e:
                del self._open[conn]
                if self._workers_status[wid]:  # it was supposed to be working
                    self._raise_dead([wid], e)
                continue
            self._note_heard_from(wid)
            try:
                return True, (_HostUnpickler(io.BytesIO(raw)).load() if self._keep_host else pickle.loads(raw))
            except Exception as e:
                raise RuntimeError(f"DataLoader could not unpickle a batch from worker {wid}: {e}") from e
        failed = [wid for wid, w in enumerate(self._workers) if self._workers_status[wid] and not w.is_alive()]
        if failed:
            self._raise_dead(failed)
        return False, None

    def _note_heard_from(self, wid) -> None:
        if self._shared_paths:
            self._heard_from.add(wid)
            if len(self._heard_from) == self._num_workers:  # every worker has mapped the shared arrays
                launch.unlink(self._shared_paths)

    def _get_data(self):
        if self._timeout > 0:
            import time

            deadline = time.monotonic() + self._timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
                success, data = self._try_get_data(left)
                if success:
                    return data
        while True:
            success, data = self._try_get_data()
            if success:
                return data

    def _next_data(self):
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx, None)
                if info:
                    worker_id = info[0]
                    if len(info) == 2 or self._workers_status[worker_id]:  # has data or is still active
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._dataset_kind == _DatasetKind.Iterable and isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:
                    worker_id = self._task_info.pop(idx)[0]
                    return self._process_data(data, worker_id)
                self._task_info[idx] += (data,)
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _try_put_index(self) -> None:
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # find the next active worker, if any
            worker_queue_idx = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_queue_idx]:
                if self._in_order:
                    break
                if self._workers_num_tasks[worker_queue_idx] < max_tasks // sum(self._workers_status):
                    break
        else:
            return
        self._send(worker_queue_idx, (self._send_idx, index))
        self._task_info[self._send_idx] = (worker_queue_idx,)
        self._workers_num_tasks[worker_queue_idx] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data, worker_idx):
        self._workers_num_tasks[worker_idx] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _mark_worker_as_unavailable(self, worker_id, shutdown=False) -> None:
        self._workers_status[worker_id] = False
        try:
            self._conns[worker_id].send(None)  # the worker exits; its EOF then retires the connection
        except OSError:
            pass

    def _shutdown_workers(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        _live_iterators.discard(self)
        try:
            for conn in self._conns:
                try:
                    conn.send(None)  # an idle worker exits at once
                except OSError:
                    pass
                conn.close()  # EOF / broken pipe: a busy worker exits at its next read or write
            if not _utils.python_exit_status:
                for w in self._workers:
                    w.join(timeout=_utils.MP_STATUS_CHECK_INTERVAL)
        finally:
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=_utils.MP_STATUS_CHECK_INTERVAL)
            launch.unlink(self._shared_paths)
            self._open = {}

    def __del__(self) -> None:
        if getattr(self, "_workers", None) is not None and not getattr(self, "_shutdown", True):
            self._shutdown_workers()
