"""Data parallelism on 8 fake CPU devices: DDP steps (pmap-style, sharded, FSDP) equal single-device steps.

References: a single-device step on the global batch (MLP, SyncBatchNorm, and everything in the
sharded strategies, which compile the global program), or, for plain BatchNorm and dropout in
pmap-style steps, an eager step that runs each device's shard separately (its own batch
statistics and dropout stream, buffers averaged afterwards).
"""

import contextlib
import copy
import functools

import jax
import numpy as np
import pytest

import torchish as T
import torchish.distributed as dist
import torchish.nn as nn
import torchish.nn.functional as F
from torchish.nn.parallel import DistributedDataParallel as DDP

N = 8  # devices (tests/conftest.py)
STEPS = 3


@pytest.fixture(autouse=True)
def _eight_devices():
    assert len(jax.devices()) == N, "tests/conftest.py must set XLA_FLAGS=--xla_force_host_platform_device_count=8"


def _batches(shape, classes, n=STEPS, batch=16):
    g = np.random.default_rng(1)
    return [(T.tensor(g.standard_normal((batch,) + shape).astype(np.float32)), T.tensor(g.integers(0, classes, batch)))
            for _ in range(n)]


def _params(m):
    return [p.detach().numpy().copy() for p in m.parameters()]


def _buffers(m):
    return [b.detach().numpy().copy() for b in m.buffers()]


def _close(a, b, rtol=2e-5, atol=2e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def _train(model, opt_cls, batches, compiled=True, **opt_kw):
    opt = opt_cls(model.parameters(), **opt_kw)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    f = T.compile(step) if compiled else step
    return [float(f(x, y)) for x, y in batches], f


def _replicated_everywhere(t):
    """A replicated box's copies on the devices are identical (the step kept them in sync)."""
    a = t._data
    assert len(a.sharding.device_set) == N and a.sharding.is_fully_replicated
    first = np.asarray(a.addressable_shards[0].data)
    return all(np.array_equal(np.asarray(s.data), first) for s in a.addressable_shards)


@functools.lru_cache(maxsize=None)
def _reference(kind):
    """(losses, parameters, buffers) of single-device compiled steps on the global batches (shared by tests)."""
    T.manual_seed(0)
    if kind == "mlp":
        ref = _mlp()
        losses, _ = _train(ref, T.optim.Adam, _batches((6,), 3), lr=1e-2)
    else:
        ref = _cnn(p=0.3 if kind == "cnn_dropout" else 0.0)
        losses, _ = _train(ref, T.optim.SGD, _batches((1, 6, 6), 3), lr=0.1, momentum=0.9)
    return losses, _params(ref), _buffers(ref)


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _cnn(bn=nn.BatchNorm2d, p=0.0):
    return nn.Sequential(nn.Conv2d(1, 4, 3), bn(4), nn.ReLU(), nn.Dropout(p), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


# ------------------------------------------------------------------------------ DDP steps
@pytest.mark.parametrize("strategy", ["pmap", "sharded", "fsdp"])
def test_mlp_adam_matches_single_device(strategy):
    ref_losses, ref_params, _ = _reference("mlp")
    T.manual_seed(0)
    m = _mlp()
    model = DDP(m, strategy=strategy)
    losses, step = _train(model, T.optim.Adam, _batches((6,), 3), lr=1e-2)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    _close(_params(m), ref_params)
    assert step.cache_info().traces == 2  # as on one device: one extra trace for the lazily created state
    w = m[0].weight._data
    if strategy == "fsdp":  # sharded on the first dimension divisible by 8 (16 rows)
        assert w.sharding.spec == jax.sharding.PartitionSpec("data") and len(w.addressable_shards) == N
        assert w.addressable_shards[0].data.shape == (2, 6)
        assert m[2].weight._data.sharding.spec == jax.sharding.PartitionSpec(None, "data")  # (3, 16)
    else:
        assert _replicated_everywhere(m[0].weight) and _replicated_everywhere(m[0].weight.grad)


@pytest.mark.parametrize("strategy", ["pmap", "sharded"])
def test_syncbatchnorm_matches_global_batch(strategy):
    ref_losses, ref_params, ref_buffers = _reference("cnn")
    T.manual_seed(0)
    m = nn.SyncBatchNorm.convert_sync_batchnorm(_cnn())
    assert isinstance(m[1], nn.SyncBatchNorm)
    losses, _ = _train(DDP(m, strategy=strategy), T.optim.SGD, _batches((1, 6, 6), 3), lr=0.1, momentum=0.9)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    _close(_params(m), ref_params)
    _close(_buffers(m), ref_buffers)  # running stats of the global batch (unbiased over 16 * 16 values)
    assert int(m[1].num_batches_tracked.item()) == STEPS


def _per_shard_step(model, opt, x, y):
    """One eager step computed as a pmap-style DDP step does: per-shard forward, mean loss, buffers averaged."""
    g = T.default_generator
    key0 = g.get_state()
    bufs = list(model.buffers())
    saved = [b.detach().clone() for b in bufs]
    after = []
    opt.zero_grad()
    losses = []
    try:
        for i, (xs, ys) in enumerate(zip(x.chunk(N), y.chunk(N))):
            with T.no_grad():
                for b, s in zip(bufs, saved):
                    b.copy_(s)
            g.set_state(key0)
            g._fold = lambda i=i: i  # device i's dropout stream (see _compile/parallel.py active_axis)
            losses.append(F.cross_entropy(model(xs), ys))
            after.append([b.detach().clone() for b in bufs])
    finally:
        g._fold = None
    loss = sum(losses) / N
    loss.backward()
    with T.no_grad():
        for j, b in enumerate(bufs):
            vals = T.stack([a[j] for a in after])
            b.copy_(vals.mean(0) if b.is_floating_point() else vals[0])
    opt.step()
    return float(loss)


def test_plain_batchnorm_and_dropout_pmap_per_device():
    batches = _batches((1, 6, 6), 3)
    T.manual_seed(0)
    ref = _cnn(p=0.3)
    ref_opt = T.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    ref_losses = [_per_shard_step(ref, ref_opt, x, y) for x, y in batches]
    T.manual_seed(0)
    m = _cnn(p=0.3)
    losses, _ = _train(DDP(m), T.optim.SGD, batches, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    _close(_params(m), _params(ref))
    _close(_buffers(m), _buffers(ref))
    assert _replicated_everywhere(m[1].running_mean) and _replicated_everywhere(m[5].weight)
    # the generator advanced as on one device (one split per dropout call)
    np.testing.assert_array_equal(T.default_generator.get_state().numpy(), T.get_rng_state().numpy())


@pytest.mark.parametrize("strategy", ["sharded", "fsdp"])
def test_sharded_strategies_are_the_global_program(strategy):
    # GSPMD compiles the single-device program: plain BatchNorm sees the global batch, dropout one global mask
    ref_losses, ref_params, ref_buffers = _reference("cnn_dropout")
    T.manual_seed(0)
    m = _cnn(p=0.3)
    losses, _ = _train(DDP(m, strategy=strategy), T.optim.SGD, _batches((1, 6, 6), 3), lr=0.1, momentum=0.9)
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    _close(_params(m), ref_params)
    _close(_buffers(m), ref_buffers)


def test_dropout_masks_differ_across_devices():
    T.manual_seed(0)
    model = DDP(nn.Sequential(nn.Linear(4, 64, bias=False), nn.Dropout(0.5)))
    with T.no_grad():
        model.module[0].weight.fill_(1.0)
    f = T.compile(lambda x: model(x))
    with T.no_grad():
        out = f(T.ones(N, 4)).numpy()  # the same row on every device
    masks = out != 0
    assert out.shape == (N, 64)
    assert len({m.tobytes() for m in masks}) == N  # a different mask on each device
    assert 0.3 < masks.mean() < 0.7


def test_batch_not_divisible_by_devices_raises():
    model = DDP(_mlp())
    opt = T.optim.SGD(model.parameters(), lr=0.1)

    @T.compile
    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    w = model.module[0].weight.detach().clone()
    with pytest.raises(ValueError, match=r"batch size 12 is not divisible by 8.*multiple of 8"):
        step(T.randn(12, 6), T.zeros(12, dtype=T.long))
    assert T.equal(model.module[0].weight, w)  # nothing ran


def test_outputs_mean_sum_and_concat():
    model = DDP(nn.Linear(3, 2))

    @T.compile
    def evaluate(x, y):
        out = model(x)
        return F.mse_loss(out, y), (out.argmax(1) == 0).sum(), out

    x, y = T.randn(16, 3), T.randn(16, 2)
    with T.no_grad():
        loss, count, out = evaluate(x, y)
        ref = model.module(x)
    assert loss.shape == () and count.shape == () and out.shape == (16, 2)
    np.testing.assert_allclose(loss.item(), F.mse_loss(ref, y).item(), rtol=1e-5)  # mean of equal shards' means
    assert count.item() == int((ref.argmax(1) == 0).sum().item())  # integer counts are summed
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ the wrapper itself
def test_ddp_module_state_dict_eager_and_no_sync():
    T.manual_seed(0)
    inner = _mlp()
    model = DDP(inner)
    assert model.module is inner and len(model.devices) == N
    sd = model.state_dict()
    assert list(sd) == ["module." + k for k in inner.state_dict()]
    clone = DDP(_mlp())
    clone.load_state_dict(sd)
    x = T.randn(4, 6)
    np.testing.assert_allclose(clone(x).detach().numpy(), inner(x).detach().numpy(), rtol=1e-6)  # eager: plain module
    model(x).sum().backward()
    g = inner[0].weight.grad.numpy().copy()
    inner.zero_grad()
    with model.no_sync():
        assert not model.require_backward_grad_sync
        model(x).sum().backward()
    assert model.require_backward_grad_sync
    np.testing.assert_allclose(inner[0].weight.grad.numpy(), g, rtol=1e-6)
    dp = nn.DataParallel(_mlp(), device_ids=[0, 1])
    assert len(dp.devices) == 2 and "module.0.weight" in dp.state_dict()
    with pytest.raises(ValueError, match="strategy must be one of"):
        DDP(_mlp(), strategy="zero")


def test_no_sync_gradient_accumulation_matches_single_device():
    batches = _batches((6,), 3, n=2)
    T.manual_seed(0)
    ref = _mlp()
    T.manual_seed(0)
    model = copy.deepcopy(DDP(_mlp()))  # a copy averages gradients too (its parameters are hooked again)
    m = model.module

    def accumulate(net, ctx):
        opt = T.optim.SGD(net.parameters(), lr=0.1)

        def step(x1, y1, x2, y2):
            opt.zero_grad()
            with ctx():
                (F.cross_entropy(net(x1), y1) / 2).backward()
            (F.cross_entropy(net(x2), y2) / 2).backward()
            opt.step()

        return step

    T.compile(accumulate(model, model.no_sync))(*batches[0], *batches[1])
    accumulate(ref, contextlib.nullcontext)(*batches[0], *batches[1])
    _close(_params(m), _params(ref))
    assert _replicated_everywhere(m[0].weight)


# ------------------------------------------------------------------------- torchish.pmap
def test_pmap_collectives_on_the_named_axis():
    R = dist.ReduceOp

    @T.pmap(axis_name="i")
    def f(x):
        s, mx, avg = x.clone(), x.clone(), x.clone()
        dist.all_reduce(s)
        dist.all_reduce(mx, op=R.MAX)
        dist.all_reduce(avg, op=R.AVG)
        parts = [T.empty(1, 2) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        b = x.clone()
        dist.broadcast(b, src=3)
        rs = T.empty(1, 2)
        dist.reduce_scatter_tensor(rs, T.cat([x] * N) * 1.0)
        return s, mx, avg, T.cat(parts, 1), b, rs, (x * 0).sum()

    x = T.arange(16.0).reshape(8, 2)  # device i holds row i
    s, mx, avg, gathered, b, rs, zero = f(x)
    xn = x.numpy()
    np.testing.assert_allclose(s.numpy(), np.tile(xn.sum(0), (8, 1)))
    np.testing.assert_allclose(mx.numpy(), np.tile(xn.max(0), (8, 1)))
    np.testing.assert_allclose(avg.numpy(), np.tile(xn.mean(0), (8, 1)))
    np.testing.assert_allclose(gathered.numpy(), np.tile(xn.reshape(1, 16), (8, 1)))
    np.testing.assert_allclose(b.numpy(), np.tile(xn[3], (8, 1)))
    np.testing.assert_allclose(rs.numpy(), np.tile(xn.sum(0), (8, 1)))  # device r: row r of sum_i [x_i] * 8
    assert zero.shape == (N,)  # 0-d outputs: one per device


def test_pmap_training_with_manual_gradient_averaging():
    ref_losses, ref_params, _ = _reference("mlp")
    T.manual_seed(0)
    m = _mlp()
    opt = T.optim.Adam(m.parameters(), lr=1e-2)

    @T.pmap(axis_name="batch", devices=jax.devices()[:4])
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        for p in m.parameters():
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)
        opt.step()
        return loss

    losses = [step(x, y) for x, y in _batches((6,), 3)]
    assert losses[0].shape == (4,)
    np.testing.assert_allclose([float(v.mean()) for v in losses], ref_losses, rtol=2e-5)
    _close(_params(m), ref_params)
    assert m[0].weight.shape == (16, 6) and len(m[0].weight._data.sharding.device_set) == 4


# ----------------------------------------------------------------- process group (one process)
def test_single_process_group_and_errors():
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(T.ones(2))
    assert not dist.is_initialized()
    dist.init_process_group()  # no launcher variables: a group of one process
    try:
        assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
        with pytest.raises(ValueError, match="twice"):
            dist.init_process_group()
        t = T.tensor([1.0, 2.0])
        dist.all_reduce(t)
        out = [T.zeros(2)]
        dist.all_gather(out, t)
        objs = [None]
        dist.all_gather_object(objs, {"a": 1})
        dist.barrier()
        assert t.tolist() == [1.0, 2.0] and out[0].tolist() == [1.0, 2.0] and objs == [{"a": 1}]
        sampler = T.utils.data.DistributedSampler(range(10), shuffle=False)
        assert sampler.num_replicas == 1 and list(sampler) == list(range(10))
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()


def test_init_process_group_env_errors(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="MASTER_ADDR expected"):
        dist.init_process_group()
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    with pytest.raises(RuntimeError, match="before JAX starts its backend.*torchish run"):
        dist.init_process_group()  # this test process has long started its backend
    assert not dist.is_initialized()
