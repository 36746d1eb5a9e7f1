"""Datasets: ``Dataset``, ``IterableDataset``, ``TensorDataset``, ``StackDataset``,
``ConcatDataset``, ``ChainDataset``, ``Subset`` and ``random_split``, as ``torch.utils.data``.

``TensorDataset`` keeps a NumPy view of CPU tensors (zero-copy) so the DataLoader can gather a
whole batch with one fancy index per tensor (``_torchish_getbatch_``), and so worker processes
can index it without JAX (see ``_utils/host.py``).
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Generic, Iterable, TypeVar

import jax
import numpy as np

from ..._random import default_generator
from ..._tensor import Tensor, wrap
from ._utils import host

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "StackDataset", "ConcatDataset", "ChainDataset",
           "Subset", "random_split"]

_T_co = TypeVar("_T_co", covariant=True)


class Dataset(Generic[_T_co]):
    """A map-style dataset: subclasses implement ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index) -> _T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset[_T_co]") -> "ConcatDataset[_T_co]":
        return ConcatDataset([self, other])


class IterableDataset(Dataset[_T_co], Iterable[_T_co]):
    """A dataset that is an iterable of samples; with workers, shard it using ``get_worker_info()``."""

    def __add__(self, other):
        return ChainDataset([self, other])


def _cpu_numpy(a):
    """``a`` as a zero-copy NumPy view when it is a host or CPU array, else None."""
    if isinstance(a, np.ndarray):
        return a
    if isinstance(a, jax.core.Tracer):
        return None
    if isinstance(a, jax.Array) and all(d.platform == "cpu" for d in a.devices()):
        return np.asarray(a)
    return None


class TensorDataset(Dataset):
    """A dataset of tensors sharing their first dimension; sample ``i`` is ``tuple(t[i] for t in tensors)``.

    Example:
        >>> ds = TensorDataset(torchish.arange(6).view(3, 2), torchish.tensor([0, 1, 0]))
        >>> ds[1]
        (tensor([2, 3]), tensor(1))
    """

    def __init__(self, *tensors: Tensor) -> None:
        if any(tensors[0].size(0) != tensor.size(0) for tensor in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors
        self._mirror = None  # (source arrays, NumPy views or None); refreshed when a tensor changes

    def _arrays(self):
        srcs = tuple(t._value() for t in self.tensors)
        m = self._mirror
        if m is None or len(m[0]) != len(srcs) or any(a is not b for a, b in zip(m[0], srcs)):
            arrays = [_cpu_numpy(a) for a in srcs]
            m = self._mirror = (srcs, None if any(a is None for a in arrays) else arrays)
        return m[1]

    def __getitem__(self, index):
        arrays = self._arrays()
        if arrays is not None and not any(t.requires_grad for t in self.tensors):  # NumPy indexing: no XLA program per index
            return tuple(wrap(np.asarray(a[index])) for a in arrays)
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)

    def _torchish_getbatch_(self, indices):
        """The default-collated batch for ``indices``, gathered in one step per tensor."""
        if type(self).__getitem__ is not TensorDataset.__getitem__ or any(t.requires_grad for t in self.tensors):
            return NotImplemented
        arrays = self._arrays()
        if arrays is None:  # accelerator-resident tensors: gather on the device
            if host.IN_WORKER:
                return NotImplemented
            from ..._functions.creation import tensor

            idx = tensor(list(indices))
            return [t[idx] for t in self.tensors]
        idx = np.asarray(indices, dtype=np.int64)
        return [host.to_tensor(a[idx]) for a in arrays]

    def __getstate__(self):
        # NOTE: tensors travel as NumPy arrays, so a worker process rebuilds them without JAX
        state = self.__dict__.copy()
        state["tensors"] = tuple(host.as_numpy(t) for t in self.tensors)
        state["_mirror"] = None
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["tensors"] = tuple(host.to_tensor(a) for a in state["tensors"])
        self.__dict__.update(state)


class StackDataset(Dataset):
    """Stack datasets of equal length: sample ``i`` is a tuple (``*args``) or dict (``**kwargs``) of theirs."""

    def __init__(self, *args: Dataset, **kwargs: Dataset) -> None:
        if args:
            if kwargs:
                raise ValueError(
                    "Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like input/output, "
                    "but both types are given."
                )
            self._length = len(args[0])
            if any(self._length != len(dataset) for dataset in args):
                raise ValueError("Size mismatch between datasets")
            self.datasets = args
        elif kwargs:
            tmp = list(kwargs.values())
            self._length = len(tmp[0])
            if any(self._length != len(dataset) for dataset in tmp):
                raise ValueError("Size mismatch between datasets")
            self.datasets = kwargs
        else:
            raise ValueError("At least one dataset should be passed")

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: dataset[index] for k, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)

    def _items(self, dataset, indices):
        if callable(getattr(dataset, "__getitems__", None)):
            items = dataset.__getitems__(indices)
            if len(items) != len(indices):
                raise ValueError(f"Nested dataset's output size mismatch. Expected {len(indices)}, got {len(items)}")
            return items
        return [dataset[idx] for idx in indices]

    def __getitems__(self, indices: list):
        if isinstance(self.datasets, dict):
            batch = [{} for _ in indices]
            for k, dataset in self.datasets.items():
                for data, sample in zip(self._items(dataset, indices), batch):
                    sample[k] = data
            return batch
        columns = [self._items(dataset, indices) for dataset in self.datasets]
        return [tuple(sample) for sample in zip(*columns)]

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """The concatenation of map-style datasets."""

    @staticmethod
    def cumsum(sequence):
        r, s = [], 0
        for e in sequence:
            s += len(e)
            r.append(s)
        return r

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        super().__init__()
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        sample_idx = idx if dataset_idx == 0 else idx - self.cumulative_sizes[dataset_idx - 1]
        return self.datasets[dataset_idx][sample_idx]


class ChainDataset(IterableDataset):
    """Chain iterable datasets one after another (lazily)."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        super().__init__()
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        if type(self).__getitem__ is not Subset.__getitem__ and type(self).__getitems__ is Subset.__getitems__:
            raise NotImplementedError(
                f"{type(self).__name__} overrides __getitem__ but not __getitems__. "
                "When subclassing Subset and overriding __getitem__, you must also override "
                "__getitems__ to ensure DataLoader works correctly with your custom logic. "
                "A simple implementation:\n\n"
                "def __getitems__(self, indices):\n"
                "    return [self.__getitem__(idx) for idx in indices]"
            )

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[idx] for idx in indices])
        return [self.dataset[self.indices[idx]] for idx in indices]

    def _torchish_getbatch_(self, indices):
        getbatch = getattr(self.dataset, "_torchish_getbatch_", None)
        if getbatch is None or type(self).__getitems__ is not Subset.__getitems__:
            return NotImplemented
        return getbatch([self.indices[idx] for idx in indices])

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator=default_generator) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (or fractions).

    Fractions that sum to 1 are turned into lengths with ``floor(len * frac)`` each, the remainder
    distributed round-robin, as PyTorch does.

    Example:
        >>> train, val = random_split(range(10), [0.8, 0.2], generator=torchish.Generator().manual_seed(0))
        >>> len(train), len(val)
        (8, 2)
    """
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        subset_lengths: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            subset_lengths.append(math.floor(len(dataset) * frac))
        remainder = len(dataset) - sum(subset_lengths)
        for i in range(remainder):
            subset_lengths[i % len(subset_lengths)] += 1
        lengths = subset_lengths
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.", stacklevel=2)
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = host.host_rng(generator).permutation(sum(lengths)).tolist()
    return [Subset(dataset, indices[offset - length: offset])
            for offset, length in zip(itertools.accumulate(lengths), lengths)]
