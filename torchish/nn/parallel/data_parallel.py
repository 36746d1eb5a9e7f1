"""``DataParallel``: single-process data parallelism over the local devices."""

from __future__ import annotations

from .distributed import DistributedDataParallel

__all__ = ["DataParallel"]


class DataParallel(DistributedDataParallel):
    """Data parallelism over this process's devices (``torch.nn.DataParallel``).

    The same machinery as ``DistributedDataParallel(strategy='pmap')`` restricted to local
    devices: a step compiled with ``torchish.compile`` splits each batch on dim 0 across
    ``device_ids`` (indices into ``jax.local_devices()``, or JAX devices; default all local
    devices).  Outside ``torchish.compile`` it runs the plain module.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        import jax

        devices = jax.local_devices() if device_ids is None else list(device_ids)
        super().__init__(module, output_device=output_device, dim=dim, init_sync=False, devices=devices)
        self.device_ids = device_ids
