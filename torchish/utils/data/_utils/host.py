"""Host-side helpers: NumPy-backed tensors inside workers, and the host random stream.

NOTE [ Host mode ]
DataLoader worker processes never need JAX: they index NumPy arrays, run transforms in NumPy
and collate with ``np.stack``.  Per-sample data made by torchish's data code (``TensorDataset``
items, ``ToTensor`` and transform outputs, shipped datasets) are *host tensors*: ordinary
``Tensor`` boxes whose value is a ``np.ndarray`` rather than a ``jax.Array``.  Any torchish op
accepts them (the result is a device tensor), ``.to(device)`` moves them, and ``default_collate``
stacks them with NumPy, so each batch crosses to the device once, in the main process
(``to_tensor``): inside a worker (``IN_WORKER``) batches stay NumPy-backed and become device
arrays when the main process unpickles them.  Why not device tensors per sample: every distinct
crop offset or index would compile its own XLA program in eager mode, and on an accelerator each
sample would be a separate host-to-device copy.

Samplers, ``random_split``, worker seeds and random transforms draw from a NumPy ``Generator``
derived from a torchish ``Generator``'s seed (``host_rng``): no device round trip or XLA compile
per draw, and it works in workers; re-seeding the torchish generator (``torchish.manual_seed``)
restarts the host stream, so a seed reproduces an epoch (the values differ from PyTorch's).
"""

from __future__ import annotations

import contextlib
import threading
import weakref

import jax.numpy as jnp
import numpy as np

from ...._random import default_generator
from ...._tensor import Tensor, wrap

IN_WORKER = False  # set at the start of a DataLoader worker process, before the dataset is unpickled
_LOCAL = threading.local()  # .keep: batches stay on the host (a DataLoader with device= stages them itself)


@contextlib.contextmanager
def keep_on_host(keep: bool = True):
    """Within this block, ``to_tensor`` makes NumPy-backed tensors even in the main process."""
    old = getattr(_LOCAL, "keep", False)
    _LOCAL.keep = keep
    try:
        yield
    finally:
        _LOCAL.keep = old


def host_tensor(arr) -> Tensor:
    """A NumPy-backed Tensor: per-sample data (dataset items, transform outputs) stays on the host
    and reaches the device once per batch, through ``default_collate``."""
    return wrap(np.asarray(arr))


def to_tensor(arr) -> Tensor:
    """A NumPy batch as a Tensor: NumPy-backed in a worker (host mode), a device array otherwise."""
    arr = np.asarray(arr)
    if IN_WORKER or getattr(_LOCAL, "keep", False):
        return wrap(arr)
    return wrap(jnp.asarray(arr))


def as_numpy(t) -> np.ndarray:
    """The value of a Tensor (host or device), NumPy array or array-like as a NumPy array."""
    if isinstance(t, Tensor):
        return np.asarray(t._value())
    return np.asarray(t)


def is_host(t: Tensor) -> bool:
    return isinstance(t._data, np.ndarray) and t._base is None


_TAG = 0x746F7263  # "torc": keeps host streams distinct from NumPy streams seeded with the same int
_HOST_RNG: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def host_rng(generator=None) -> np.random.Generator:
    """The NumPy stream that host-side random code (transforms, samplers) draws from.

    It is derived from ``generator``'s seed (default: torchish's global generator) and restarts
    whenever that generator is re-seeded (``manual_seed``/``set_state`` bump its key version), so
    ``torchish.manual_seed(s)`` reproduces an epoch of augmentations.
    """
    g = default_generator if generator is None else generator
    version = g._key._version
    entry = _HOST_RNG.get(g)
    if entry is None or entry[0] != version:
        entry = (version, rng_from_seed(g.initial_seed()))
        _HOST_RNG[g] = entry
    return entry[1]


def rng_from_seed(seed: int) -> np.random.Generator:
    """The host stream of a torchish Generator seeded with ``seed`` (without making one)."""
    seed = int(seed) & ((1 << 64) - 1)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, _TAG])))


def draw_seed(generator=None) -> int:
    """A fresh non-negative int64 seed from ``generator``'s host stream (PyTorch: ``random_()``)."""
    return int(host_rng(generator).integers(0, 2**63 - 1, dtype=np.int64))


def seed_without_device(generator, seed: int) -> None:
    """``generator.manual_seed(seed)`` without touching JAX (safe in a forked worker)."""
    seed = int(seed)
    s = seed & 0xFFFFFFFFFFFFFFFF
    generator._seed = seed
    generator._key._data = np.array([(s >> 32) & 0xFFFFFFFF, s & 0xFFFFFFFF], dtype=np.uint32)
    generator._key._version += 1
