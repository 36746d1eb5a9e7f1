"""``torchish.cuda``: whether JAX sees GPUs, and how many."""

from __future__ import annotations

import jax


def _gpus():
    try:
        return jax.local_devices(backend="gpu")
    except RuntimeError:
        return []


def is_available() -> bool:
    return bool(_gpus())


def device_count() -> int:
    return len(_gpus())


def current_device() -> int:
    return 0


def synchronize(device=None) -> None:
    """Wait for all queued work on the device (``jax.effects_barrier``)."""
    jax.effects_barrier()


def manual_seed(seed) -> None:
    from .._random import manual_seed as _ms

    _ms(seed)


manual_seed_all = manual_seed


def get_device_name(device=None) -> str:
    g = _gpus()
    return g[device or 0].device_kind if g else ""


def is_bf16_supported() -> bool:
    return is_available()


def empty_cache() -> None:
    """No-op: XLA manages device memory."""
