"""torchish.func against torch.func: values of grads, jacobians, vmap, functional_call."""

import numpy as np
import pytest

import torchish as T
import torchish.nn as nn
import torchish.nn.functional as F
from parity import requires_torch, torch

pytestmark = requires_torch


def f_both(L, x):
    return (L.sin(x) * x ** 2).sum()


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def test_grad_and_value_and_nested():
    x = np.array([0.3, -1.2, 2.0], np.float32)
    tg = torch.func.grad(lambda t: f_both(torch, t))(torch.tensor(x))
    ig = T.func.grad(lambda t: f_both(T, t))(T.tensor(x))
    np.testing.assert_allclose(_np(ig), _np(tg), rtol=1e-5)
    g, v = T.func.grad_and_value(lambda t: f_both(T, t))(T.tensor(x))
    assert v.item() == pytest.approx(f_both(torch, torch.tensor(x)).item(), rel=1e-5)
    # second derivative: grad of (sum of grad)
    tgg = torch.func.grad(lambda t: torch.func.grad(lambda u: f_both(torch, u))(t).sum())(torch.tensor(x))
    igg = T.func.grad(lambda t: T.func.grad(lambda u: f_both(T, u))(t).sum())(T.tensor(x))
    np.testing.assert_allclose(_np(igg), _np(tgg), rtol=1e-4)


def test_grad_argnums_and_aux():
    a, b = T.tensor([1.0, 2.0]), T.tensor(3.0)
    ga, gb = T.func.grad(lambda x, y: (x * y).sum(), argnums=(0, 1))(a, b)
    assert ga.tolist() == [3.0, 3.0] and gb.item() == 3.0
    g, aux = T.func.grad(lambda x: ((x ** 2).sum(), x * 10), has_aux=True)(a)
    assert g.tolist() == [2.0, 4.0] and aux.tolist() == [10.0, 20.0]
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar Tensor"):
        T.func.grad(lambda x: x * 2)(a)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func.jacfwd uses torch.jit.script
def test_vjp_jvp_jacobians_hessian():
    x = np.array([[0.5, -0.2], [1.0, 0.3]], np.float32)

    def f(L, t):
        return L.tanh(t @ t).sum(0)

    to, tfn = torch.func.vjp(lambda t: f(torch, t), torch.tensor(x))
    io, ifn = T.func.vjp(lambda t: f(T, t), T.tensor(x))
    ct = np.array([1.0, -2.0], np.float32)
    np.testing.assert_allclose(_np(ifn(T.tensor(ct))[0]), _np(tfn(torch.tensor(ct))[0]), rtol=1e-5)
    tv = np.ones_like(x)
    _, tj = torch.func.jvp(lambda t: f(torch, t), (torch.tensor(x),), (torch.tensor(tv),))
    _, ij = T.func.jvp(lambda t: f(T, t), (T.tensor(x),), (T.tensor(tv),))
    np.testing.assert_allclose(_np(ij), _np(tj), rtol=1e-5)
    for tfun, ifun in ((torch.func.jacrev, T.func.jacrev), (torch.func.jacfwd, T.func.jacfwd)):
        np.testing.assert_allclose(_np(ifun(lambda t: f(T, t))(T.tensor(x))), _np(tfun(lambda t: f(torch, t))(torch.tensor(x))), rtol=1e-5)
    v = np.array([0.3, -0.7, 1.1], np.float32)
    th = torch.func.hessian(lambda t: f_both(torch, t))(torch.tensor(v))
    ih = T.func.hessian(lambda t: f_both(T, t))(T.tensor(v))
    np.testing.assert_allclose(_np(ih), _np(th), rtol=1e-4, atol=1e-6)


def test_vmap_in_out_dims():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.array([1.0, 2.0], np.float32)
    r = T.func.vmap(lambda a, b: a * b, in_dims=(1, None))(T.tensor(x), T.tensor(y))
    t = torch.func.vmap(lambda a, b: a * b, in_dims=(1, None))(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(_np(r), _np(t))
    r2 = T.func.vmap(lambda a: a.sum(), out_dims=0)(T.tensor(x))
    assert r2.tolist() == [3.0, 12.0]
    with pytest.raises(ValueError, match="in_dims is not compatible"):
        T.func.vmap(lambda a, b: a, in_dims=(0,))(T.tensor(x), T.tensor(y))


def test_vmap_randomness():
    x = T.zeros(4, 3)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        T.func.vmap(lambda a: a + T.rand(3))(x)
    same = T.func.vmap(lambda a: a + T.rand(3), randomness="same")(x)
    assert T.allclose(same[0], same[1])
    diff = T.func.vmap(lambda a: a + T.rand(3), randomness="different")(x)
    assert not T.allclose(diff[0], diff[1])


def _model(L):
    L.manual_seed(0)
    return L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 2))


def test_per_sample_grads_vmap_of_grad_matches_torch():
    tm, im = _model(torch), _model(T)
    im.load_state_dict(tm.state_dict())
    X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    Y = np.array([0, 1, 1, 0, 1])

    def per_sample(L, func, m, x, y):
        params = {k: v.detach() for k, v in m.named_parameters()}

        def loss(p, xi, yi):
            out = func.functional_call(m, p, (xi[None],))
            return L.nn.functional.cross_entropy(out, yi[None])

        return func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, x, y)

    tg = per_sample(torch, torch.func, tm, torch.tensor(X), torch.tensor(Y))
    ig = per_sample(T, T.func, im, T.tensor(X), T.tensor(Y))
    for k in tg:
        assert tuple(ig[k].shape) == tuple(tg[k].shape) == (5,) + tuple(tm.state_dict()[k].shape)
        np.testing.assert_allclose(_np(ig[k]), _np(tg[k]), rtol=1e-4, atol=1e-6)


def test_per_sample_grads_inside_compile():
    im = _model(T)
    params = {k: v.detach() for k, v in im.named_parameters()}
    X, Y = T.randn(5, 3), T.tensor([0, 1, 1, 0, 1])

    def loss(p, xi, yi):
        return F.cross_entropy(T.func.functional_call(im, p, (xi[None],)), yi[None])

    eager = T.func.vmap(T.func.grad(loss), in_dims=(None, 0, 0))(params, X, Y)
    compiled = T.compile(lambda X, Y: T.func.vmap(T.func.grad(loss), in_dims=(None, 0, 0))(params, X, Y))(X, Y)
    for k in eager:
        np.testing.assert_allclose(compiled[k].numpy(), eager[k].numpy(), rtol=1e-5, atol=1e-6)


def test_functional_call_with_tape_and_strict():
    m = nn.Linear(2, 1)
    w = T.ones(1, 2, requires_grad=True)
    out = T.func.functional_call(m, {"weight": w}, (T.tensor([[1.0, 2.0]]),))
    out.sum().backward()
    assert w.grad.tolist() == [[1.0, 2.0]] and m.weight.grad is None
    assert m.weight is not w  # the module's own parameter is back
    with pytest.raises(RuntimeError, match="missing keys \\['bias'\\]"):
        T.func.functional_call(m, {"weight": w}, (T.ones(1, 2),), strict=True)


def test_stack_module_state_ensemble():
    models = [nn.Linear(3, 2) for _ in range(4)]
    params, buffers = T.func.stack_module_state(models)
    base = nn.Linear(3, 2)
    x = T.randn(5, 3)
    out = T.func.vmap(lambda p, b, x: T.func.functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(params, buffers, x)
    assert out.shape == (4, 5, 2)
    np.testing.assert_allclose(out[2].numpy(), models[2](x).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch's forward AD
@pytest.mark.parametrize("layer", ["embedding", "max_pool"])
def test_forward_mode_through_lookup_and_pooling_layers(layer):
    # jvp / jacfwd through an embedding (no padding_idx) and a max pooling: their derivatives must
    # not be custom_vjp-only (forward mode would raise)
    T.manual_seed(0)
    if layer == "embedding":
        m, x = nn.Embedding(10, 4), T.tensor([[1, 2, 2], [0, 9, 1]])
    else:
        m, x = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), T.randn(1, 1, 6, 6)
    params = {k: v.detach() for k, v in m.named_parameters()}
    tangents = {k: T.randn(*v.shape) for k, v in params.items()}
    f = lambda p: T.func.functional_call(m, p, (x,))  # noqa: E731
    y, yt = T.func.jvp(f, (params,), (tangents,))
    eps = 1e-3  # a linear function of the parameters (embedding) / piecewise linear (pooling)
    shifted = {k: params[k] + eps * tangents[k] for k in params}
    np.testing.assert_allclose(yt.numpy(), ((f(shifted) - y) / eps).numpy(), rtol=1e-2, atol=1e-3)
    jac = T.func.jacfwd(f)(params)
    assert set(jac) == set(params)
    if layer == "embedding" and torch is not None:  # PyTorch's forward AD: the tangent's rows
        import torch.autograd.forward_ad as fwAD

        with fwAD.dual_level():
            w = fwAD.make_dual(torch.tensor(params["weight"].numpy()), torch.tensor(tangents["weight"].numpy()))
            tt = fwAD.unpack_dual(torch.nn.functional.embedding(torch.tensor(x.numpy()), w)).tangent
        np.testing.assert_allclose(yt.numpy(), tt.numpy(), rtol=1e-6)
