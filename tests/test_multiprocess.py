"""Real multi-process runs through the launcher (``python -m torchish.distributed.run``).

Two processes with two fake CPU devices each (gloo CPU collectives) train a DDP model (one
eager step, then ``torchish.compile``d steps); the processes end with identical parameters,
equal to single-process steps on the same global batches.  Plus the launcher's lifecycle: environment, failure, signals.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import torchish as T
import torchish.nn as nn
import torchish.nn.functional as F
from torchish.distributed.run import free_port
from torchish.utils.data import DistributedSampler, TensorDataset

TIMEOUT_S = 120

TRAIN = textwrap.dedent('''
    import sys
    import numpy as np
    import torchish as T
    import torchish.distributed as dist
    import torchish.nn as nn
    import torchish.nn.functional as F
    from torchish.nn.parallel import DistributedDataParallel as DDP
    from torchish.utils.data import DataLoader, DistributedSampler, TensorDataset

    out = sys.argv[1]
    T.manual_seed(0)  # before init_process_group: fine under the launcher
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    assert world == 2 and len(__import__("jax").devices()) == 4 and len(__import__("jax").local_devices()) == 2

    g = np.random.default_rng(0)
    ds = TensorDataset(T.tensor(g.standard_normal((32, 6)).astype(np.float32)), T.tensor(g.integers(0, 3, 32)))
    loader = DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds, shuffle=False))
    if rank == 1:
        T.manual_seed(123)  # a different init: DDP copies rank 0's parameters to every process
    model = DDP(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)))
    opt = T.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = list(loader)
    step(*batches[0])  # one eager step: gradients averaged across processes by DDP's hooks
    compiled = T.compile(step)
    losses = [float(compiled(x, y)) for x, y in batches[1:]]
    t = T.tensor([rank + 1.0, 10.0 * rank])
    dist.all_reduce(t)
    gathered = [T.zeros(2) for _ in range(world)]
    dist.all_gather(gathered, T.tensor([float(rank), 1.0]))
    b = T.tensor([float(rank)])
    dist.broadcast(b, src=1)
    objs = [None, None]
    dist.all_gather_object(objs, {"rank": rank})
    dist.barrier()
    params = [p.detach().numpy() for p in model.parameters()]
    np.savez(f"{out}/rank{rank}.npz", *params, losses=np.array(losses), all_reduce=t.numpy(),
             all_gather=T.stack(gathered).numpy(), broadcast=b.numpy(), objs=np.array([o["rank"] for o in objs]))
    dist.destroy_process_group()
''')


def _launch(args, tmp_path, devices=2, timeout=TIMEOUT_S, cli=False):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONUNBUFFERED="1")
    launcher = ["torchish", "run"] if cli else ["torchish.distributed.run"]  # `python -m torchish run`: `torchish run`
    cmd = [sys.executable, "-m", *launcher, "--master-port", str(free_port()), *args]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def _reference_step_batches():
    g = np.random.default_rng(0)
    ds = TensorDataset(T.tensor(g.standard_normal((32, 6)).astype(np.float32)), T.tensor(g.integers(0, 3, 32)))
    per_rank = [list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=False)) for r in range(2)]
    for i in range(0, len(per_rank[0]), 4):
        idx = per_rank[0][i:i + 4] + per_rank[1][i:i + 4]  # the global batch: rank 0's part, then rank 1's
        yield ds.tensors[0][T.tensor(idx)], ds.tensors[1][T.tensor(idx)]


def test_two_processes_train_like_one(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    r = _launch(["--nproc-per-node", "2", "train.py", str(tmp_path)], tmp_path, cli=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    a, b = (np.load(tmp_path / f"rank{i}.npz") for i in range(2))
    keys = [k for k in a.files if k.startswith("arr_")]
    for k in keys + ["losses"]:
        np.testing.assert_array_equal(a[k], b[k])  # identical across processes
    T.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = T.optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    batches = list(_reference_step_batches())
    step(*batches[0])
    compiled = T.compile(step)
    losses = [float(compiled(x, y)) for x, y in batches[1:]]
    np.testing.assert_allclose(a["losses"], losses, rtol=2e-5)
    for k, p in zip(keys, model.parameters()):
        np.testing.assert_allclose(a[k], p.detach().numpy(), rtol=2e-5, atol=2e-6)
    for d in (a, b):  # eager collectives across the processes
        np.testing.assert_array_equal(d["all_reduce"], [3.0, 10.0])
        np.testing.assert_array_equal(d["all_gather"], [[0.0, 1.0], [1.0, 1.0]])
        np.testing.assert_array_equal(d["broadcast"], [1.0])
        np.testing.assert_array_equal(d["objs"], [0, 1])


def test_launcher_environment_and_failure(tmp_path):
    code = textwrap.dedent('''
        import json, os, sys, time
        keys = ["MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK"]
        json.dump({k: os.environ[k] for k in keys}, open(f"env{os.environ['RANK']}.json", "w"))
        if os.environ["RANK"] == "2" and sys.argv[1] == "fail":
            sys.exit(3)
        time.sleep(0.5 if sys.argv[1] == "ok" else 60)
    ''')
    (tmp_path / "w.py").write_text(code)
    r = _launch(["--nnodes", "2", "--node-rank", "1", "--nproc-per-node", "2", "--no-python", sys.executable, "w.py",
                 "ok"], tmp_path)
    assert r.returncode == 0, r.stderr
    envs = [json.loads((tmp_path / f"env{i}.json").read_text()) for i in (2, 3)]
    assert [e["LOCAL_RANK"] for e in envs] == ["0", "1"] and {e["WORLD_SIZE"] for e in envs} == {"4"}
    assert {e["NODE_RANK"] for e in envs} == {"1"} and envs[0]["MASTER_ADDR"] == "127.0.0.1"
    t0 = time.monotonic()
    r = _launch(["--nnodes", "2", "--node-rank", "1", "--nproc-per-node", "2", "--no-python", sys.executable, "w.py",
                 "fail"], tmp_path, timeout=40)
    assert r.returncode == 3 and "exited with code 3" in r.stderr
    assert time.monotonic() - t0 < 30  # the sleeping worker was stopped, not waited for


def test_launcher_forwards_signals(tmp_path):
    code = textwrap.dedent('''
        import os, time
        r = os.environ["RANK"]
        open(f"pid{r}.tmp", "w").write(str(os.getpid()))
        os.rename(f"pid{r}.tmp", f"pid{r}")
        time.sleep(60)
    ''')
    (tmp_path / "s.py").write_text(code)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-m", "torchish.distributed.run", "--nproc-per-node", "2", "--no-python", sys.executable,
           "s.py"]
    with subprocess.Popen(cmd, env=env, cwd=tmp_path, stderr=subprocess.DEVNULL) as launcher:
        try:
            deadline = time.monotonic() + 30
            while not all((tmp_path / f"pid{i}").exists() for i in range(2)):
                assert time.monotonic() < deadline and launcher.poll() is None
                time.sleep(0.05)
            time.sleep(0.1)
            pids = [int((tmp_path / f"pid{i}").read_text()) for i in range(2)]
            launcher.send_signal(signal.SIGTERM)
            rc = launcher.wait(timeout=30)
        finally:
            if launcher.poll() is None:
                launcher.kill()
    assert rc == 128 + signal.SIGTERM
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
