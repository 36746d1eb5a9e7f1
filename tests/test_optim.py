"""torchish.optim against torch.optim: trajectories, state_dict interop, validation, tracing.

One table (ROWS) of (optimizer, kwargs, lr for the quadratic): every row must reproduce
PyTorch's parameters after 100 steps on a small MLP and must minimise a quadratic.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torchish
from parity import requires_torch, torch
from torchish import Tensor
from torchish.optim import optimizer as optimizer_mod

ROWS = [
    ("SGD", dict(lr=0.1), None),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), None),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True), None),
    ("Adam", dict(lr=0.01), 0.1),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True), 0.1),
    ("AdamW", dict(lr=0.01), 0.1),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.1), 0.1),
    ("Adamax", dict(lr=0.01, weight_decay=0.01), 0.1),
    ("NAdam", dict(lr=0.01), 0.1),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01), 0.1),
    ("RAdam", dict(lr=0.01), 0.1),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), 0.1),
    ("RMSprop", dict(lr=0.01), None),
    ("RMSprop", dict(lr=0.001, alpha=0.9, eps=1e-6, centered=True, momentum=0.5, weight_decay=0.01), None),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01), None),
    ("Adadelta", dict(lr=1.0, rho=0.8, weight_decay=0.01, maximize=True), None),
    ("Rprop", dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0)), None),
    ("ASGD", dict(lr=0.05, t0=20, lambd=1e-3, weight_decay=0.01), None),
]
IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(ROWS)]


# ----------------------------------------------------------------------------- the model
def init_data(seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in [(4, 8), (8,), (8, 3), (3,)]]
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    return ws, x, y


class MLP:
    """x @ W1 + b1, tanh, @ W2 + b2, mean squared error; written with tensors in either library."""

    def __init__(self, lib, ws, x, y):
        self.lib = lib
        self.params = [lib.tensor(w).requires_grad_(True) for w in ws]
        self.x, self.y = lib.tensor(x), lib.tensor(y)

    def loss(self):
        w1, b1, w2, b2 = self.params
        out = self.lib.tanh(self.x @ w1 + b1) @ w2 + b2
        return ((out - self.y) ** 2).mean()

    def numpy(self):
        return [p.detach().numpy() for p in self.params]


def train(lib, name, kwargs, steps, model=None, opt=None, edit=None):
    """``steps`` steps of ``name(**kwargs)``; a maximizing optimizer ascends ``-loss``."""
    model = model or MLP(lib, *init_data())
    opt = opt or getattr(lib.optim, name)(model.params, **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    for i in range(steps):
        if edit is not None:
            edit(i, opt)
        opt.zero_grad()
        (sign * model.loss()).backward()
        opt.step()
    return model, opt


def assert_params_close(ref, got, rtol=1e-5, atol=1e-6):
    """Parity: each tensor's relative error (norm-wise) <= rtol, and elementwise allclose."""
    for k, (a, b) in enumerate(zip(ref, got)):
        rel = np.linalg.norm(a - b) / np.linalg.norm(a)
        assert rel <= rtol, f"param {k}: relative error {rel}"
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, err_msg=f"param {k}")


# ------------------------------------------------------------------------ parity and convergence
@requires_torch
@pytest.mark.parametrize("name,kwargs,_", ROWS, ids=IDS)
def test_parity_100_steps(name, kwargs, _):
    ref, _o = train(torch, name, kwargs, 100)
    got, _o = train(torchish, name, kwargs, 100)
    start = init_data()[0]
    assert max(np.abs(a - w).max() for a, w in zip(ref.numpy(), start)) > 1e-2  # the params did move
    assert_params_close(ref.numpy(), got.numpy())


@pytest.mark.parametrize("name,kwargs,quad_lr", ROWS, ids=IDS)
def test_converges_on_quadratic(name, kwargs, quad_lr):
    kwargs = dict(kwargs, lr=quad_lr or kwargs["lr"])
    c, t = torchish.tensor([1.0, 2.0, 0.5, 3.0]), torchish.tensor([1.0, -2.0, 0.5, 3.0])
    x = torchish.zeros(4, requires_grad=True)
    opt = getattr(torchish.optim, name)([x], **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0

    def f():
        return (c * (x - t) ** 2).sum() / 2

    f0 = f().item()
    for _ in range(200):
        opt.zero_grad()
        (sign * f()).backward()
        opt.step()
    assert f().item() < 0.5 * f0
    assert x.dtype == torchish.float32


# ------------------------------------------------------------------------------- state_dict
def to_torch_sd(sd):
    """A torchish optimizer state_dict with its tensors converted to torch tensors."""
    conv = lambda v: torch.tensor(np.asarray(v.detach().numpy())) if isinstance(v, Tensor) else v  # noqa: E731
    return {"state": {k: {n: conv(v) for n, v in st.items()} for k, st in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


def to_numpy_sd(sd):
    """A torch optimizer state_dict with its tensors converted to NumPy arrays."""
    conv = lambda v: v.detach().numpy() if isinstance(v, torch.Tensor) else v  # noqa: E731
    return {"state": {k: {n: conv(v) for n, v in st.items()} for k, st in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


SD_ROWS = [ROWS[i] for i in (1, 4, 9, 14, 16, 17)] + [("RMSprop", dict(lr=0.001, centered=True, momentum=0.5), None)]


@pytest.mark.parametrize("name,kwargs,_", SD_ROWS, ids=[r[0] for r in SD_ROWS])
def test_state_dict_roundtrip_torchish(name, kwargs, _):
    model, opt = train(torchish, name, kwargs, 10)
    sd = copy.deepcopy(opt.state_dict())
    assert sorted(sd["state"]) == [0, 1, 2, 3] and sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert sd["state"][0]["step"].dtype == torchish.float32 if "step" in sd["state"][0] else True
    twin = MLP(torchish, [w.copy() for w in model.numpy()], *init_data()[1:])
    opt2 = getattr(torchish.optim, name)(twin.params, **kwargs)
    opt2.load_state_dict(sd)
    train(torchish, name, kwargs, 10, model, opt)
    train(torchish, name, kwargs, 10, twin, opt2)
    for a, b in zip(model.numpy(), twin.numpy()):
        np.testing.assert_array_equal(a, b)


@requires_torch
@pytest.mark.parametrize("name,kwargs,_", SD_ROWS, ids=[r[0] for r in SD_ROWS])
def test_state_dict_from_and_to_torch(name, kwargs, _):
    ref, topt = train(torch, name, kwargs, 20)
    # torch -> torchish (NumPy arrays), then both continue
    twin = MLP(torchish, ref.numpy(), *init_data()[1:])
    iopt = getattr(torchish.optim, name)(twin.params, **kwargs)
    iopt.load_state_dict(to_numpy_sd(topt.state_dict()))
    train(torch, name, kwargs, 20, ref, topt)
    train(torchish, name, kwargs, 20, twin, iopt)
    assert_params_close(ref.numpy(), twin.numpy())
    # torchish -> torch (torch tensors), then both continue
    back = MLP(torch, twin.numpy(), *init_data()[1:])
    topt2 = getattr(torch.optim, name)(back.params, **kwargs)
    topt2.load_state_dict(to_torch_sd(iopt.state_dict()))
    train(torch, name, kwargs, 20, back, topt2)
    train(torchish, name, kwargs, 20, twin, iopt)
    assert_params_close(back.numpy(), twin.numpy())


@requires_torch
def test_load_torch_state_dict_with_torch_tensors():
    ref, topt = train(torch, "Adam", dict(lr=0.01, amsgrad=True), 10)
    twin = MLP(torchish, ref.numpy(), *init_data()[1:])
    iopt = torchish.optim.Adam(twin.params, lr=0.01, amsgrad=True)
    iopt.load_state_dict(topt.state_dict())  # torch tensors, not converted
    st = iopt.state[twin.params[0]]
    assert isinstance(st["exp_avg"], Tensor) and st["step"].dtype == torchish.float32 and st["step"].item() == 10
    train(torch, "Adam", dict(lr=0.01, amsgrad=True), 10, ref, topt)
    train(torchish, "Adam", dict(lr=0.01, amsgrad=True), 10, twin, iopt)
    assert_params_close(ref.numpy(), twin.numpy())


def test_load_state_dict_checks_structure():
    a, b = torchish.zeros(2, requires_grad=True), torchish.zeros(2, requires_grad=True)
    opt = torchish.optim.SGD([a, b], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0], "lr": 0.1}]})


# ------------------------------------------------------------------------------- validation
BAD = [
    ("SGD", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("Adam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("AdamW", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adamax", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    ("RAdam", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("RMSprop", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
    ("RMSprop", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    ("Adagrad", dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value: -1.0"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Rprop", dict(etas=(1.5, 1.2)), r"Invalid eta values: 1.5, 1.2"),
    ("ASGD", dict(lr=-0.5), "Invalid learning rate: -0.5"),
    ("LBFGS", dict(lr=-1.0), "Invalid learning rate: -1.0"),
]


@requires_torch
@pytest.mark.parametrize("name,kwargs,match", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_invalid_hyperparameters(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=match):
        getattr(torchish.optim, name)([torchish.zeros(2, requires_grad=True)], **kwargs)


def test_invalid_params():
    p = torchish.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        torchish.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an iterable"):
        torchish.optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        torchish.optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        torchish.optim.SGD([1.0], lr=0.1)
    with pytest.raises(TypeError, match="sets will change between runs"):
        torchish.optim.SGD([{"params": {p}}], lr=0.1)
    opt = torchish.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        torchish.optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        torchish.optim.LBFGS([{"params": [p]}, {"params": [torchish.zeros(1, requires_grad=True)]}])


# ------------------------------------------------------------------------------- the shell
def test_repr_matches_torch():
    if torch is None:
        pytest.skip("PyTorch is not installed: parity tests need it (pip install torch==2.13.0)")
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "NAdam", "Rprop"):
        t = repr(getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]))
        i = repr(getattr(torchish.optim, name)([torchish.zeros(1, requires_grad=True)]))
        assert i == t


def test_named_params_groups_and_add_param_group():
    a, b = torchish.ones(2, requires_grad=True), torchish.ones(3, requires_grad=True)
    opt = torchish.optim.Adam([("a", a)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["a"]
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        opt.add_param_group({"params": [b]})
    opt.add_param_group({"params": [("b", b)], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 0.9, rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), 0.5, rtol=1e-6)


def test_zero_grad_closure_and_skipped_params():
    a, b = torchish.ones(2, requires_grad=True), torchish.ones(2, requires_grad=True)
    opt = torchish.optim.Adam([a, b], lr=0.1)

    def closure():
        assert torchish.is_grad_enabled()
        opt.zero_grad()
        loss = (a * 3).sum()
        loss.backward()
        return loss

    with torchish.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 6.0
    assert b.grad is None and len(opt.state[b]) == 0 and len(opt.state[a]) == 3  # b skipped, no state
    np.testing.assert_array_equal(b.detach().numpy(), [1.0, 1.0])
    assert opt.state[a]["step"].item() == 1.0 and opt.state[a]["step"].dtype == torchish.float32
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert a.grad is None


def test_sgd_state_like_torch():
    """SGD keeps no state without momentum and creates momentum_buffer (= grad) on the first step."""
    p = torchish.ones(2, requires_grad=True)
    opt = torchish.optim.SGD([p], lr=0.1)
    p.sum().backward()
    opt.step()
    assert len(opt.state) == 0 and opt.state_dict()["state"] == {}
    opt = torchish.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(), [1.0, 1.0])


def test_hooks():
    p = torchish.ones(2, requires_grad=True)
    opt = torchish.optim.SGD([p], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    g = torchish.optim.register_optimizer_step_pre_hook(lambda o, args, kwargs: calls.append("global"))
    opt.step()
    h1.remove()
    g.remove()
    opt.step()
    assert calls == ["global", "pre", "post", "post"]


@requires_torch
def test_hyperparameter_edits_between_steps():
    def edit(i, opt):
        g = opt.param_groups[0]
        if i == 30:
            g["lr"] = 0.003
            g["betas"] = (0.8, 0.99)
        if i == 60:
            g["weight_decay"] = 0.05  # turns weight decay on: a structural change
        if i == 80:
            g["amsgrad"] = False

    kwargs = dict(lr=0.01, amsgrad=True)
    ref, _ = train(torch, "Adam", kwargs, 100, edit=edit)
    got, _ = train(torchish, "Adam", kwargs, 100, edit=edit)
    assert_params_close(ref.numpy(), got.numpy())


def test_group_update_is_one_jitted_call_and_lr_does_not_recompile(monkeypatch):
    ws = [np.full((3,), i, np.float32) for i in range(50)]
    params = [torchish.tensor(w).requires_grad_(True) for w in ws]
    opt = torchish.optim.Adam(params, lr=0.1)
    calls = []
    real = optimizer_mod._jitted

    def counting(cls, flags, *rest):
        fn = real(cls, flags, *rest)
        calls.append(fn)
        return fn

    monkeypatch.setattr(optimizer_mod, "_jitted", counting)
    sizes = []
    for step in range(5):
        for p in params:
            p.grad = torchish.ones(3)
        opt.param_groups[0]["lr"] = 0.1 / (step + 1)  # a new lr every step
        opt.step()
        sizes.append(calls[-1]._cache_size())
    assert len(calls) == 5  # one call per group per step, for 50 parameters
    assert sizes[1:] == sizes[:1] * 4  # changing lr never recompiled


def test_hyperparameters_do_not_promote_float32():
    p = torchish.ones(3, requires_grad=True)
    opt = torchish.optim.Adam([p], lr=jnp.asarray(0.1, jnp.float64), betas=(0.9, 0.999))
    p.grad = torchish.ones(3)
    opt.step()
    assert p.dtype == torchish.float32 and opt.state[p]["exp_avg"].dtype == torchish.float32


# ------------------------------------------------------------------- tracing (what compile does)
def walk(objs):
    """Stateful objects and Tensor boxes reachable through the compile protocol."""
    found, tensors, seen, alive = [], [], set(), []

    def visit(x):
        if id(x) in seen:
            return
        seen.add(id(x))
        alive.append(x)  # NOTE: keeps temporary containers alive, so their ids are not reused
        if isinstance(x, Tensor):
            tensors.append(x)
            if x.grad is not None:
                visit(x.grad)
        elif isinstance(x, dict):
            for v in list(x.values()):
                visit(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                visit(v)
        elif hasattr(x, "_torchish_state_"):
            found.append(x)
            visit(x._torchish_state_())

    for o in objs:
        visit(o)
    return found, tensors


class FakeCompile:
    """What ``torchish.compile`` does with these objects: each call runs ``fn()`` under one cached
    ``jax.jit`` with every box and declared number swapped for a tracer, then writes the results
    back (numbers as 0-d arrays).  Rebuilt only when the set of boxes/numbers changes."""

    def __init__(self, fn, *objs):
        self.fn, self.objs, self.key, self.traces = fn, objs, None, 0

    def _discover(self):
        stateful, boxes = walk(self.objs)
        static = tuple(o._torchish_static_() for o in stateful)
        pairs = [pair for o in stateful for pair in o._torchish_numbers_()]
        key = (static, tuple((b.shape, b.dtype) for b in boxes), tuple(k for _, k in pairs))
        self.boxes, self.pairs = boxes, pairs  # same structure: the compiled program is reused
        if key != self.key:
            self.key, self.jitted = key, jax.jit(self._pure)
        return self.jitted

    def _pure(self, vals, arrs):
        self.traces += 1
        pairs, boxes = self.pairs, self.boxes
        saved_v, saved_a = [c[k] for c, k in pairs], [b._data for b in boxes]
        try:
            for (c, k), v in zip(pairs, vals):
                c[k] = v
            for b, a in zip(boxes, arrs):
                b._data = a
            self.fn()
            _, after = walk(self.objs)
            ids = {id(b) for b in boxes}
            self.created = [b for b in after if id(b) not in ids]  # state created by fn
            return [c[k] for c, k in pairs], [b._data for b in boxes], [b._data for b in self.created]
        finally:
            for (c, k), v in zip(pairs, saved_v):
                c[k] = v
            for b, a in zip(boxes, saved_a):
                b._data = a

    def __call__(self):
        jitted = self._discover()
        vals = jax.tree.map(jnp.asarray, [c[k] for c, k in self.pairs])
        out_vals, out_arrs, new_arrs = jitted(vals, [b._data for b in self.boxes])
        for (c, k), v in zip(self.pairs, out_vals):
            c[k] = v
        for b, a in zip(self.boxes, out_arrs):
            b._data = a
        for b, a in zip(self.created, new_arrs):
            b._data = a


def traced_call(fn, *objs):
    FakeCompile(fn, *objs)()


TRACE_ROWS = [ROWS[i] for i in (2, 4, 9, 11, 13, 15, 16, 17)]


@pytest.mark.parametrize("name,kwargs,_", TRACE_ROWS, ids=[r[0] for r in TRACE_ROWS])
def test_step_traced_like_compile(name, kwargs, _):
    ref, ropt = train(torchish, name, kwargs, 2)
    model, opt = train(torchish, name, kwargs, 2)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    compiled = FakeCompile(opt.step, opt)
    for i in range(3):
        for m, o in ((ref, ropt), (model, opt)):
            o.param_groups[0]["lr"] = kwargs["lr"] * (0.5 + i)  # a scheduler would do this
            o.zero_grad()
            (sign * m.loss()).backward()
        ropt.step()
        compiled()
    assert isinstance(opt.param_groups[0]["lr"], jax.Array)  # written back as data
    assert compiled.traces == 1  # a new lr every step, one trace
    for a, b in zip(ref.numpy(), model.numpy()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    for st, rst in zip(opt.state.values(), ropt.state.values()):
        for k, v in st.items():
            assert v.dtype == rst[k].dtype and not isinstance(v._data, jax.core.Tracer)
    train(torchish, name, kwargs, 1, model, opt)  # eager again, with array hyperparameters


def test_first_step_traced_creates_state():
    model = MLP(torchish, *init_data())
    opt = torchish.optim.Adam(model.params, lr=0.01)
    model.loss().backward()
    traced_call(opt.step, opt)
    st = opt.state[model.params[0]]
    assert st["step"].item() == 1.0 and isinstance(st["exp_avg"]._data, jax.Array)
    assert not isinstance(st["exp_avg"]._data, jax.core.Tracer)


# ------------------------------------------------------------------------------------ LBFGS
@requires_torch
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")  # torch's own LBFGS
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_parity(line_search_fn):
    results = []
    for lib in (torch, torchish):
        model = MLP(lib, *init_data())
        opt = lib.optim.LBFGS(model.params, lr=0.5, max_iter=4, history_size=3, line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = model.loss()
            loss.backward()
            return loss

        losses = [float(opt.step(closure)) for _ in range(3)]
        results.append((model.numpy(), losses, opt.state[model.params[0]]["func_evals"]))
    (ref, ref_losses, ref_evals), (got, losses, evals) = results
    assert evals == ref_evals
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert_params_close(ref, got, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------- Optax shell
def random_grads(steps, shapes, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]


SHAPES = [(4, 3), (3,), (2, 2)]


def run_optax_shell(tx, grads, **defaults):
    params = [torchish.ones(*s, requires_grad=True) for s in SHAPES]
    opt = torchish.optim.Optax(params, tx, **defaults)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torchish.tensor(g)
        opt.step()
    return params, opt


def run_raw_optax(tx, grads, set_hyper=None):
    params = [jnp.ones(s, jnp.float32) for s in SHAPES]
    state = tx.init(params)
    for i, gs in enumerate(grads):
        if set_hyper:
            state = set_hyper(i, state)
        updates, state = tx.update([jnp.asarray(g) for g in gs], state, params)
        params = optax.apply_updates(params, updates)
    return params


import optax  # noqa: E402  (a runtime dependency)


TRANSFORMS = {
    "adam": lambda: optax.adam(1e-2),
    "lion": lambda: optax.lion(1e-3),
    "adafactor": lambda: optax.adafactor(1e-2),
    "chain": lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2)),
    "prodigy": lambda: optax.contrib.prodigy(),
}


@pytest.mark.parametrize("make", list(TRANSFORMS.values()), ids=list(TRANSFORMS))
def test_optax_shell_matches_raw_optax(make):
    grads = random_grads(8, SHAPES)
    params, opt = run_optax_shell(make(), grads)
    ref = run_raw_optax(make(), grads)
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p.detach().numpy(), np.asarray(r), rtol=1e-6, atol=1e-7)
    assert all(isinstance(k, Tensor) or k == "optax_group_0" for k in opt.state)


def test_optax_injected_lr_is_a_group_entry_driven_by_a_scheduler():
    def make():
        return optax.chain(optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adam)(learning_rate=0.1))

    grads = random_grads(10, SHAPES)
    params = [torchish.ones(*s, requires_grad=True) for s in SHAPES]
    opt = torchish.optim.Optax(params, make())
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1) and "b1" in opt.param_groups[0]
    sched = torchish.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torchish.tensor(g)
        opt.step()
        sched.step()

    def set_hyper(i, state):
        state[1].hyperparams["learning_rate"] = jnp.asarray(0.1 * 0.5 ** (i // 3), jnp.float32)
        return state

    ref = run_raw_optax(make(), grads, set_hyper)
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p.detach().numpy(), np.asarray(r), rtol=1e-6, atol=1e-7)


def test_optax_state_dict_roundtrip_and_skipped_params():
    grads = random_grads(6, SHAPES)
    params, opt = run_optax_shell(optax.inject_hyperparams(optax.adamw)(learning_rate=0.01), grads[:3])
    sd = copy.deepcopy(opt.state_dict())
    assert set(sd["state"]) == {0, 1, 2, "optax_group_0"}
    twin = [torchish.tensor(p.detach().numpy()).requires_grad_(True) for p in params]
    opt2 = torchish.optim.Optax(twin, optax.inject_hyperparams(optax.adamw)(learning_rate=0.01))
    opt2.load_state_dict(sd)
    for gs in grads[3:]:
        for ps, o in ((params, opt), (twin, opt2)):
            for p, g in zip(ps, gs):
                p.grad = torchish.tensor(g)
            ps[2].grad = None  # skipped: no update, no state change
            o.step()
    for a, b in zip(params, twin):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    np.testing.assert_array_equal(params[2].detach().numpy(), twin[2].detach().numpy())


def test_optax_shell_traced_like_compile():
    grads = random_grads(4, SHAPES)
    params, opt = run_optax_shell(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9), grads[:1])
    ref, ropt = run_optax_shell(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9), grads[:1])
    compiled = FakeCompile(opt.step, opt)
    for i, gs in enumerate(grads[1:]):
        for ps, o in ((params, opt), (ref, ropt)):
            o.param_groups[0]["lr"] = 0.1 / (i + 1)
            for p, g in zip(ps, gs):
                p.grad = torchish.tensor(g)
        ropt.step()
        compiled()
    assert compiled.traces == 1
    for a, b in zip(ref, params):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-6)


def test_optax_rejects_non_transformations():
    with pytest.raises(TypeError, match="expects an optax.GradientTransformation"):
        torchish.optim.Optax([torchish.zeros(1, requires_grad=True)], optax.adam)


# ------------------------------------------------------------------- with the real compile
@pytest.mark.parametrize("name,kwargs,make_sched", [
    ("Adam", dict(lr=0.01, amsgrad=True), lambda S, o: S.OneCycleLR(o, max_lr=0.05, total_steps=20)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True),
     lambda S, o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=3), S.CosineAnnealingLR(o, 10)], [3])),
], ids=["Adam-OneCycleLR", "SGD-SequentialLR"])
def test_compiled_training_step_matches_eager(name, kwargs, make_sched):
    results = []
    for compiled in (False, True):
        model = MLP(torchish, *init_data())
        opt = getattr(torchish.optim, name)(model.params, **kwargs)
        sched = make_sched(torchish.optim.lr_scheduler, opt)

        def step():
            opt.zero_grad()
            loss = model.loss()
            loss.backward()
            opt.step()
            sched.step()
            return loss

        fn = torchish.compile(step, fullgraph=True) if compiled else step
        for _ in range(12):
            fn()
        results.append((model.numpy(), [float(x) for x in sched.get_last_lr()]))
    (ref, ref_lr), (got, lr) = results
    assert lr == pytest.approx(ref_lr, rel=1e-12)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert fn.cache_info().traces <= 2  # the first step creates state; the lr changes every step


# ----------------------------------------------------------------------------- shared step counters
@requires_torch
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_step_counters_shared_while_stepped_together_split_when_not(compiled):
    """Parameters stepped together share one ``step`` tensor (one state array instead of one per
    parameter); a parameter left without a gradient gets its own counter, as in PyTorch."""
    ws, _, _ = init_data()
    ps = {lib: [lib.tensor(w).requires_grad_(True) for w in ws] for lib in (torch, torchish)}
    opts = {lib: lib.optim.Adam(ps[lib], lr=0.01) for lib in (torch, torchish)}

    def step_fn(lib, skip):
        def run():
            opts[lib].zero_grad()
            loss = sum(((p * (i + 1)) ** 2).sum() for i, p in enumerate(ps[lib]) if i != skip)
            loss.backward()
            opts[lib].step()
            return loss
        return run

    for i, skip in enumerate([None, None, 1, 1, None, 3, None]):
        fn = step_fn(torchish, skip)
        (torchish.compile(fn) if compiled else fn)()
        step_fn(torch, skip)()
        for pt, pj in zip(ps[torch], ps[torchish]):
            np.testing.assert_allclose(pj.detach().numpy(), pt.detach().numpy(), rtol=1e-6, atol=1e-7)
            assert float(opts[torchish].state[pj]["step"]) == float(opts[torch].state[pt]["step"])
        steps = [opts[torchish].state[p]["step"] for p in ps[torchish]]
        if i == 1:
            assert all(s is steps[0] for s in steps)  # one counter while every parameter steps
    assert steps[1] is not steps[0] and steps[3] is not steps[0]


def test_shared_step_counter_survives_state_dict_round_trip(tmp_path):
    p = [torchish.ones(3, requires_grad=True), torchish.ones(2, requires_grad=True)]
    opt = torchish.optim.Adam(p)
    (p[0].sum() + p[1].sum()).backward()
    opt.step()
    torchish.save(opt.state_dict(), tmp_path / "opt.pt")
    opt2 = torchish.optim.Adam(p)
    opt2.load_state_dict(torchish.load(tmp_path / "opt.pt"))
    assert opt2.state[p[0]]["step"] is opt2.state[p[1]]["step"]
    assert float(opt2.state[p[1]]["step"]) == 1.0


@requires_torch
def test_state_dict_gives_each_parameter_its_own_counter():
    """torch.optim advances a step tensor shared by several parameters once per parameter, so
    state_dict() never hands out the shared counter itself (even to a conversion that keeps
    object identity, like deepcopy)."""
    ps = [torchish.ones(2, requires_grad=True) for _ in range(3)]
    opt = torchish.optim.Adam(ps)
    for p in ps:
        p.grad = torchish.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert len({id(st["step"]) for st in sd["state"].values()}) == 3
    conv = copy.deepcopy({"state": {k: {n: torch.tensor(np.asarray(v.numpy())) if isinstance(v, Tensor) else v
                                         for n, v in st.items()} for k, st in sd["state"].items()},
                          "param_groups": sd["param_groups"]})
    tps = [torch.nn.Parameter(torch.ones(2)) for _ in range(3)]
    topt = torch.optim.Adam(tps)
    topt.load_state_dict(conv)
    for p in tps:
        p.grad = torch.ones(2)
    topt.step()
    assert [float(topt.state[p]["step"]) for p in tps] == [2.0, 2.0, 2.0]
    # unequal counters of one group stay separate on load
    sd["state"][2]["step"] = torchish.tensor(5.0)
    opt.load_state_dict(sd)
    assert opt.state[ps[0]]["step"] is opt.state[ps[1]]["step"]
    assert opt.state[ps[2]]["step"] is not opt.state[ps[0]]["step"] and float(opt.state[ps[2]]["step"]) == 5.0


def test_shared_counter_enters_the_eager_update_once(monkeypatch):
    ps = [torchish.ones(3, requires_grad=True) for _ in range(4)]
    opt = torchish.optim.Adam(ps, lr=0.1)
    seen = []
    real = optimizer_mod._jitted

    def recording(cls, flags, *rest):
        fn = real(cls, flags, *rest)

        def call(h, params, grads, state):
            seen.append(len(state["step"]))
            return fn(h, params, grads, state)

        return call

    monkeypatch.setattr(optimizer_mod, "_jitted", recording)
    for _ in range(2):
        for p in ps:
            p.grad = torchish.ones(3)
        opt.step()
    assert seen == [1, 1]  # one shared counter in (and out) for four parameters, from the first step
    assert all(float(opt.state[p]["step"]) == 2.0 for p in ps)


def test_loaded_counter_shared_across_groups_is_split_per_group():
    p = [torchish.ones(3, requires_grad=True), torchish.ones(2, requires_grad=True)]
    opt = torchish.optim.Adam([{"params": [p[0]]}, {"params": [p[1]]}])
    (p[0].sum() + p[1].sum()).backward()
    opt.step()
    sd = opt.state_dict()
    sd["state"][1]["step"] = sd["state"][0]["step"]  # one tensor (one value) under both groups
    opt.load_state_dict(sd)
    assert opt.state[p[0]]["step"] is not opt.state[p[1]]["step"]
    p[1].grad = None
    opt.step()  # only group 0 steps
    assert float(opt.state[p[0]]["step"]) == 2.0 and float(opt.state[p[1]]["step"]) == 1.0
