"""Host memory reuse: keep the memory XLA:CPU frees for its next step instead of returning it.

Every call of an XLA:CPU program allocates its temporaries (one buffer of tens of MB for a
training step) and its outputs, and frees them when the call ends.  glibc's ``malloc`` serves
blocks over 32 MB with a fresh ``mmap`` and returns them at ``free``, and XLA's worker threads
allocate from per-thread arenas whose extra heaps are unmapped as soon as they are empty, so
each step's memory comes back from the kernel as new pages: ~1 us of page fault per 4 KiB the
step touches (the cnn step of benchmarks/train_step.py: ~10,600 faults, ~12 ms of a 43 ms
step).  ``TORCHISH_MALLOC`` (read once, at ``import torchish``) picks the policy (glibc on Linux
only; elsewhere nothing is changed):

- ``keep`` (the default): ``M_MMAP_MAX=0`` (large blocks come from a heap, not a private mapping
  each time), ``M_TRIM_THRESHOLD=2 GiB`` (freed memory at the top of a heap is kept) and
  ``M_TOP_PAD=64 MiB`` (an arena's emptied extra heap is kept for the next step).  cnn step
  43 -> 30 ms on a 2-core CPU; a block larger than an arena's heap (64 MiB) that a worker thread
  allocates is still a fresh mapping each time (the gpt step's 77 MB of temporaries).
- ``keep-one-arena``: also ``M_ARENA_MAX=1``, so every thread allocates from the main heap and
  blocks of any size are reused (gpt 46 -> 31 ms), at the price of lock contention between
  threads: a step of a few microseconds (the tiny MLP) takes ~2x as long.  It must be set before
  JAX starts its threads (threads that already allocated keep their arenas).
- ``system``: ``malloc`` as it is.

With ``keep`` the process keeps its peak host memory, the way PyTorch's CUDA caching allocator
keeps device memory; ``torchish.backends.release_host_memory()`` hands the free part back
(``malloc_trim``).  Measurements: benchmarks/README.md, "Host memory".
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8
_KEEP = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 64 << 20))
SETTINGS = {"keep": _KEEP, "keep-one-arena": ((_M_ARENA_MAX, 1),) + _KEEP, "system": ()}

_libc = None
POLICY: str = "system"  # the policy in effect (a key of SETTINGS)


def _glibc():
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # pragma: no cover (a glibc without the usual soname)
        return None


def _apply() -> None:
    global _libc, POLICY
    choice = os.environ.get("TORCHISH_MALLOC", "keep").strip().lower() or "keep"
    if choice not in SETTINGS:
        raise ValueError(f"TORCHISH_MALLOC={choice!r} is not a host-memory policy; expected 'keep' (the "
                         "default: reuse freed memory between steps), 'keep-one-arena' (also one arena for "
                         "all threads) or 'system' (leave malloc as it is)")
    _libc = _glibc()
    if _libc is not None and all(_libc.mallopt(p, v) == 1 for p, v in SETTINGS[choice]):
        POLICY = choice


def release_host_memory() -> bool:
    """Return the free memory at the top of the heap (and free pages inside it) to the operating
    system, like ``torch.cuda.empty_cache()`` for host memory; True if any was returned.  The next
    step takes its pages back from the kernel (page faults) once."""
    return bool(_libc.malloc_trim(0)) if _libc is not None else False


def host_memory_policy() -> str:
    """The host-memory policy in effect: ``"keep"`` (the default on Linux/glibc), ``"keep-one-arena"``,
    or ``"system"`` when ``malloc`` runs with its own settings (``TORCHISH_MALLOC=system``, or not glibc)."""
    return POLICY


_apply()
