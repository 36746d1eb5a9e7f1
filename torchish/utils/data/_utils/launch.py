"""Starting DataLoader worker processes: start method, payload pickling, shared arrays.

NOTE [ Worker start method ]
JAX is multithreaded: a process forked after JAX has started (and ``import torchish`` starts
it) hangs as soon as the child uses JAX, and JAX warns on every ``fork()``.  So by default
workers are *fresh* processes: ``forkserver`` (``spawn`` where it is missing), with a server that
has pre-imported ``jax`` but never started it, and each worker restricts JAX to the CPU before
importing torchish (workers must never claim accelerator memory).  Worker code itself never
needs JAX (NOTE [ Host mode ]), but user code may make tensors there and that works.

What PyTorch users get from ``fork`` is kept where possible:
* the dataset, ``collate_fn`` and ``worker_init_fn`` are pickled with ``cloudpickle`` when it is
  installed, so lambdas and classes defined in the main script work, and the main script is
  *not* re-imported in workers (no ``if __name__ == "__main__":`` guard needed);
* NumPy arrays of 1 MiB or more (a ``TensorDataset``'s tensors included) are written once to a
  file in ``/dev/shm`` and memory-mapped copy-on-write by every worker, instead of being pickled
  through a pipe per worker.  The files are removed as soon as every worker has started.

``multiprocessing_context='fork'`` is accepted and is the fastest to start, but then the worker
must not use JAX (no torchish ops on device tensors in ``__getitem__``/transforms; torchish's own
datasets, transforms and collation are safe).  The starting cost of a fresh worker is mostly
``import torchish``; use ``persistent_workers=True`` to pay it once.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.spawn as mp_spawn
import os
import pickle
import tempfile
import warnings
import weakref

import numpy as np

try:
    import cloudpickle as _cloudpickle
except ImportError:  # pragma: no cover - cloudpickle is optional
    _cloudpickle = None

SHARE_MIN_BYTES = 1 << 20

# Runs in the fresh worker process (``Process(target=exec, ...)``): a builtin target means nothing
# from torchish is imported before JAX is pinned to the CPU.
_BOOT = """
try:
    import jax
    jax.config.update("jax_platforms", "cpu")
except Exception:
    pass
from torchish.utils.data._utils.worker import _worker_loop
_worker_loop(conn, worker_id, payload)
"""


def default_context():
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        server = forkserver._forkserver
        if getattr(server, "_preload_modules", None) == ["__main__"]:  # untouched by the user
            ctx.set_forkserver_preload(["jax"])  # imported, never started: fork-safe, saves ~0.4 s per worker
    return ctx


def is_fork(ctx) -> bool:
    return ctx.get_start_method() == "fork"


# ------------------------------------------------------------------------------- shared arrays
def _share_dir():
    d = "/dev/shm"
    return d if os.path.isdir(d) and os.access(d, os.W_OK) else None


def _open_shared(path, shape, dtype):
    return np.asarray(np.memmap(path, dtype=dtype, mode="c", shape=shape))


def _host_tensor(arr, requires_grad):
    from ...._tensor import wrap

    t = wrap(arr)
    if requires_grad:
        t._requires_grad = True
    return t


def _base_pickler():
    return _cloudpickle.CloudPickler if _cloudpickle is not None else pickle.Pickler


class _Pickler(_base_pickler()):
    """Pickles the worker payload; large arrays go to shared memory, tensors travel as NumPy."""

    def __init__(self, file, paths: list, share: bool):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._paths = paths
        self._dir = _share_dir() if share else None

    def reducer_override(self, obj):
        from ...._tensor import Tensor

        if type(obj) is np.ndarray and self._dir is not None and obj.nbytes >= SHARE_MIN_BYTES and not obj.dtype.hasobject:
            shared = self._share(obj)
            if shared is not None:
                return shared
        if type(obj) is Tensor and obj._grad_fn is None:
            return (_host_tensor, (np.asarray(obj._concrete("sending a tensor to a DataLoader worker")),
                                   obj._requires_grad))
        sup = getattr(super(), "reducer_override", None)
        return sup(obj) if sup is not None else NotImplemented

    def _share(self, arr):
        fd, path = tempfile.mkstemp(prefix=f"torchish-dl-{os.getpid()}-", dir=self._dir)
        try:
            with os.fdopen(fd, "wb") as f:
                np.ascontiguousarray(arr).tofile(f)
        except OSError:  # e.g. a small /dev/shm in a container: pickle in-band instead
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        self._paths.append(path)
        return (_open_shared, (path, arr.shape, arr.dtype))


def dumps_payload(obj, share: bool = True):
    """Pickle ``obj`` for worker processes; returns (bytes, shared-memory paths to unlink later)."""
    import io

    buf, paths = io.BytesIO(), []
    try:
        _Pickler(buf, paths, share).dump(obj)
    except Exception as e:
        unlink(paths)
        hint = ("install cloudpickle (pip install cloudpickle) to send lambdas and locally defined classes, "
                if _cloudpickle is None else "")
        raise RuntimeError(
            f"DataLoader could not send the dataset/collate_fn/worker_init_fn to its worker processes: {e}. "
            "torchish starts workers as fresh processes (JAX cannot run in a forked process), so these must be "
            f"picklable: {hint}move them to module level, or pass multiprocessing_context='fork' if the workers "
            "never use torchish tensor ops."
        ) from e
    return buf.getvalue(), paths


def loads_payload(data: bytes):
    return pickle.loads(data)


def unlink(paths) -> None:
    while paths:
        with contextlib.suppress(OSError):
            os.unlink(paths.pop())


# ------------------------------------------------------------------------------- processes
@contextlib.contextmanager
def _no_main_reimport():
    """Stop spawn/forkserver children from re-running the main script (the payload carries what they need)."""
    orig = mp_spawn.get_preparation_data

    def prep(name):
        d = orig(name)
        d.pop("init_main_from_path", None)
        d.pop("init_main_from_name", None)
        return d

    mp_spawn.get_preparation_data = prep
    try:
        yield
    finally:
        mp_spawn.get_preparation_data = orig


@contextlib.contextmanager
def _quiet_fork():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
        yield


# Main-side pipe ends of every live worker.  A forked child inherits all of them and must close
# them: a stray copy would stop other workers from seeing EOF when their iterator shuts down.
_MAIN_ENDS: "weakref.WeakSet" = weakref.WeakSet()


def start_worker(ctx, worker_id: int, payload):
    """Start worker ``worker_id``; returns (process, the main process's end of its connection).

    ``payload`` is the pickled worker arguments (bytes), or for ``fork`` the arguments themselves.
    """
    main_conn, child_conn = ctx.Pipe(duplex=True)
    _MAIN_ENDS.add(main_conn)
    if is_fork(ctx):
        from .worker import _forked_worker_loop

        inherited = tuple(c for c in _MAIN_ENDS if not c.closed)
        w = ctx.Process(target=_forked_worker_loop, args=(child_conn, worker_id, payload, inherited))
        guard = _quiet_fork()
    else:
        w = ctx.Process(target=exec, args=(_BOOT, {"conn": child_conn, "worker_id": worker_id, "payload": payload}))
        guard = _no_main_reimport() if _cloudpickle is not None else contextlib.nullcontext()
    w.daemon = True
    with guard:
        w.start()
    child_conn.close()
    return w, main_conn
