"""nn.init (checked statistically: torchish's generator differs from PyTorch's) and nn.utils."""

import math

import numpy as np
import pytest

import torchish
from torchish import nn
from torchish.nn import init

from parity import requires_torch, torch


def _np(t):
    return t.detach().float().numpy().astype(np.float64)


# --------------------------------------------------------------------------- gains and fans
@requires_torch
@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3),
                                      ("selu", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


@requires_torch
@pytest.mark.parametrize("shape", [(4, 3), (8, 3, 5), (6, 2, 3, 3), (2, 4, 1, 2, 3)])
def test_fans_match_torch(shape):
    t = torch.empty(shape)
    i = torchish.empty(shape)
    assert init._calculate_fan_in_and_fan_out(i) == torch.nn.init._calculate_fan_in_and_fan_out(t)
    for mode in ("fan_in", "fan_out", "FAN_IN"):
        assert init._calculate_correct_fan(i, mode) == torch.nn.init._calculate_correct_fan(t, mode)


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(torchish.empty(3))
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(torchish.empty(3, 3), mode="fan_avg")


# --------------------------------------------------------------------------- distributions
N = (200, 100)  # 20k samples: means/stds to well under 2%


def _check_uniform(t, lo, hi):
    a = _np(t)
    assert a.min() >= lo and a.max() <= hi
    assert a.mean() == pytest.approx((lo + hi) / 2, abs=0.02 * (hi - lo))
    assert a.std() == pytest.approx((hi - lo) / math.sqrt(12), rel=0.03)


def _check_normal(t, mean, std):
    a = _np(t)
    assert a.mean() == pytest.approx(mean, abs=0.03 * std)
    assert a.std() == pytest.approx(std, rel=0.03)


def test_uniform_normal_constant():
    w = nn.Parameter(torchish.empty(N))
    box = w
    assert init.uniform_(w, -2.0, 3.0) is box and w.requires_grad  # in place, under no_grad
    _check_uniform(w, -2.0, 3.0)
    init.normal_(w, 1.0, 0.5)
    _check_normal(w, 1.0, 0.5)
    init.constant_(w, 0.25)
    assert np.all(_np(w) == 0.25)
    init.ones_(w)
    assert np.all(_np(w) == 1)
    init.zeros_(w)
    assert np.all(_np(w) == 0)


def test_generator_makes_init_reproducible():
    a, b = torchish.empty(5, 4), torchish.empty(5, 4)
    init.kaiming_uniform_(a, generator=torchish.Generator().manual_seed(3))
    init.kaiming_uniform_(b, generator=torchish.Generator().manual_seed(3))
    assert np.array_equal(_np(a), _np(b))
    for fn in (init.xavier_normal_, init.orthogonal_, init.trunc_normal_, init.normal_):
        fn(a, generator=torchish.Generator().manual_seed(1))
        fn(b, generator=torchish.Generator().manual_seed(1))
        assert np.array_equal(_np(a), _np(b)), fn.__name__
    init.uniform_(a)
    init.uniform_(b)
    assert not np.array_equal(_np(a), _np(b))


def test_xavier():
    w = torchish.empty(N)
    fan_in, fan_out = N[1], N[0]
    init.xavier_uniform_(w, gain=2.0)
    a = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    _check_uniform(w, -a, a)
    init.xavier_normal_(w)
    _check_normal(w, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("a,mode,nl", [(0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
                                       (0, "fan_out", "relu"), (0.1, "fan_in", "tanh")])
def test_kaiming(a, mode, nl):
    w = torchish.empty(100, 50, 2, 2)
    fan = 50 * 4 if mode == "fan_in" else 100 * 4
    std = init.calculate_gain(nl, a) / math.sqrt(fan)
    init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nl)
    _check_uniform(w, -math.sqrt(3) * std, math.sqrt(3) * std)
    init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nl)
    _check_normal(w, 0.0, std)


def test_kaiming_zero_element_warns():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(torchish.empty(0, 3))
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_normal_(torchish.empty(3, 0))


@requires_torch
@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 5.0),
                                          (0.0, 1.0, 0.5, 3.0)])
def test_trunc_normal_matches_torch_distribution(mean, std, a, b):
    w = torchish.empty(N)
    init.trunc_normal_(w, mean, std, a, b)
    t = torch.nn.init.trunc_normal_(torch.empty(N), mean, std, a, b).numpy().astype(np.float64)
    x = _np(w)
    assert x.min() >= a and x.max() <= b
    assert x.mean() == pytest.approx(t.mean(), abs=0.03 * std)
    assert x.std() == pytest.approx(t.std(), rel=0.04)


def test_trunc_normal_bf16_and_warning():
    w = torchish.empty(50, 40, dtype=torchish.bfloat16)
    init.trunc_normal_(w, std=0.02)
    assert w.dtype == torchish.bfloat16 and np.abs(_np(w)).max() <= 2.0
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(torchish.empty(3), mean=10.0, std=1.0, a=-1.0, b=1.0)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 2, 3), (3, 3)])
def test_orthogonal(shape):
    w = torchish.empty(shape)
    init.orthogonal_(w, gain=2.0)
    m = _np(w).reshape(shape[0], -1)
    rows, cols = m.shape
    if rows <= cols:
        np.testing.assert_allclose(m @ m.T, 4.0 * np.eye(rows), atol=1e-4)
    else:
        np.testing.assert_allclose(m.T @ m, 4.0 * np.eye(cols), atol=1e-4)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(torchish.empty(3))


def test_orthogonal_is_haar_distributed():
    # with the sign correction, entries of a random orthogonal matrix have mean 0 and variance 1/n
    vals = []
    for _ in range(20):
        w = torchish.empty(8, 8)
        init.orthogonal_(w)
        vals.append(_np(w)[0, 0])
        vals.append(_np(w)[3, 5])
    v = np.array(vals)
    assert abs(v.mean()) < 0.2 and v.var() == pytest.approx(1 / 8, rel=0.5)


@requires_torch
def test_eye_and_dirac_match_torch():
    for shape in ((3, 5), (4, 2)):
        assert np.array_equal(_np(init.eye_(torchish.empty(shape))), torch.nn.init.eye_(torch.empty(shape)).numpy())
    for shape, groups in (((4, 2, 3), 1), ((6, 3, 3, 3), 2), ((2, 2, 3, 3, 3), 1), ((4, 4, 5), 2)):
        t = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
        assert np.array_equal(_np(init.dirac_(torchish.empty(shape), groups)), t)
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(torchish.empty(2, 2, 2))
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(torchish.empty(2, 2))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(torchish.empty(3, 2, 2), groups=2)


def test_sparse():
    w = torchish.empty(10, 300)
    init.sparse_(w, sparsity=0.3, std=0.5)
    a = _np(w)
    assert np.all((a == 0).sum(axis=0) == 3)  # ceil(0.3 * 10) zeros in every column
    _check_normal(torchish.tensor(a[a != 0]), 0.0, 0.5)


def test_init_preserves_box_grad_flag_and_dtype():
    p = nn.Parameter(torchish.empty(4, 4, dtype=torchish.float64))
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_, init.trunc_normal_, init.eye_):
        out = fn(p)
        assert out is p and p.requires_grad and p.dtype == torchish.float64 and p.grad_fn is None


def test_deprecated_aliases_warn():
    with pytest.warns(FutureWarning, match="`nn.init.uniform` is now deprecated in favor of `nn.init.uniform_`"):
        init.uniform(torchish.empty(2))


# --------------------------------------------------------------------------- nn.utils
def _params_with_grads(lib, seed=0, dtypes=("float32", "float32", "float32")):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    ps = []
    for s, dt in zip(shapes, dtypes):
        p = lib.nn.Parameter(lib.tensor(rng.standard_normal(s).astype(np.float32)).to(getattr(lib, dt)))
        p.grad = lib.tensor(rng.standard_normal(s).astype(np.float32) * 3).to(getattr(lib, dt))
        ps.append(p)
    return ps


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    tp, ip = _params_with_grads(torch), _params_with_grads(torchish)
    boxes = [p.grad for p in ip]
    tn = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    inorm = nn.utils.clip_grad_norm_(ip, max_norm, norm_type)
    assert inorm.dtype == torchish.float32 and inorm.shape == ()
    assert float(inorm) == pytest.approx(float(tn), rel=1e-5)
    for t, i, box in zip(tp, ip, boxes):
        assert i.grad is box  # clipped in place
        np.testing.assert_allclose(i.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


@requires_torch
def test_clip_grad_norm_mixed_dtypes_and_single_tensor():
    dts = ("float32", "bfloat16", "float64")
    tp, ip = _params_with_grads(torch, 1, dts), _params_with_grads(torchish, 1, dts)
    tn = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    inorm = nn.utils.clip_grad_norm_(ip, 1.0)
    assert str(inorm.dtype).split(".")[-1] == str(tn.dtype).split(".")[-1]
    assert float(inorm) == pytest.approx(float(tn), rel=1e-3)
    for t, i in zip(tp, ip):
        np.testing.assert_allclose(_np(i.grad), t.grad.double().numpy(), rtol=1e-2, atol=1e-3)
    t1, i1 = _params_with_grads(torch)[0], _params_with_grads(torchish)[0]
    assert float(nn.utils.clip_grad_norm_(i1, 0.1)) == pytest.approx(float(torch.nn.utils.clip_grad_norm_(t1, 0.1)))


def test_clip_grad_norm_is_one_op_and_edge_cases(monkeypatch):
    from torchish import _tensor

    ps = _params_with_grads(torchish)
    ps.append(nn.Parameter(torchish.zeros(2)))  # no grad: skipped
    calls = []
    real = _tensor.apply_op

    def counting(op, *a):
        calls.append(op.name)
        return real(op, *a)

    import torchish.nn.utils.clip_grad as CG

    monkeypatch.setattr(CG, "apply_op", counting)
    nn.utils.clip_grad_norm_(ps, 1.0)
    assert calls == ["clip_grad_norm"]
    monkeypatch.undo()
    assert float(nn.utils.clip_grad_norm_([], 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        nn.utils.clip_grad_norm_((p for p in []), 1.0)
    bad = _params_with_grads(torchish)
    bad[0].grad = torchish.full((3, 4), float("nan"))
    before = [p.grad.numpy().copy() for p in bad]
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    for p, b in zip(bad, before):  # untouched on error
        np.testing.assert_array_equal(p.grad.numpy(), b)
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        nn.utils.clip_grad_norm(_params_with_grads(torchish), 1.0)


@requires_torch
def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    tp, ip = _params_with_grads(torch), _params_with_grads(torchish)
    tn = torch.nn.utils.get_total_norm([p.grad for p in tp], 3.0)
    inorm = nn.utils.get_total_norm([p.grad for p in ip], 3.0)
    assert float(inorm) == pytest.approx(float(tn), rel=1e-5)
    torch.nn.utils.clip_grads_with_norm_(tp, 2.0, tn)
    nn.utils.clip_grads_with_norm_(ip, 2.0, inorm)
    for t, i in zip(tp, ip):
        np.testing.assert_allclose(i.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


@requires_torch
def test_clip_grad_value_matches_torch():
    tp, ip = _params_with_grads(torch), _params_with_grads(torchish)
    boxes = [p.grad for p in ip]
    torch.nn.utils.clip_grad_value_(tp, 1.5)
    assert nn.utils.clip_grad_value_(ip, 1.5) is None
    for t, i, box in zip(tp, ip, boxes):
        assert i.grad is box
        np.testing.assert_array_equal(i.grad.numpy(), t.grad.numpy())


@requires_torch
def test_parameters_vector_round_trip_matches_torch():
    tp, ip = _params_with_grads(torch), _params_with_grads(torchish)
    tv, iv = torch.nn.utils.parameters_to_vector(tp), nn.utils.parameters_to_vector(ip)
    np.testing.assert_array_equal(iv.detach().numpy(), tv.detach().numpy())
    assert iv.requires_grad  # differentiable, as PyTorch
    iv.sum().backward()
    assert ip[0].grad is not None
    box = ip[1]
    nn.utils.vector_to_parameters(torchish.arange(iv.numel()).float(), ip)
    torch.nn.utils.vector_to_parameters(torch.arange(tv.numel()).float(), tp)
    assert ip[1] is box and ip[1].requires_grad
    for t, i in zip(tp, ip):
        np.testing.assert_array_equal(i.detach().numpy(), t.detach().numpy())
    with pytest.raises(TypeError, match="expected torchish.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1, 2], ip)


def test_rnn_submodule_importable():
    assert hasattr(nn.utils, "rnn")
