"""DataLoader worker processes: order, seeding, get_worker_info, errors, shutdown, start methods.

Most tests use ``multiprocessing_context='fork'`` (fast to start; the datasets here never use JAX
in the worker); a few use the default fresh-process start method, which is what users get.
"""

import gc
import os
import random
import time

import numpy as np
import pytest

import torchish
from torchish.utils import data as D
from torchish.utils.data._utils.worker import _generate_state
from parity import requires_torch

FORK = dict(num_workers=2, multiprocessing_context="fork")


class Squares(D.Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.float32(i * i), i


class WorkerIds(D.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = D.get_worker_info()
        return np.array([info.id, info.num_workers, info.seed, torchish.initial_seed(),
                         random.randint(0, 2**30), np.random.randint(0, 2**30)], dtype=np.int64)


class Failing(D.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise ValueError(f"bad sample {i}")
        return i


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _assert_gone(workers):
    deadline = time.time() + 10
    while any(_alive(w.pid) for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w.pid) for w in workers), "a DataLoader worker process is still running"


def test_map_dataset_in_order_with_fork_workers():
    dl = D.DataLoader(Squares(10), batch_size=3, **FORK)
    batches = list(dl)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert batches[1][0].dtype == torchish.float32 and batches[1][0].tolist() == [9.0, 16.0, 25.0]
    assert isinstance(batches[0][0]._value(), type(torchish.ones(1)._value()))  # device arrays in the main process


def test_tensor_dataset_with_workers_and_drop_last():
    x = torchish.arange(40).view(20, 2).float()
    dl = D.DataLoader(D.TensorDataset(x, torchish.arange(20)), batch_size=6, drop_last=True, shuffle=True,
                      generator=torchish.Generator().manual_seed(0), **FORK)
    batches = list(dl)
    assert len(batches) == len(dl) == 3
    for xb, yb in batches:
        np.testing.assert_array_equal(xb.numpy(), x.numpy()[yb.numpy()])
    seen = torchish.cat([yb for _, yb in batches]).tolist()
    assert len(set(seen)) == 18


def test_worker_seeding_matches_pytorch_rules():
    dl = D.DataLoader(WorkerIds(), batch_size=2, generator=torchish.Generator().manual_seed(0), **FORK)
    rows = torchish.cat(list(dl)).numpy()
    ids, nw, seeds, initial = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    assert set(ids) == {0, 1} and set(nw) == {2}
    base = seeds[ids == 0][0]
    assert set(seeds[ids == 1]) == {base + 1} and np.array_equal(initial, seeds)
    # Python's and NumPy's global RNGs are seeded as PyTorch seeds them
    first0 = rows[ids == 0][0]
    random.seed(int(base))
    np.random.seed(_generate_state(int(base), 0))
    assert first0[4] == random.randint(0, 2**30) and first0[5] == np.random.randint(0, 2**30)
    rows2 = torchish.cat(list(D.DataLoader(WorkerIds(), batch_size=2, generator=torchish.Generator().manual_seed(0), **FORK))).numpy()
    np.testing.assert_array_equal(rows, rows2)  # same generator seed, same worker seeds


@requires_torch
def test_generate_state_matches_torch():
    from torch.utils.data._utils.worker import _generate_state as torch_state

    for base, wid in [(0, 0), (123456789012345, 3), (2**63 - 1, 7)]:
        assert _generate_state(base, wid) == torch_state(base, wid)


def test_worker_init_fn_and_get_worker_info_outside_worker():
    assert D.get_worker_info() is None
    seen = D.DataLoader(WorkerIds(), batch_size=4, worker_init_fn=lambda wid: np.random.seed(1000 + wid), **FORK)
    rows = torchish.cat(list(seen)).numpy()
    np.random.seed(1000)
    assert rows[0, 5] == np.random.randint(0, 2**30)


def test_worker_exception_carries_worker_traceback():
    dl = D.DataLoader(Failing(), batch_size=2, **FORK)
    it = iter(dl)
    assert next(it).tolist() == [0, 1]
    assert next(it).tolist() == [2, 3]
    with pytest.raises(ValueError) as err:
        next(it)
    msg = str(err.value)
    assert "Caught ValueError in DataLoader worker process 0" in msg
    assert "Traceback (most recent call last)" in msg and "in __getitem__" in msg and "bad sample 4" in msg
    workers = it._workers
    del it, err  # the traceback references the iterator
    gc.collect()
    _assert_gone(workers)


def test_key_error_and_init_fn_error_are_reraised():
    class Keyed(D.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {}["missing"]

    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process"):
        list(D.DataLoader(Keyed(), **FORK))

    def bad_init(wid):
        raise RuntimeError("init failed")

    with pytest.raises(RuntimeError, match="(?s)Caught RuntimeError in DataLoader worker process.*init failed"):
        list(D.DataLoader(Squares(), worker_init_fn=bad_init, **FORK))


def test_no_worker_left_after_epoch_error_or_gc():
    it = iter(D.DataLoader(Squares(50), batch_size=2, **FORK))
    next(it)
    workers = list(it._workers)
    assert all(_alive(w.pid) for w in workers)
    del it  # garbage-collected mid-epoch
    _assert_gone(workers)
    it = iter(D.DataLoader(Squares(6), batch_size=2, **FORK))
    workers = list(it._workers)
    assert len(list(it)) == 3
    _assert_gone(workers)  # shut down at the end of the epoch


def test_worker_death_is_reported():
    class Dies(D.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            os._exit(3)

    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(D.DataLoader(Dies(), **FORK))


def test_timeout():
    class Slow(D.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(1)
            return i

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(D.DataLoader(Slow(), timeout=0.2, **FORK))


class Range(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = D.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def test_iterable_dataset_sharding_across_workers():
    got = torchish.cat(list(D.DataLoader(Range(11), batch_size=2, **FORK))).tolist()
    assert sorted(got) == list(range(11))
    dropped = list(D.DataLoader(Range(11), batch_size=2, drop_last=True, **FORK))
    assert all(len(b) == 2 for b in dropped) and len(dropped) == 5  # each worker drops its own partial batch


def test_in_order_false_delivers_everything():
    got = torchish.cat([b[1] for b in D.DataLoader(Squares(12), batch_size=2, in_order=False, **FORK)]).tolist()
    assert sorted(got) == list(range(12))


# ------------------------------------------------------------------------------ default (fresh) workers
def test_default_start_method_persistent_workers_lambdas_and_tensors():
    class MakesTensors(D.Dataset):  # a local class and device tensors made inside the worker
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return torchish.full((2,), float(i)) * 2, D.get_worker_info().id

    big = D.TensorDataset(torchish.arange(2**19).float())  # 2 MiB: travels through shared memory
    dl = D.DataLoader(D.StackDataset(MakesTensors(), D.Subset(big, range(6))), batch_size=2, num_workers=2,
                      persistent_workers=True, collate_fn=lambda b: D.default_collate(b))
    assert dl.multiprocessing_context is None
    e1 = list(dl)
    pids = [w.pid for w in dl._iterator._workers]
    e2 = list(dl)
    assert [w.pid for w in dl._iterator._workers] == pids  # persistent: same processes
    for epoch in (e1, e2):
        (x, wid), (v,) = epoch[0]
        assert x.tolist() == [[0.0, 0.0], [2.0, 2.0]] and wid.tolist() == [0, 0] and v.tolist() == [0.0, 1.0]
        assert [b[0][1].tolist() for b in epoch] == [[0, 0], [1, 1], [0, 0]]
    assert not any(os.path.exists(p) for p in dl._iterator._shared_paths)
    workers = list(dl._iterator._workers)
    dl._iterator._shutdown_workers()
    _assert_gone(workers)


def test_default_start_method_error_propagates():
    class LocalFailing(D.Dataset):  # local: pickled by value, so workers need not import this test module
        def __len__(self):
            return 6

        def __getitem__(self, i):
            if i == 3:
                raise ValueError(f"bad sample {i}")
            return i

    with pytest.raises(ValueError, match="(?s)in DataLoader worker process 1.*in __getitem__.*bad sample 3"):
        list(D.DataLoader(LocalFailing(), batch_size=1, num_workers=2, collate_fn=lambda b: b))


def test_device_option_with_workers():
    batches = list(D.DataLoader(Squares(6), batch_size=2, device="cpu", **FORK))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5]]
    assert all(not isinstance(t._value(), np.ndarray) for b in batches for t in b)


def test_no_worker_left_after_interpreter_exit(tmp_path):
    script = tmp_path / "exit_mid_epoch.py"
    script.write_text(
        "import numpy as np, torchish\n"
        "from torchish.utils import data as D\n"
        "class DS(D.Dataset):\n"
        "    def __len__(self): return 100\n"
        "    def __getitem__(self, i): return np.float32(i)\n"
        "dl = D.DataLoader(DS(), batch_size=2, num_workers=2, persistent_workers=True, multiprocessing_context='fork')\n"
        "it = iter(dl); next(it)\n"
        "print(*[w.pid for w in it._workers], flush=True)\n"  # exit mid-epoch with live workers
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2

    class P:
        def __init__(self, pid):
            self.pid = pid

    _assert_gone([P(p) for p in pids])
