"""Normalization: functional parity with PyTorch (outputs, grads, running-stat updates), errors,
and Modules (BatchNorm*, SyncBatchNorm, InstanceNorm*, LayerNorm, GroupNorm, RMSNorm, LRN)
trained side by side with PyTorch's for several steps in train and eval mode."""

from __future__ import annotations

import numpy as np
import pytest

import torchish
from parity import assert_close, check, check_raises, requires_torch, rnd, torch

pytestmark = requires_torch


def _x(*shape, seed=0, dtype=np.float32):
    return (rnd(*shape, seed=seed) * 2 + 0.5).astype(dtype)


# ------------------------------------------------------------------------------ batch_norm
BN_SHAPES = [(4, 3), (3, 3, 5), (2, 3, 2, 3), (2, 3, 2, 2, 2)]


@pytest.mark.parametrize("shape,momentum", list(zip(BN_SHAPES, [0.1, 0.7, 0.1, 1.0])))
def test_batch_norm_training_updates_running_stats(shape, momentum):
    rm0, rv0 = rnd(3, seed=1), np.abs(rnd(3, seed=2)) + 0.5

    def f(lib, x, w, b):
        rm, rv = lib.tensor(rm0), lib.tensor(rv0)
        out = lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=momentum, eps=1e-3)
        return out, rm, rv

    check(f, _x(*shape), rnd(3, seed=3), rnd(3, seed=4), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval_and_stateless(shape):
    rm0, rv0 = rnd(3, seed=1), np.abs(rnd(3, seed=2)) + 0.5

    def evaluate(lib, x, w, b):
        return lib.nn.functional.batch_norm(x, lib.tensor(rm0), lib.tensor(rv0), w, b)

    def stateless(lib, x):
        return lib.nn.functional.batch_norm(x, None, None, training=True)

    check(evaluate, _x(*shape), rnd(3, seed=3), rnd(3, seed=4), atol=1e-5)
    check(stateless, _x(*shape), atol=1e-5, rtol=1e-5)


def test_batch_norm_dtypes():
    rm0, rv0 = rnd(3, seed=1), np.abs(rnd(3, seed=2)) + 0.5

    def f(lib, x, w, b):
        rm, rv = lib.tensor(rm0), lib.tensor(rv0)
        out = lib.nn.functional.batch_norm(x.to(lib.bfloat16), rm, rv, w, b, training=True)
        return out, rm, rv

    check(f, _x(4, 3, 5), rnd(3), rnd(3), rtol=2e-2, atol=2e-2)

    def f64(lib, x, w, b):
        rm, rv = lib.tensor(rm0.astype(np.float64)), lib.tensor(rv0.astype(np.float64))
        return lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True), rm, rv

    check(f64, _x(4, 3, 5, dtype=np.float64), rnd(3, dtype=np.float64), rnd(3, dtype=np.float64), rtol=1e-10,
          atol=1e-10)


def test_batch_norm_running_buffers_stay_out_of_autograd():
    rm, rv = torchish.zeros(3), torchish.ones(3)
    x = torchish.randn(4, 3, requires_grad=True)
    torchish.nn.functional.batch_norm(x, rm, rv, training=True).sum().backward()
    assert not rm.requires_grad and rm.grad_fn is None and not rv.requires_grad
    assert rm._version == 1 and rv._version == 1


def test_batch_norm_errors():
    check_raises(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True), rnd(1, 3),
                 exc=ValueError, match=r"Expected more than 1 value per channel when training, got input size")
    check_raises(lambda lib, x: lib.nn.functional.batch_norm(x, None, None), rnd(4, 3), exc=RuntimeError,
                 match="running_mean must be defined in evaluation mode")
    check_raises(lambda lib, x: lib.nn.functional.batch_norm(x, lib.zeros(4), lib.ones(4)), rnd(4, 3),
                 exc=RuntimeError, match="running_mean should contain 3 elements not 4")
    check_raises(lambda lib, x: lib.nn.functional.batch_norm(x, lib.zeros(3), lib.ones(3), lib.ones(4)),
                 rnd(4, 3), exc=RuntimeError, match="weight should contain 3 elements not 4")
    check_raises(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True, eps=0.0), rnd(4, 3),
                 exc=ValueError, match="batch_norm eps must be positive during training, but got 0.0")


def test_torch_namespace_forms():
    rm0, rv0 = rnd(3, seed=1), np.abs(rnd(3, seed=2)) + 0.5

    def f(lib, x, w, b):
        rm, rv = lib.tensor(rm0), lib.tensor(rv0)
        return lib.batch_norm(x, w, b, rm, rv, True, 0.2, 1e-5, False), rm, rv

    check(f, _x(4, 3), rnd(3), rnd(3), atol=1e-5)
    check(lambda lib, x, w, b: lib.layer_norm(x, (5,), w, b, 1e-5), _x(2, 3, 5), rnd(5), rnd(5), atol=1e-5)
    check(lambda lib, x: lib.group_norm(x, 3), _x(2, 6, 4), atol=1e-5)
    check(lambda lib, x: lib.instance_norm(x, None, None, None, None, True, 0.1, 1e-5, False), _x(2, 3, 4), atol=1e-5)
    check(lambda lib, x, w: lib.rms_norm(x, [5], w), _x(2, 5), rnd(5), atol=1e-5)


# ---------------------------------------------------------------------- instance / layer / group / rms
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 2, 3), (2, 3, 2, 2, 2)])
def test_instance_norm(shape):
    rm0, rv0 = rnd(3, seed=1), np.abs(rnd(3, seed=2)) + 0.5

    def tracked(lib, x, w, b):
        rm, rv = lib.tensor(rm0), lib.tensor(rv0)
        return lib.nn.functional.instance_norm(x, rm, rv, w, b, momentum=0.3), rm, rv

    def from_running(lib, x, w, b):
        return lib.nn.functional.instance_norm(x, lib.tensor(rm0), lib.tensor(rv0), w, b, use_input_stats=False)

    check(tracked, _x(*shape), rnd(3), rnd(3), atol=1e-5, rtol=1e-5)
    check(from_running, _x(*shape), rnd(3), rnd(3), atol=1e-5)
    check(lambda lib, x: lib.nn.functional.instance_norm(x, eps=0.1), _x(*shape), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ns", [(5,), (4, 5), (3, 4, 5)])
def test_layer_norm(ns):
    x = _x(2, 3, 4, 5)
    check(lambda lib, x, w, b: lib.nn.functional.layer_norm(x, ns, w, b), x, rnd(*ns), rnd(*ns), atol=1e-5, rtol=1e-5)
    check(lambda lib, x, w: lib.nn.functional.layer_norm(x, list(ns), w, eps=0.1), x, rnd(*ns), atol=1e-5, rtol=1e-5)


def test_layer_norm_dtypes():
    check(lambda lib, x, w, b: lib.nn.functional.layer_norm(x.to(lib.bfloat16), (6,), w, b), _x(3, 6), rnd(6),
          rnd(6), rtol=2e-2, atol=2e-2)
    check(lambda lib, x: lib.nn.functional.layer_norm(x, (6,)), _x(3, 6, dtype=np.float64), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups,shape", [(1, (2, 6)), (2, (2, 6, 3)), (6, (2, 6, 2, 3)), (3, (2, 6, 2, 3))])
def test_group_norm(groups, shape):
    check(lambda lib, x, w, b: lib.nn.functional.group_norm(x, groups, w, b, eps=1e-4), _x(*shape), rnd(6), rnd(6),
          atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm(eps):
    check(lambda lib, x, w: lib.nn.functional.rms_norm(x, (4,), w, eps), _x(2, 3, 4), rnd(4), atol=1e-5, rtol=1e-5)
    check(lambda lib, x: lib.nn.functional.rms_norm(x, [3, 4], eps=eps), _x(2, 3, 4), atol=1e-5, rtol=1e-5)
    # default eps is the float32 machine epsilon for bfloat16 inputs (computed in float32)
    small = np.full((2, 8), 1e-3, np.float32)
    check(lambda lib, x, w: lib.nn.functional.rms_norm(x.to(lib.bfloat16), (8,), w.to(lib.bfloat16), eps), small,
          rnd(8), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("size,shape", [(1, (2, 6, 4)), (2, (2, 6, 3, 2)), (3, (1, 6, 2, 2, 2)), (5, (2, 6, 4))])
def test_local_response_norm(size, shape):
    check(lambda lib, x: lib.nn.functional.local_response_norm(x, size, alpha=0.1, beta=0.6, k=2.0), _x(*shape),
          atol=1e-5, rtol=1e-5)


def test_norm_errors():
    check_raises(lambda lib, x: lib.nn.functional.group_norm(x, 2), rnd(2, 5, 3), exc=RuntimeError,
                 match=r"divisible by num_groups, but got input of shape \[2, 5, 3\] and num_groups=2")
    check_raises(lambda lib, x: lib.nn.functional.group_norm(x, 2), rnd(1, 2, 1), exc=ValueError,
                 match="Expected more than 1 value per channel when training")
    check_raises(lambda lib, x: lib.nn.functional.instance_norm(x), rnd(2, 5, 1), exc=ValueError,
                 match="Expected more than 1 spatial element when training")
    check_raises(lambda lib, x: lib.nn.functional.instance_norm(x, use_input_stats=False), rnd(2, 5, 3),
                 exc=RuntimeError, match="Expected running_mean and running_var to be defined")
    check_raises(lambda lib, x: lib.nn.functional.layer_norm(x, (4,)), rnd(2, 5, 3), exc=RuntimeError,
                 match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                       r"but got input of size\[2, 5, 3\]")
    check_raises(lambda lib, x: lib.nn.functional.layer_norm(x, (3,), lib.ones(4)), rnd(2, 3), exc=RuntimeError,
                 match=r"Expected weight to be of same shape as normalized_shape")
    check_raises(lambda lib, x: lib.nn.functional.rms_norm(x, (4, 4)), rnd(2, 3, 4), exc=RuntimeError,
                 match=r"expected input with shape \[\*4, 4\]")
    check_raises(lambda lib, x: lib.nn.functional.local_response_norm(x, 2), rnd(2, 3), exc=ValueError,
                 match="Expected 3D or higher dimensionality")


# ------------------------------------------------------------------------------------ modules
def _copy_randomized(make):
    """A torch module with random parameters and buffers, and the same torchish module."""
    tm = make(torch)
    with torch.no_grad():
        for name, t in list(tm.named_parameters()) + list(tm.named_buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "var" in name else torch.randn_like(t))
    im = make(torchish)
    im.load_state_dict(tm.state_dict())
    return tm, im


def _compare_state(tm, im):
    ts, js = tm.state_dict(), im.state_dict()
    assert list(ts) == list(js)
    for k in ts:
        assert_close(ts[k], js[k], rtol=1e-5, atol=1e-5, what=k)


def run_module_parity(make, shape, steps=2, modes=("train", "eval", "train"), atol=1e-5):
    """Train/eval torch and torchish side by side; compare outputs, grads and state every step."""
    tm, im = _copy_randomized(make)
    rng = np.random.default_rng(0)
    for mode in modes:
        tm.train(mode == "train")
        im.train(mode == "train")
        for step in range(steps):
            x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
            tx = torch.tensor(x, requires_grad=True)
            ix = torchish.tensor(x, requires_grad=True)
            to, io = tm(tx), im(ix)
            assert_close(to, io, rtol=1e-5, atol=atol, what=f"{mode} step {step} output")
            g = rng.standard_normal(to.shape).astype(np.float32)
            to.backward(torch.tensor(g))
            io.backward(torchish.tensor(g))
            assert_close(tx.grad, ix.grad, rtol=1e-4, atol=10 * atol, what="input grad")
            for (n, tp), (_, ip) in zip(tm.named_parameters(), im.named_parameters()):
                assert_close(tp.grad, ip.grad, rtol=1e-4, atol=10 * atol, what=f"{n}.grad")
                tp.grad, ip.grad = None, None
            _compare_state(tm, im)
    return tm, im


BN_MODULES = {
    "bn1d": (lambda lib: lib.nn.BatchNorm1d(3), (4, 3)),
    "bn1d_seq": (lambda lib: lib.nn.BatchNorm1d(3, momentum=0.5, eps=1e-3), (2, 3, 4)),
    "bn1d_cma": (lambda lib: lib.nn.BatchNorm1d(3, momentum=None), (4, 3)),
    "bn2d": (lambda lib: lib.nn.BatchNorm2d(3), (2, 3, 2, 3)),
    "bn2d_no_affine": (lambda lib: lib.nn.BatchNorm2d(3, affine=False), (2, 3, 2, 2)),
    "bn2d_no_bias": (lambda lib: lib.nn.BatchNorm2d(3, bias=False), (2, 3, 2, 2)),
    "bn2d_untracked": (lambda lib: lib.nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 2, 2)),
    "bn3d_cma": (lambda lib: lib.nn.BatchNorm3d(2, momentum=None), (2, 2, 2, 2, 2)),
    "syncbn": (lambda lib: lib.nn.SyncBatchNorm(3), (2, 3, 2, 2)),
    "in1d": (lambda lib: lib.nn.InstanceNorm1d(3), (2, 3, 5)),
    "in1d_unbatched": (lambda lib: lib.nn.InstanceNorm1d(3, affine=True), (3, 5)),
    "in2d_tracked": (lambda lib: lib.nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 2, 3)),
    "in3d_tracked": (lambda lib: lib.nn.InstanceNorm3d(2, momentum=0.4, track_running_stats=True), (2, 2, 2, 2, 2)),
    "ln": (lambda lib: lib.nn.LayerNorm(4), (2, 3, 4)),
    "ln_2d_nobias": (lambda lib: lib.nn.LayerNorm([3, 4], bias=False), (2, 3, 4)),
    "ln_no_affine": (lambda lib: lib.nn.LayerNorm(4, elementwise_affine=False, eps=1e-3), (2, 4)),
    "gn": (lambda lib: lib.nn.GroupNorm(2, 4), (2, 4, 3)),
    "gn_no_affine": (lambda lib: lib.nn.GroupNorm(4, 4, affine=False), (2, 4, 2, 2)),
    "rms": (lambda lib: lib.nn.RMSNorm(4), (2, 3, 4)),
    "rms_eps": (lambda lib: lib.nn.RMSNorm([3, 4], eps=1e-3, elementwise_affine=False), (2, 3, 4)),
    "lrn": (lambda lib: lib.nn.LocalResponseNorm(3, alpha=0.1), (2, 4, 3)),
}


@pytest.mark.parametrize("name", list(BN_MODULES))
def test_module_parity(name):
    make, shape = BN_MODULES[name]
    run_module_parity(make, shape)


def test_module_defaults_and_repr():
    for make in [lambda lib: lib.nn.BatchNorm2d(3, momentum=None), lambda lib: lib.nn.InstanceNorm1d(3, affine=True),
                 lambda lib: lib.nn.LayerNorm([2, 3], bias=False), lambda lib: lib.nn.GroupNorm(2, 4),
                 lambda lib: lib.nn.RMSNorm(3), lambda lib: lib.nn.LocalResponseNorm(2),
                 lambda lib: lib.nn.SyncBatchNorm(2)]:
        tm, im = make(torch), make(torchish)
        assert repr(tm) == repr(im)
        _compare_state(tm, im)  # default init: weight 1, bias 0, running stats 0 / 1
    bn = torchish.nn.BatchNorm1d(3)
    assert bn.num_batches_tracked.dtype == torchish.int64 and bn.num_batches_tracked.ndim == 0


def test_module_errors():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        torchish.nn.BatchNorm2d(3)(torchish.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        torchish.nn.BatchNorm1d(3)(torchish.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups \(2\)"):
        torchish.nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(4\), but got: 3"):
        torchish.nn.InstanceNorm1d(4, affine=True)(torchish.randn(2, 3, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        torchish.nn.InstanceNorm1d(4)(torchish.randn(2, 3, 5))


def test_batchnorm_reset_and_eval_uses_running_stats():
    bn = torchish.nn.BatchNorm1d(2)
    x = torchish.tensor([[1.0, 2.0], [3.0, 6.0]])
    bn(x)
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), [0.9 + 0.1 * 2.0, 0.9 + 0.1 * 8.0], rtol=1e-6)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    y = bn(x)
    expected = (x.numpy() - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1  # eval does not count
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0, 0])
    assert int(bn.num_batches_tracked) == 0


def test_convert_sync_batchnorm_shares_parameters_and_buffers():
    net = torchish.nn.Sequential(torchish.nn.ReLU(), torchish.nn.BatchNorm1d(3, momentum=None))
    bn = net[1]
    net.eval()
    out = torchish.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    sync = out[1]
    assert isinstance(sync, torchish.nn.SyncBatchNorm) and sync.momentum is None and not sync.training
    assert sync.weight is bn.weight and sync.running_mean is bn.running_mean
    assert sync.num_batches_tracked is bn.num_batches_tracked
    assert isinstance(out[0], torchish.nn.ReLU)


def test_load_old_checkpoint_without_num_batches_tracked():
    tm = torch.nn.BatchNorm1d(3)
    sd = tm.state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1
    im = torchish.nn.BatchNorm1d(3)
    im.load_state_dict(sd)  # strict: the missing key is filled in, as PyTorch


def test_batchnorm_inside_compile_updates_running_stats():
    torchish.manual_seed(0)
    bn_c, bn_e = torchish.nn.BatchNorm1d(3, momentum=None), torchish.nn.BatchNorm1d(3, momentum=None)

    def step(m, x):
        return m(x).sum()

    compiled = torchish.compile(step)
    for i in range(3):
        x = torchish.randn(4, 3) * (i + 1)
        a, b = compiled(bn_c, x), step(bn_e, x)
        np.testing.assert_allclose(a.item(), b.item(), atol=1e-5)
    np.testing.assert_allclose(bn_c.running_mean.numpy(), bn_e.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(bn_c.running_var.numpy(), bn_e.running_var.numpy(), rtol=1e-6)
    assert int(bn_c.num_batches_tracked) == 3


def test_batch_norm_axis_name_syncs_statistics_across_devices():
    """With a named device axis (here jax.vmap's), two half-batches normalise like the full batch."""
    import jax
    import jax.numpy as jnp

    from torchish._ops import OPS

    x = jnp.asarray(_x(8, 3, 2))
    w, b, rm, rv = jnp.ones(3), jnp.zeros(3), jnp.zeros(3), jnp.ones(3)
    full = OPS["batch_norm"].impl(x, w, b, rm, rv, 0.1, training=True, eps=1e-5)

    def shard(xs):
        return OPS["batch_norm"].impl(xs, w, b, rm, rv, 0.1, training=True, eps=1e-5, axis_name="devices")

    out, new_rm, new_rv = jax.vmap(shard, axis_name="devices")(x.reshape(2, 4, 3, 2))
    np.testing.assert_allclose(np.asarray(out).reshape(8, 3, 2), np.asarray(full[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(new_rm[0]), np.asarray(full[1]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(new_rv[1]), np.asarray(full[2]), rtol=1e-5)  # unbiased over all 16
