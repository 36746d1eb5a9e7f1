"""``DistributedSampler``: each of ``num_replicas`` processes gets its own slice of the dataset."""

from __future__ import annotations

import math
from collections.abc import Iterator

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _world() -> tuple[int, int]:
    """(world size, rank) from ``torchish.distributed`` when a process group is initialised, else (1, 0)."""
    try:
        from ... import distributed as dist  # written later; absent or uninitialised means one process
    except ImportError:
        return 1, 0
    try:
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
    except AttributeError:
        pass
    return 1, 0


class DistributedSampler(Sampler):
    """Restrict loading to this process's share of the dataset (``rank`` of ``num_replicas``).

    Without ``drop_last`` the index list is padded by repeating its head so that it divides evenly;
    with it, the tail is dropped.  With ``shuffle`` the order is a permutation seeded by
    ``seed + epoch`` (call ``set_epoch`` every epoch), identical on every replica.  Defaults for
    ``num_replicas``/``rank`` come from ``torchish.distributed`` when it is initialised, else 1/0.

    Example:
        >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False))
        [1, 3, 0]
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            world, this_rank = _world()
            num_replicas = world if num_replicas is None else num_replicas
            rank = this_rank if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        if self.drop_last and len(self.dataset) % self.num_replicas != 0:
            self.num_samples = math.ceil((len(self.dataset) - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(len(self.dataset) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator:
        if self.shuffle:
            from ._utils.host import rng_from_seed

            # the host stream of ``Generator().manual_seed(seed + epoch)``: identical on every replica
            indices = rng_from_seed(self.seed + self.epoch).permutation(len(self.dataset)).tolist()
        else:
            indices = list(range(len(self.dataset)))
        if not self.drop_last:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank: self.total_size: self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch used to seed the shuffle, so each epoch has a new order on every replica."""
        self.epoch = epoch
