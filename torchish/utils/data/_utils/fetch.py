"""Fetchers: turn an index (or a batch of indices) into a collated batch, as PyTorch's.

Map-style fast path: when the dataset has ``_torchish_getbatch_`` (``TensorDataset`` and
``Subset`` of one) and the collate function is ``default_collate``, a whole batch is one NumPy
fancy-index per tensor instead of one ``__getitem__`` and one small tensor per sample.
"""

from __future__ import annotations

from . import collate as _collate


class _BaseDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last

    def fetch(self, possibly_batched_index):
        raise NotImplementedError


class _IterableDatasetFetcher(_BaseDatasetFetcher):
    def __init__(self, dataset, auto_collation, collate_fn, drop_last) -> None:
        super().__init__(dataset, auto_collation, collate_fn, drop_last)
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if len(data) == 0 or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


class _MapDatasetFetcher(_BaseDatasetFetcher):
    def __init__(self, dataset, auto_collation, collate_fn, drop_last) -> None:
        super().__init__(dataset, auto_collation, collate_fn, drop_last)
        getbatch = getattr(dataset, "_torchish_getbatch_", None)
        self._getbatch = getbatch if auto_collation and collate_fn is _collate.default_collate else None

    def fetch(self, possibly_batched_index):
        if self.auto_collation:
            if self._getbatch is not None:
                batch = self._getbatch(possibly_batched_index)
                if batch is not NotImplemented:
                    return batch
            if hasattr(self.dataset, "__getitems__") and self.dataset.__getitems__:
                data = self.dataset.__getitems__(possibly_batched_index)
            else:
                data = [self.dataset[idx] for idx in possibly_batched_index]
        else:
            data = self.dataset[possibly_batched_index]
        return self.collate_fn(data)
