"""nn.Module core and containers: registration, iteration, state_dict, hooks, dtype/device, repr.

Modules here are built from ``nn.Parameter`` and torchish ops directly (the same class is defined
against ``torch`` and ``torchish`` where PyTorch is the oracle), so these tests do not depend on
the layer library.
"""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import torchish
from torchish import nn
from torchish._stateful import STRUCTURE

from parity import requires_torch, torch


# --------------------------------------------------------------------------- model factories
def make_classes(lib):
    """``Lin``, ``Net`` and ``Leaf`` written against ``lib`` (torch or torchish)."""

    class Lin(lib.nn.Module):
        def __init__(self, i, o, bias=True):
            super().__init__()
            self.in_features, self.out_features = i, o
            self.weight = lib.nn.Parameter(lib.empty(o, i))
            self.bias = lib.nn.Parameter(lib.empty(o)) if bias else None
            if not bias:
                self.register_parameter("bias", None)
            lib.nn.init.uniform_(self.weight, -0.5, 0.5)
            if bias:
                lib.nn.init.uniform_(self.bias, -0.5, 0.5)

        def forward(self, x):
            y = x @ self.weight.t()
            return y + self.bias if self.bias is not None else y

        def extra_repr(self):
            return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    class Leaf(lib.nn.Module):
        def forward(self, x):
            return x * 2

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Lin(3, 4)
            self.act = Leaf()
            self.fc2 = Lin(4, 2)
            self.register_buffer("steps", lib.zeros((), dtype=lib.int64))
            self.register_buffer("scale", lib.ones(2))
            self.register_buffer("cache", lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)).tanh()) * self.scale

    return Lin, Leaf, Net


Lin, Leaf, Net = make_classes(torchish)


def copy_from_torch(dst, src):
    dst.load_state_dict(src.state_dict())


# --------------------------------------------------------------------------- registration
def test_registration_and_named_iteration_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "scale", "cache"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(net.state_dict()) == ["steps", "scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert net.fc1.weight is net._modules["fc1"]._parameters["weight"]
    assert [n for n, _ in net.named_parameters(prefix="model")][0] == "model.fc1.weight"
    assert list(net.named_parameters(recurse=False)) == []
    assert [n for n, _ in net.named_buffers(recurse=False)] == ["steps", "scale", "cache"]
    assert [n for n, _ in net.named_modules(prefix="m")] == ["m", "m.fc1", "m.act", "m.fc2"]


@requires_torch
def test_iteration_matches_torch():
    _, _, TNet = make_classes(torch)
    t, i = TNet(), Net()
    assert [n for n, _ in t.named_parameters()] == [n for n, _ in i.named_parameters()]
    assert [n for n, _ in t.named_buffers()] == [n for n, _ in i.named_buffers()]
    assert list(t.state_dict()) == list(i.state_dict())
    assert [n for n, _ in t.named_modules()] == [n for n, _ in i.named_modules()]


def test_shared_parameters_and_modules_deduplicated():
    net = nn.Module()
    net.a = Lin(2, 2)
    net.b = Lin(2, 2)
    net.b.weight = net.a.weight
    net.c = net.a
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    names = [n for n, _ in net.named_parameters(remove_duplicate=False)]
    assert names == ["a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "b"]
    assert [n for n, _ in net.named_modules(remove_duplicate=False)] == ["", "a", "b", "c"]
    assert len(list(net.children())) == 2
    assert list(net.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"]


def test_buffers_persistent_and_nn_buffer():
    m = nn.Module()
    m.register_buffer("a", torchish.zeros(2))
    m.register_buffer("b", torchish.zeros(2), persistent=False)
    m.c = nn.Buffer(torchish.ones(1))
    m.d = nn.Buffer(torchish.ones(1), persistent=False)
    m.register_buffer("e", None)
    assert [n for n, _ in m.named_buffers()] == ["a", "b", "c", "d"]
    assert list(m.state_dict()) == ["a", "c"]
    assert m._non_persistent_buffers_set == {"b", "d"}
    m.a = torchish.full((3,), 2.0)  # plain tensor to an existing buffer name stays a buffer
    assert "a" in m._buffers and m.a.shape == (3,)
    m.b = torchish.zeros(1)  # keeps non-persistence
    assert "b" in m._non_persistent_buffers_set
    m.plain = torchish.zeros(1)  # a tensor under a new name is a plain attribute, as in PyTorch
    assert "plain" in m.__dict__ and "plain" not in m._buffers


def test_setattr_rules_and_errors():
    m = Lin(2, 3)
    with pytest.raises(TypeError, match=r"cannot assign 'torchish.FloatTensor' as parameter 'weight' "
                                        r"\(torchish.nn.Parameter or None expected\)"):
        m.weight = torchish.zeros(3, 2)
    m.bias = None
    assert m.bias is None and "bias" in m._parameters
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    net = Net()
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module 'fc1'"):
        net.fc1 = 3
    with pytest.raises(TypeError, match=r"cannot assign 'str' as buffer 'scale'"):
        net.scale = "x"
    # reassigning a name moves it between the dicts
    net.act = nn.Parameter(torchish.zeros(1))
    assert "act" in net._parameters and "act" not in net._modules
    with pytest.raises(TypeError, match="as parameter 'act'"):  # as PyTorch: delete the parameter first
        net.act = Leaf()
    del net.act
    net.act = Leaf()
    assert "act" in net._modules and "act" not in net._parameters

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(torchish.zeros(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Early()


def test_register_errors():
    m = nn.Module()
    m.x = 1
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", nn.Parameter(torchish.zeros(1)))
    with pytest.raises(KeyError, match="empty string"):
        m.register_buffer("", torchish.zeros(1))
    with pytest.raises(KeyError, match="attribute 'x' already exists"):
        m.register_parameter("x", nn.Parameter(torchish.zeros(1)))
    with pytest.raises(TypeError, match=r"cannot assign 'torchish.FloatTensor' object to parameter 'p'"):
        m.register_parameter("p", torchish.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer 'b'"):
        m.register_buffer("b", [1])
    w = torchish.zeros(1, requires_grad=True)
    p = nn.Parameter(torchish.zeros(1))
    p2 = p * 2
    p2.__class__ = nn.Parameter
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'q'"):
        m.register_parameter("q", p2)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("k", w)
    with pytest.raises(KeyError, match=r"got: a.b"):
        m.add_module("a.b", nn.Module())
    m.register_module("sub", nn.Module())
    assert isinstance(m.sub, nn.Module)
    with pytest.raises(TypeError, match="Module.__init__\\(\\) takes 1 positional argument"):
        nn.Module(3)


def test_delattr_getattr_dir():
    net = Net()
    assert "fc1" in dir(net) and "steps" in dir(net) and "forward" in dir(net)
    del net.fc1.bias
    assert [n for n, _ in net.fc1.named_parameters()] == ["weight"]
    del net.scale, net.act
    assert "scale" not in net._buffers and "act" not in net._modules
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        net.nope
    with pytest.raises(AttributeError):
        del net.nope


def test_forward_missing_and_call():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(torchish.zeros(1))
    with pytest.raises(NotImplementedError, match=r"Module \[ModuleList\]"):
        nn.ModuleList()(1)
    assert Leaf()(torchish.ones(2)).tolist() == [2.0, 2.0]


def test_structure_version_bumps():
    m = nn.Module()
    for action in (lambda: setattr(m, "w", nn.Parameter(torchish.zeros(1))),
                   lambda: m.register_buffer("b", torchish.zeros(1)),
                   lambda: setattr(m, "sub", nn.Module()),
                   lambda: delattr(m, "w"),
                   lambda: delattr(m, "sub"),
                   lambda: m.add_module("s2", Leaf())):
        v = STRUCTURE.value
        action()
        assert STRUCTURE.value > v
    v = STRUCTURE.value
    m.to(torchish.float64)  # boxes keep their identity: not structural
    assert STRUCTURE.value == v
    m.train(False)  # the mode is part of torchish.compile's program key
    assert STRUCTURE.value > v
    assert m._torchish_state_() == (m._parameters, m._buffers, m._modules)
    assert m._torchish_static_() is False


# --------------------------------------------------------------------------- submodule lookup
def test_get_submodule_parameter_buffer():
    net = nn.Sequential(Net())
    assert net.get_submodule("0.fc1") is net[0].fc1
    assert net.get_submodule("") is net
    assert net.get_parameter("0.fc2.bias") is net[0].fc2.bias
    assert net.get_buffer("0.steps") is net[0].steps
    with pytest.raises(AttributeError, match="Net has no attribute `zz`"):
        net.get_submodule("0.zz")
    with pytest.raises(AttributeError, match="`steps` is not an nn.Parameter"):
        net.get_parameter("0.steps")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        net.get_buffer("0.fc1.weight")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.get_submodule("0.fc1.weight")
    net.set_submodule("0.act", Lin(4, 4))
    assert isinstance(net[0].act, Lin)
    with pytest.raises(AttributeError, match="has no attribute `new`"):
        net.set_submodule("0.new", Leaf(), strict=True)


# --------------------------------------------------------------------------- modes and grads
def test_train_eval_requires_grad_apply():
    net = Net()
    assert net.training and net.fc1.training
    assert net.eval() is net
    assert not net.training and not net.fc1.training and not net.act.training
    net.train()
    assert net.act.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train(1)
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Lin", "Leaf", "Lin", "Net"]


def test_zero_grad():
    net = Net()
    net(torchish.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    g = net.fc1.weight.grad
    net.zero_grad(set_to_none=False)
    assert net.fc1.weight.grad is g and float(g.abs().sum()) == 0.0
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --------------------------------------------------------------------------- dtype / device
def test_to_dtype_keeps_boxes_and_casts_floats_only():
    net = Net()
    net(torchish.randn(2, 3)).sum().backward()
    w, g, steps = net.fc1.weight, net.fc1.weight.grad, net.steps
    assert net.to(torchish.float64) is net
    assert net.fc1.weight is w and w.dtype == torchish.float64 and w.requires_grad
    assert w.grad is g and g.dtype == torchish.float64
    assert net.steps is steps and steps.dtype == torchish.int64 and net.scale.dtype == torchish.float64
    net.half()
    assert w.dtype == torchish.float16 and net.steps.dtype == torchish.int64
    net.bfloat16()
    assert w.dtype == torchish.bfloat16
    net.float()
    assert w.dtype == torchish.float32
    net.double()
    assert w.dtype == torchish.float64
    net.to(torchish.zeros(1, dtype=torchish.float32))
    assert w.dtype == torchish.float32
    net.to("cpu", torchish.float16)
    assert w.dtype == torchish.float16
    net.to(dtype=torchish.float32, device="cpu").cpu()
    assert w.dtype == torchish.float32 and w.device.type == "cpu"
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes, but got desired "
                                        "dtype=torchish.int64"):
        net.to(torchish.int64)
    net.type(torchish.float64)
    assert net.steps.dtype == torchish.float64  # type() casts every tensor, as PyTorch
    assert net.share_memory() is net


def test_optimizer_style_references_survive_to_and_load():
    net = Net()
    params = list(net.parameters())
    net.to(torchish.float64)
    net.load_state_dict(Net().state_dict())
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert params[0].dtype == torchish.float64  # loading copies into the box, keeping its dtype


# --------------------------------------------------------------------------- state_dict
def test_state_dict_values():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    w = sd["fc1.weight"]
    assert not w.requires_grad and w is not net.fc1.weight
    np.testing.assert_array_equal(w.numpy(), net.fc1.weight.detach().numpy())
    kv = net.state_dict(keep_vars=True)
    assert kv["fc1.weight"] is net.fc1.weight
    assert list(net.state_dict(prefix="m."))[0] == "m.steps"
    assert sd._metadata[""] == {"version": 1} and "fc1" in sd._metadata
    # values alias the parameters, as PyTorch's share storage
    with torchish.no_grad():
        net.fc1.weight.add_(1.0)
    np.testing.assert_array_equal(sd["fc1.weight"].numpy(), net.fc1.weight.detach().numpy())
    snap = copy.deepcopy(net.state_dict())
    with torchish.no_grad():
        net.fc1.weight.add_(1.0)
    assert not np.array_equal(snap["fc1.weight"].numpy(), net.fc1.weight.detach().numpy())


def test_load_state_dict_copies_into_boxes():
    src, dst = Net(), Net()
    w = dst.fc1.weight
    res = dst.load_state_dict(src.state_dict())
    assert repr(res) == "<All keys matched successfully>"
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert dst.fc1.weight is w and w.requires_grad
    np.testing.assert_array_equal(w.detach().numpy(), src.fc1.weight.detach().numpy())
    x = torchish.randn(2, 3)
    np.testing.assert_allclose(dst(x).detach().numpy(), src(x).detach().numpy())


def test_load_state_dict_reports_every_problem_at_once():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"], sd["steps"]
    sd["fc2.weight"] = torchish.zeros(5, 4)
    sd["fc2.extra"] = torchish.zeros(1)
    sd["ghost.weight"] = torchish.zeros(1)
    msg = (r"Error\(s\) in loading state_dict for Net:\n"
           r"\tMissing key\(s\) in state_dict: \"steps\", \"fc1.bias\". \n"
           r"\tUnexpected key\(s\) in state_dict: \"ghost.weight\", \"fc2.extra\". \n"
           r"\tsize mismatch for fc2.weight: copying a param with shape torchish.Size\(\[5, 4\]\) from checkpoint, "
           r"the shape in current model is torchish.Size\(\[2, 4\]\).")
    with pytest.raises(RuntimeError, match=msg):
        net.load_state_dict(sd)
    sd["fc2.weight"] = torchish.zeros(2, 4)
    res = net.load_state_dict(sd, strict=False)
    # as PyTorch: strict=False still reports the keys, without raising
    assert res.missing_keys == ["steps", "fc1.bias"] and res.unexpected_keys == ["ghost.weight", "fc2.extra"]
    assert float(net.fc2.weight.abs().sum()) == 0.0
    with pytest.raises(RuntimeError, match=r'While copying the parameter named "scale", expected torchish.Tensor'):
        net.load_state_dict({**sd, "scale": "abc"}, strict=False)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])


@requires_torch
def test_load_state_dict_message_matches_torch():
    _, _, TNet = make_classes(torch)
    for lib, net in ((torch, TNet()), (torchish, Net())):
        sd = net.state_dict()
        del sd["fc1.bias"]
        sd["fc2.weight"] = lib.zeros(5, 4)
        sd["x.y"] = lib.zeros(1)
        with pytest.raises(RuntimeError) as e:
            net.load_state_dict(sd)
        if lib is torch:
            expected = str(e.value).replace("torch.Size", "torchish.Size")
        else:
            assert str(e.value) == expected


def test_load_state_dict_assign_and_foreign_values():
    net = Lin(2, 3)
    new_w = torchish.ones(3, 2)
    net.load_state_dict({"weight": new_w, "bias": np.full((3,), 2.0, np.float32)}, assign=True)
    assert net.weight is not new_w and net.weight._value() is new_w._value()
    assert isinstance(net.weight, nn.Parameter) and net.weight.requires_grad
    assert net.bias.tolist() == [2.0, 2.0, 2.0]
    net.requires_grad_(False)
    net.load_state_dict({"weight": np.zeros((3, 2), np.float64), "bias": np.zeros(3, np.float32)})
    assert net.weight.dtype == torchish.float32 and float(net.weight.abs().sum()) == 0.0
    import jax.numpy as jnp

    net.load_state_dict({"weight": jnp.ones((3, 2)), "bias": jnp.ones(3)})
    assert float(net.weight.sum()) == 6.0
    # a 1-element checkpoint value loads into a 0-d buffer (PyTorch's backward-compatibility rule)
    m = nn.Module()
    m.register_buffer("n", torchish.tensor(0))
    m.load_state_dict({"n": torchish.tensor([7])})
    assert m.n.shape == () and int(m.n) == 7


@requires_torch
@pytest.mark.parametrize("train", [True, False])
def test_parity_weights_from_torch(train):
    TLin, _, TNet = make_classes(torch)
    t, i = TNet(), Net()
    with torch.no_grad():
        t.scale.copy_(torch.tensor([0.5, -2.0]))
    i.load_state_dict(t.state_dict())  # torch tensors go straight in
    t.train(train)
    i.train(train)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    ty, iy = t(torch.tensor(x)), i(torchish.tensor(x))
    np.testing.assert_allclose(iy.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    ty.square().sum().backward()
    iy.square().sum().backward()
    for (tn, tp), (inn, ip) in zip(t.named_parameters(), i.named_parameters()):
        assert tn == inn
        np.testing.assert_allclose(ip.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6)
    # bfloat16 torch tensors convert too
    b = torch.randn(4, 3).bfloat16()
    lin = Lin(3, 4)
    lin.load_state_dict({"weight": b, "bias": torch.zeros(4)})
    np.testing.assert_array_equal(lin.weight.detach().numpy(), b.float().numpy())


def test_state_dict_and_load_hooks_and_extra_state():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torchish.zeros(1))
            self.counter = 0

        def get_extra_state(self):
            return {"counter": self.counter}

        def set_extra_state(self, state):
            self.counter = state["counter"]

    m = WithExtra()
    m.counter = 5
    sd = m.state_dict()
    assert sd["_extra_state"] == {"counter": 5}
    m2 = WithExtra()
    calls = []
    m2.register_load_state_dict_pre_hook(lambda mod, sd, prefix, *a: calls.append(("pre", prefix)))
    m2.register_load_state_dict_post_hook(lambda mod, keys: calls.append(("post", tuple(keys.missing_keys))))
    m2.load_state_dict(sd)
    assert m2.counter == 5 and calls == [("pre", ""), ("post", ())]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "_extra_state"'):
        m2.load_state_dict({"w": torchish.zeros(1)})
    h = m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: calls.append("sdpre"))
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.__setitem__("added", 1))
    assert m.state_dict()["added"] == 1 and calls[-1] == "sdpre"
    h.remove()
    m.state_dict()
    assert calls.count("sdpre") == 1


# --------------------------------------------------------------------------- forward hooks
def test_forward_hooks():
    m = Leaf()
    log = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 10)
    m.register_forward_pre_hook(lambda mod, args: log.append("first"), prepend=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: log.append(("kw", kwargs)), with_kwargs=True)
    assert m(torchish.zeros(1)).tolist() == [20.0]  # (0 + 1) * 2 * 10
    assert log == ["first", ("kw", {})]
    h1.remove()
    h2.remove()
    assert m(torchish.zeros(1)).tolist() == [0.0]
    with m.register_forward_hook(lambda mod, args, out: out + 1):
        assert m(torchish.zeros(1)).tolist() == [1.0]
    assert m(torchish.zeros(1)).tolist() == [0.0]

    class KW(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    k = KW()
    k.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}), with_kwargs=True)
    assert k(torchish.ones(1)).tolist() == [3.0]
    k2 = KW()
    k2.register_forward_pre_hook(lambda mod, args, kwargs: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple of"):
        k2(torchish.ones(1))


def test_forward_hook_always_call_and_global_hooks():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    seen = []
    b = Boom()
    b.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        b(torchish.zeros(1))
    assert seen == [None]
    h = nn.modules.module.register_module_forward_hook(lambda mod, args, out: seen.append(type(mod).__name__))
    try:
        Leaf()(torchish.zeros(1))
    finally:
        h.remove()
    Leaf()(torchish.zeros(1))
    assert seen == [None, "Leaf"]


# --------------------------------------------------------------------------- backward hooks
@requires_torch
def test_full_backward_hooks_match_torch():
    TLin, _, _ = make_classes(torch)
    records = {}
    for lib, lin in ((torch, TLin(3, 2)), (torchish, Lin(3, 2))):
        if lib is torchish:
            lin.load_state_dict(records["sd"])
        else:
            records["sd"] = {k: v.clone() for k, v in lin.state_dict().items()}
        got = []
        lin.register_full_backward_pre_hook(lambda m, go: got.append(("pre", [g.numpy().copy() for g in go])))
        lin.register_full_backward_hook(
            lambda m, gi, go: got.append(("full", [g.numpy().copy() for g in gi], [g.numpy().copy() for g in go])))
        x = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10, requires_grad=True)
        (lin(x) ** 2).sum().backward()
        records[lib.__name__] = (got, x.grad.numpy().copy())
    (tg, tx), (ig, ix) = records["torch"], records["torchish"]
    assert [e[0] for e in ig] == [e[0] for e in tg] == ["pre", "full"]
    np.testing.assert_allclose(ig[0][1][0], tg[0][1][0], rtol=1e-5)
    np.testing.assert_allclose(ig[1][1][0], tg[1][1][0], rtol=1e-5)
    np.testing.assert_allclose(ig[1][2][0], tg[1][2][0], rtol=1e-5)
    np.testing.assert_allclose(ix, tx, rtol=1e-5)


def test_backward_hooks_can_replace_gradients():
    lin = Lin(3, 2)
    x = torchish.randn(2, 3, requires_grad=True)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0 + 7,))
    lin(x).sum().backward()
    assert np.all(x.grad.numpy() == 7)
    # a pre-hook that zeroes grad_output zeroes every gradient inside the module
    lin2 = Lin(3, 2)
    lin2.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
    x2 = torchish.randn(2, 3, requires_grad=True)
    lin2(x2).sum().backward()
    assert float(x2.grad.abs().sum()) == 0 and float(lin2.weight.grad.abs().sum()) == 0
    bad = Lin(3, 2)
    bad.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of grad_input, got 2, but expected 1"):
        bad(torchish.randn(2, 3, requires_grad=True)).sum().backward()


def test_backward_hook_when_no_input_requires_grad():
    lin = Lin(3, 2)
    got = []
    lin.register_full_backward_hook(lambda m, gi, go: got.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="Full backward hook is firing"):
        lin(torchish.randn(2, 3)).sum().backward()
    assert got == [((None,), (2, 2))]
    assert lin.weight.grad is not None


# --------------------------------------------------------------------------- repr
def _repr_pair():
    out = []
    for lib in (torch, torchish):
        L, Lf, N = make_classes(lib)
        seq = lib.nn.Sequential(OrderedDict(net=N(), leaf=Lf()))
        seq.add_module("lst", lib.nn.ModuleList([L(2, 2), L(2, 2), L(2, 2), L(3, 1), Lf()]))
        seq.add_module("dct", lib.nn.ModuleDict({"a": L(1, 1), "b": Lf()}))
        seq.add_module("empty", lib.nn.ModuleList())
        seq.add_module("none", None)
        out.append(repr(seq))
    return out


@requires_torch
def test_repr_matches_torch():
    t, i = _repr_pair()
    assert i == t
    for lib in (torch, torchish):
        if lib is torch:
            pl = repr(lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2, 3)), lib.zeros(1, dtype=lib.float64), 3]))
            pd = repr(lib.nn.ParameterDict({"b": lib.zeros(2), "a": lib.nn.Parameter(lib.zeros(1, 4))}))
        else:
            assert repr(lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2, 3)), lib.zeros(1, dtype=lib.float64),
                                              3])) == pl.replace("torch.", "torchish.")
            assert repr(lib.nn.ParameterDict({"b": lib.zeros(2), "a": lib.nn.Parameter(lib.zeros(1, 4))})) == \
                pd.replace("torch.", "torchish.")


def test_repr_nested_extra_repr():
    s = nn.Sequential(Lin(2, 3), nn.Sequential(Leaf()))
    assert repr(s) == ("Sequential(\n  (0): Lin(in_features=2, out_features=3, bias=True)\n"
                       "  (1): Sequential(\n    (0): Leaf()\n  )\n)")


# --------------------------------------------------------------------------- copy / pickle
class PickleLin(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torchish.randn(2, 3))
        self.register_buffer("b", torchish.ones(2))

    def forward(self, x):
        return x @ self.weight.t() + self.b


class PickleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = PickleLin()

    def forward(self, x):
        return self.lin(x)


def test_deepcopy_and_pickle_give_independent_models():
    net = Net()
    net.fc1.weight.grad = torchish.ones(4, 3)
    net.register_forward_hook(lambda m, a, o: o)
    c = copy.deepcopy(net)
    assert c.fc1.weight is not net.fc1.weight
    assert isinstance(c.fc1.weight, nn.Parameter) and c.fc1.weight.requires_grad
    np.testing.assert_array_equal(c.fc1.weight.detach().numpy(), net.fc1.weight.detach().numpy())
    assert c.fc1.weight.grad is not None
    with torchish.no_grad():
        c.fc1.weight.zero_()
    assert float(net.fc1.weight.abs().sum()) > 0
    shared = nn.Module()
    shared.a = Lin(2, 2)
    shared.b = shared.a
    c2 = copy.deepcopy(shared)
    assert c2.a is c2.b
    orig = PickleNet()
    p = pickle.loads(pickle.dumps(orig))
    x = torchish.randn(2, 3)
    np.testing.assert_array_equal(p(x).detach().numpy(), orig(x).detach().numpy())
    assert [n for n, _ in p.named_parameters()] == ["lin.weight"] and p.lin.weight is not orig.lin.weight


# --------------------------------------------------------------------------- containers
def test_sequential():
    a, b, c = Lin(2, 3), Leaf(), Lin(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]) == [b, c]
    assert list(s[1:]._modules) == ["1", "2"]  # slicing keeps the names, as PyTorch
    assert s(torchish.ones(4, 2)).shape == (4, 1)
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s[3]
    s2 = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
    assert s2.first is a and list(s2._modules) == ["first", "second"]
    d = Leaf()
    s.append(d)
    assert s[3] is d
    s.insert(1, Leaf())
    assert len(s) == 5 and s[2] is b
    assert s.pop(1) is not b and len(s) == 4 and list(s._modules) == ["0", "1", "2", "3"]
    del s[-1]
    assert list(s) == [a, b, c]
    s[1] = d
    assert s[1] is d
    s.extend([Leaf(), Leaf()])
    assert len(s) == 5
    del s[3:]
    t = s + nn.Sequential(Leaf())
    assert len(t) == 4 and t[0] is a
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        s + [Leaf()]
    assert len(s * 2) == 6
    s += nn.Sequential(Leaf())
    assert len(s) == 4
    with pytest.raises(IndexError, match="Index out of range"):
        s.insert(10, Leaf())
    assert "0" not in dir(s)


def test_module_list():
    ml = nn.ModuleList([Lin(1, 1), Leaf()])
    ml.append(Leaf())
    ml.extend([Lin(2, 2)])
    ml += [Leaf()]
    assert len(ml) == 5 and isinstance(ml[-2], Lin)
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    ml.insert(0, Leaf())
    assert isinstance(ml[0], Leaf) and isinstance(ml[1], Lin)
    x = ml[1]
    ml[1] = Leaf()
    assert ml[1] is not x
    popped = ml.pop(0)
    assert isinstance(popped, Leaf) and len(ml) == 5
    del ml[0:2]
    assert len(ml) == 3 and list(ml._modules) == ["0", "1", "2"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    assert len(ml + nn.ModuleList([Leaf()])) == 4
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        ml.extend(3)
    with pytest.raises(IndexError, match="index 9 is out of range"):
        ml[9]


def test_module_dict():
    md = nn.ModuleDict({"a": Leaf(), "b": Lin(1, 1)})
    md["c"] = Leaf()
    md.update([("d", Leaf())])
    assert list(md) == ["a", "b", "c", "d"] and "b" in md and len(md) == 4
    assert list(md.keys()) == ["a", "b", "c", "d"] and isinstance(dict(md.items())["b"], Lin)
    assert md.pop("a") is not None and "a" not in md
    del md["c"]
    assert list(md.values())[0] is md["b"]
    assert [n for n, _ in md.named_parameters()] == ["b.weight", "b.bias"]
    with pytest.raises(ValueError, match="has length 1; 2 is required"):
        md.update([("x",)])
    md.clear()
    assert len(md) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([torchish.zeros(2), nn.Parameter(torchish.ones(1))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    pl.append(torchish.ones(3))
    pl.extend([torchish.ones(4)])
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2", "3"]
    assert pl[-1].shape == (4,) and len(pl[1:3]) == 2
    pl[0] = torchish.full((2,), 5.0)
    assert isinstance(pl[0], nn.Parameter) and pl[0].tolist() == [5.0, 5.0]
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        pl(1)
    pd = nn.ParameterDict({"b": torchish.zeros(1), "a": torchish.ones(1)})
    assert list(pd) == ["a", "b"]  # a plain dict is sorted, as PyTorch
    pd["c"] = nn.Parameter(torchish.ones(2))
    assert "c" in pd and len(pd) == 3 and pd.get("zz") is None
    assert list(pd.keys()) == ["a", "b", "c"] and pd.pop("a").tolist() == [1.0]
    assert pd.setdefault("d", torchish.zeros(3)).shape == (3,)
    assert [n for n, _ in pd.named_parameters()] == ["b", "c", "d"]
    merged = pd | nn.ParameterDict({"e": torchish.zeros(1)})
    assert list(merged) == ["b", "c", "d", "e"]
    k, v = pd.popitem()
    assert k == "d" and "d" not in pd
    pd.clear()
    assert len(pd) == 0
    with pytest.raises(TypeError, match="Index given to ParameterDict cannot be used as a key"):
        pd[1] = torchish.zeros(1)


def test_containers_state_dict_round_trip():
    a = nn.Sequential(Lin(2, 3), nn.ModuleList([Lin(3, 3)]), nn.ModuleDict({"h": Lin(3, 1)}))
    b = copy.deepcopy(a)
    with torchish.no_grad():
        for p in b.parameters():
            p.zero_()
    assert list(a.state_dict()) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.h.weight", "2.h.bias"]
    b.load_state_dict(a.state_dict())
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_global_backward_hooks_and_legacy_alias():
    from torchish.nn.modules import module as M

    seen = []
    h1 = M.register_module_full_backward_pre_hook(lambda m, go: seen.append(("pre", type(m).__name__)))
    h2 = M.register_module_full_backward_hook(lambda m, gi, go: seen.append(("full", type(m).__name__)))
    try:
        lin = Lin(2, 2)
        lin(torchish.randn(1, 2, requires_grad=True)).sum().backward()
    finally:
        h1.remove()
        h2.remove()
    assert seen == [("pre", "Lin"), ("full", "Lin")]
    lin = Lin(2, 2)
    lin.register_backward_hook(lambda m, gi, go: seen.append("legacy"))
    lin(torchish.randn(1, 2, requires_grad=True)).sum().backward()
    assert seen[-1] == "legacy"
    h = M.register_module_parameter_registration_hook(lambda m, name, p: seen.append(("param", name)))
    try:
        Lin(1, 1)
    finally:
        h.remove()
    assert ("param", "weight") in seen and ("param", "bias") in seen
