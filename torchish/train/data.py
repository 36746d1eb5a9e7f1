"""Datasets and loaders for a run, built so that a run can stop anywhere and resume bit-exactly.

NOTE [ Resumable data order ]
Nothing about the data order lives in hidden random state.  The training order of epoch ``e``
is a permutation seeded by ``(seed, e)`` (``EpochBatchSampler``, the same rule as
``DistributedSampler``), and the random augmentations of sample ``i`` in epoch ``e`` draw from a
host stream seeded by ``(seed, e, i)`` (``Augmented``).  So the data position of a run is two
integers, (epoch, batch index), and resuming at batch ``b`` skips ``b`` batches of indices
without loading them, with worker processes or without.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import torchish
from torchish.utils.data import DataLoader, Dataset, Sampler
from torchish.utils.data._utils import host

from .config import Config, Sources
from .registry import DatasetSpec, build_transform, dataset_spec

__all__ = ["Data", "build_data", "EpochBatchSampler", "Augmented", "world"]


def world() -> tuple[int, int]:
    """(number of processes, this process's rank): from ``torchish.distributed`` when initialised."""
    try:
        import torchish.distributed as dist
    except ImportError:
        return 1, 0
    try:
        if dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
    except AttributeError:
        pass
    return 1, 0


class EpochBatchSampler(Sampler):
    """Batches of indices whose order is a function of ``(seed, epoch)``; can start mid-epoch.

    Each of ``num_replicas`` processes takes every ``num_replicas``-th index of the permutation
    (the tail that does not divide evenly is dropped).  Call ``set_epoch(epoch, start)`` before
    iterating: the epoch's first ``start`` batches are skipped without being loaded.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int,
                 num_replicas: int = 1, rank: int = 0):
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _indices(self) -> np.ndarray:
        if self.shuffle:
            order = host.rng_from_seed(self.seed * 1_000_003 + self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        per_replica = self.n // self.num_replicas
        return order[: per_replica * self.num_replicas][self.rank:: self.num_replicas]

    def __iter__(self):
        idx = self._indices()
        for b in range(self.start, len(self)):
            yield idx[b * self.batch_size: (b + 1) * self.batch_size].tolist()

    def __len__(self) -> int:
        m = self.n // self.num_replicas
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)


class Augmented(Dataset):
    """``dataset`` with ``transform`` applied to each input; its random draws are seeded per
    ``(seed, epoch, index)`` (see NOTE [ Resumable data order ]).  Set ``epoch`` before each epoch."""

    def __init__(self, dataset, transform, seed: int, generator):
        self.dataset, self.transform, self.seed, self.generator = dataset, transform, seed, generator
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        x, y = self.dataset[index]
        if self.generator is not None:  # host-only re-seed: safe in worker processes, touches no device
            host.seed_without_device(self.generator, (self.seed * 1_000_003 + self.epoch) * 1_000_003 + int(index))
        return self.transform(x), y


@dataclass
class Data:
    """Everything a run needs from the data side."""

    train: Dataset
    eval: Dataset | None
    info: dict  # what the model needs to know (num_classes, vocab_size, ...) and the task
    train_loader: DataLoader
    train_sampler: EpochBatchSampler
    eval_loader: DataLoader | None

    def start_epoch(self, epoch: int, batch: int = 0) -> None:
        """Position the training loader at ``batch`` of ``epoch`` (before iterating it)."""
        self.train_sampler.set_epoch(epoch, batch)
        if isinstance(self.train, Augmented):
            self.train.epoch = epoch


def _build_split(spec: DatasetSpec, cfg: Config, split: str, src: Sources):
    try:
        return spec.cls(**spec.splits[split], **cfg.data.kwargs)
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        where = "data.dataset" if cfg.data.dataset is not None else "data.target"
        raise src.error(where, f"cannot load the {split!r} split of {spec.cls.__name__}: {e}") from None


def _infer_info(ds, base: dict) -> dict:
    """Static dataset facts, completed from the dataset object and its first sample."""
    info = dict(base)
    for k in ("vocab_size", "block_size"):
        if k not in info and isinstance(getattr(ds, k, None), int):
            info[k] = getattr(ds, k)
    if "num_classes" not in info and getattr(ds, "classes", None) is not None:
        info["num_classes"] = len(ds.classes)
    if "task" not in info or "in_features" not in info:
        x, y = ds[0][0], ds[0][1]
        shape = tuple(x.shape) if hasattr(x, "shape") else ()
        if shape and "in_features" not in info:
            info["in_features"] = int(np.prod(shape))
        if len(shape) == 3 and "in_channels" not in info:
            info["in_channels"] = shape[0]
        y_seq = hasattr(y, "shape") and len(tuple(y.shape)) >= 1
        info.setdefault("task", "sequence" if y_seq else "classification")
    return info


def build_data(cfg: Config, src: Sources, *, seed: int) -> Data:
    """Datasets, transforms and loaders from ``cfg.data`` (see NOTE [ Resumable data order ])."""
    d = cfg.data
    spec = dataset_spec(cfg, src)
    train_ds = _build_split(spec, cfg, d.train_split, src)
    eval_ds = _build_split(spec, cfg, d.eval_split, src) if d.eval_split is not None else None
    info = _infer_info(train_ds, spec.info)

    first = [{"name": "ToTensor"}] if spec.images else []
    generator = torchish.Generator() if d.augment else None
    train_tf = build_transform(first + d.augment + d.transforms, "data.augment", src, generator=generator)
    eval_tf = build_transform(first + d.transforms, "data.transforms", src)
    if train_tf is not None:
        train_ds = Augmented(train_ds, train_tf, seed, generator)
    if eval_ds is not None and eval_tf is not None:
        eval_ds = Augmented(eval_ds, eval_tf, seed, None)

    replicas, rank = world()
    sampler = EpochBatchSampler(len(train_ds), d.batch_size, d.shuffle, d.drop_last, seed, replicas, rank)
    if len(sampler) == 0:
        raise src.error("data.batch_size", f"the training split has {len(train_ds)} examples, fewer than one batch "
                                           f"of {d.batch_size}{' per process' if replicas > 1 else ''}")
    workers = {"num_workers": d.num_workers} if d.num_workers else {}
    train_loader = DataLoader(train_ds, batch_sampler=sampler, **workers)
    eval_loader = None
    if eval_ds is not None:
        eval_loader = DataLoader(eval_ds, batch_size=d.eval_batch_size or 4 * d.batch_size, shuffle=False, **workers)
    return Data(train_ds, eval_ds, info, train_loader, sampler, eval_loader)

