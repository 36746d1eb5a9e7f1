"""``DevicePrefetcher``: keep the next batches already on the device (beyond PyTorch).

A compiled training step should never wait for a host-to-device copy.  JAX copies
asynchronously: ``jax.device_put`` returns at once and the copy overlaps whatever runs next.
So staging batch ``k+1 .. k+size`` while the caller works on batch ``k`` hides the transfer
behind the step.  With a ``jax.sharding.Sharding`` (e.g. ``NamedSharding(mesh, P('data'))``) each
batch is split across devices for data parallelism; in a multi-process run each process passes
its local batch and the global array is assembled with ``jax.make_array_from_process_local_data``.
"""

from __future__ import annotations

import collections
from collections import deque

import jax
import numpy as np

from ... import _device
from ..._tensor import Tensor, wrap

__all__ = ["DevicePrefetcher"]


def _resolve(target):
    if target is None:
        return None
    if isinstance(target, (jax.sharding.Sharding, jax.Device)):
        return target
    return _device.as_device(target).to_jax()


def _put(arr, target):
    if isinstance(target, jax.Device) and isinstance(arr, jax.Array) and arr.devices() == {target}:
        return arr  # already there
    if isinstance(target, jax.sharding.Sharding):
        if isinstance(target, jax.sharding.NamedSharding) and arr.ndim < len(target.spec):
            target = jax.sharding.NamedSharding(target.mesh, jax.sharding.PartitionSpec())  # scalars: replicate
        if not target.is_fully_addressable:  # multi-process: this process holds its slice of the batch
            return jax.make_array_from_process_local_data(target, np.asarray(arr))
    return jax.device_put(arr, target)


def map_tensors(fn, data):
    """Apply ``fn`` to every Tensor (and jax.Array) in a nested batch, keeping its structure."""
    if isinstance(data, Tensor):
        return fn(data)
    if isinstance(data, jax.Array):
        return fn(wrap(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            return type(data)({k: map_tensors(fn, v) for k, v in data.items()})
        except TypeError:
            return {k: map_tensors(fn, v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(map_tensors(fn, v) for v in data))
    if isinstance(data, tuple):
        return tuple(map_tensors(fn, v) for v in data)
    if isinstance(data, list):
        return [map_tensors(fn, v) for v in data]
    return data


class DevicePrefetcher:
    """Iterate over ``iterable`` with the next ``size`` batches already copied to ``device``.

    Args:
        iterable: any iterable of batches (a DataLoader, a generator, ...); tensors anywhere in a
            batch (tuples, lists, dicts, namedtuples) are moved, other values pass through.
        device: a device (``'cuda'``, ``'cpu'``, ``torchish.device``, ``jax.Device``) or a
            ``jax.sharding.Sharding``; default: torchish's default device.
        size: how many batches to keep in flight ahead of the one being used.

    Example:
        >>> loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=2)
        >>> for x, y in DevicePrefetcher(loader, "cuda"):
        ...     loss = train_step(x, y)      # x, y are already on the GPU
    """

    def __init__(self, iterable, device=None, *, size: int = 2):
        if size < 0:
            raise ValueError(f"DevicePrefetcher size should be non-negative, got {size}")
        self._iterable = iterable
        self._it = iter(iterable)
        self._target = _resolve(device if device is not None else _device.get_default_device())
        self._size = size
        self._queue: deque = deque()
        self._exhausted = False

    def _stage(self, batch):
        return map_tensors(lambda t: wrap(_put(t._value(), self._target)), batch)

    def __iter__(self):
        return self

    def __next__(self):
        while not self._exhausted and len(self._queue) <= self._size:
            try:
                batch = next(self._it)
            except StopIteration:
                self._exhausted = True
                break
            self._queue.append(self._stage(batch))
        if not self._queue:
            raise StopIteration
        return self._queue.popleft()

    def __len__(self) -> int:
        return len(self._iterable)
