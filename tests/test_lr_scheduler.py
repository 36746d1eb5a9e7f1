"""torchish.optim.lr_scheduler against torch.optim.lr_scheduler, eager and traced."""

import copy
import warnings

import numpy as np
import pytest

import torchish
from parity import requires_torch, torch
from test_optim import FakeCompile

pytestmark = requires_torch


def make_opt(lib, kind="SGD"):
    """Two param groups with different lrs; SGD has momentum (CyclicLR/OneCycleLR cycle it)."""
    a, b = lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "SGD":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


def sched(lib, opt, name, kwargs):
    S = lib.optim.lr_scheduler
    if name == "SequentialLR":
        return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=5),
                                    S.ExponentialLR(opt, gamma=0.9),
                                    S.CosineAnnealingLR(opt, T_max=20, eta_min=0.001)], milestones=[5, 30])
    if name == "ChainedScheduler":
        return S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=4), S.ExponentialLR(opt, gamma=0.95),
                                   S.StepLR(opt, step_size=11, gamma=0.5)])
    return getattr(S, name)(opt, **kwargs)


CONFIGS = [
    ("StepLR", dict(step_size=7, gamma=0.5), "SGD"),
    ("StepLR", dict(step_size=1, gamma=0.97), "SGD"),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 50], gamma=0.3), "SGD"),
    ("ConstantLR", dict(factor=0.25, total_iters=17), "SGD"),
    ("ConstantLR", dict(), "Adam"),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=33), "SGD"),
    ("LinearLR", dict(), "SGD"),
    ("ExponentialLR", dict(gamma=0.97), "SGD"),
    ("PolynomialLR", dict(total_iters=50, power=2.0), "SGD"),
    ("PolynomialLR", dict(), "SGD"),
    ("CosineAnnealingLR", dict(T_max=30, eta_min=0.001), "SGD"),
    ("CosineAnnealingLR", dict(T_max=7), "Adam"),
    ("CosineAnnealingWarmRestarts", dict(T_0=10, T_mult=2, eta_min=0.01), "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=3), "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=13), "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=13, mode="triangular2"), "Adam"),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.2], step_size_up=7, step_size_down=11, mode="exp_range",
                      gamma=0.99, cycle_momentum=False), "SGD"),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=200), "SGD"),
    ("OneCycleLR", dict(max_lr=[0.3, 0.1], total_steps=201, three_phase=True, anneal_strategy="linear"), "Adam"),
    ("OneCycleLR", dict(max_lr=0.1, epochs=4, steps_per_epoch=50, pct_start=0.1, cycle_momentum=False), "Adam"),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e), "SGD"),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1.0 / (e + 1), lambda e: 0.5 * e + 1]), "SGD"),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.99), "SGD"),
    ("SequentialLR", None, "SGD"),
    ("ChainedScheduler", None, "SGD"),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CONFIGS)]


def momentum_of(group):
    return float(group["betas"][0]) if "betas" in group else float(group["momentum"])


def run(lib, name, kwargs, kind, steps=200, stepper=None):
    """(lrs, momentums) after every step; ``stepper`` replaces the eager ``opt.step(); s.step()``."""
    opt = make_opt(lib, kind)
    s = sched(lib, opt, name, kwargs)
    step = stepper(opt, s) if stepper else (lambda: (opt.step(), s.step()))
    lrs, moms = [], []
    for _ in range(steps):
        step()
        lrs.append([float(x) for x in s.get_last_lr()])
        moms.append([momentum_of(g) for g in opt.param_groups])
    return np.array(lrs), np.array(moms), s


@pytest.mark.parametrize("name,kwargs,kind", CONFIGS, ids=IDS)
def test_values_match_torch_200_steps(name, kwargs, kind):
    t_lrs, t_moms, _ = run(torch, name, kwargs, kind)
    i_lrs, i_moms, _ = run(torchish, name, kwargs, kind)
    np.testing.assert_array_equal(i_lrs, t_lrs)  # same Python float arithmetic: bit-exact
    np.testing.assert_array_equal(i_moms, t_moms)


TRACED = [c for c in CONFIGS if c[0] not in ("MultiplicativeLR",)]


@pytest.mark.parametrize("name,kwargs,kind", TRACED, ids=[f"{c[0]}-{i}" for i, c in enumerate(TRACED)])
def test_values_match_torch_when_traced(name, kwargs, kind):
    """Scheduler (and optimizer) numbers as tracers, as inside torchish.compile: one trace, same values."""
    steps = 60
    t_lrs, t_moms, _ = run(torch, name, kwargs, kind, steps)
    compiled = []

    def stepper(opt, s):
        compiled.append(FakeCompile(lambda: (opt.step(), s.step()), opt, s))
        return compiled[0]

    i_lrs, i_moms, s = run(torchish, name, kwargs, kind, steps, stepper)
    np.testing.assert_allclose(i_lrs, t_lrs, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(i_moms, t_moms, rtol=1e-9, atol=1e-15)
    assert compiled[0].traces == 1  # values changed every step without retracing
    assert s.optimizer.param_groups[0]["lr"].shape == ()  # written back as 0-d arrays


def test_warns_when_scheduler_steps_before_optimizer():
    opt = make_opt(torchish)
    s = torchish.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        s.step()
    opt = make_opt(torchish)
    s = torchish.optim.lr_scheduler.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        s.step()


def test_epoch_argument_deprecated_uses_closed_form():
    vals = []
    for lib in (torch, torchish):
        opt = make_opt(lib)
        s = lib.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5], gamma=0.1)
        opt.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            s.step(6)
        vals.append((s.last_epoch, s.get_last_lr()))
    assert vals[0] == vals[1]


def test_get_lr_outside_step_warns():
    s = torchish.optim.lr_scheduler.StepLR(make_opt(torchish), step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        s.get_lr()


@pytest.mark.parametrize("name,kwargs,kind", [CONFIGS[i] for i in (2, 10, 12, 15, 17, 23)],
                         ids=["MultiStepLR", "Cosine", "WarmRestarts", "CyclicLR", "OneCycleLR", "SequentialLR"])
def test_state_dict_roundtrip(name, kwargs, kind):
    """torchish -> torchish mid-schedule, and a torch scheduler's state_dict -> torchish."""
    t_opt = make_opt(torch, kind)
    t_s = sched(torch, t_opt, name, kwargs)
    i_opt = make_opt(torchish, kind)
    i_s = sched(torchish, i_opt, name, kwargs)
    for _ in range(23):
        for o, s in ((t_opt, t_s), (i_opt, i_s)):
            o.step()
            s.step()
    i_sd = copy.deepcopy(i_s.state_dict())
    assert i_sd.keys() == t_s.state_dict().keys() and isinstance(i_sd["_last_lr"], list)
    for source in (i_sd, copy.deepcopy(t_s.state_dict())):
        opt2 = make_opt(torchish, kind)
        opt2.load_state_dict(copy.deepcopy(i_opt.state_dict()))
        s2 = sched(torchish, opt2, name, kwargs)
        s2.load_state_dict(source)
        ref_opt = make_opt(torch, kind)
        ref_opt.load_state_dict(copy.deepcopy(t_opt.state_dict()))
        ref = sched(torch, ref_opt, name, kwargs)
        ref.load_state_dict(copy.deepcopy(t_s.state_dict()))
        for _ in range(30):
            for o, s in ((ref_opt, ref), (opt2, s2)):
                o.step()
                s.step()
            assert s2.get_last_lr() == ref.get_last_lr()


@pytest.mark.parametrize("kwargs", [dict(), dict(mode="max", factor=0.5, patience=2, threshold_mode="abs"),
                                    dict(patience=1, cooldown=2, min_lr=[0.02, 0.0], threshold=0.1)])
def test_reduce_lr_on_plateau(kwargs):
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9] * 3
    out = []
    for lib in (torch, torchish):
        opt = make_opt(lib)
        s = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        lrs = []
        for m in metrics:
            opt.step()
            s.step(lib.tensor(m))  # a float32 loss tensor, as in a training loop
            lrs.append(s.get_last_lr())
        out.append((lrs, s.num_bad_epochs, s.best))
    assert out[0] == out[1]


BAD = [
    ("ConstantLR", dict(factor=1.5), ValueError, "Constant multiplicative factor expected to be between 0 and 1."),
    ("LinearLR", dict(start_factor=0), ValueError, "Starting multiplicative factor expected to be greater than 0"),
    ("LinearLR", dict(end_factor=2), ValueError, "Ending multiplicative factor expected to be between 0 and 1."),
    ("CosineAnnealingWarmRestarts", dict(T_0=0), ValueError, "Expected positive integer T_0, but got 0"),
    ("CosineAnnealingWarmRestarts", dict(T_0=2, T_mult=0), ValueError, "Expected integer T_mult >= 1, but got 0"),
    ("OneCycleLR", dict(max_lr=0.1), ValueError, r"You must define either total_steps OR \(epochs AND steps_per_epoch"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=10, pct_start=2.0), ValueError, "Expected float between 0 and 1"),
    ("OneCycleLR", dict(max_lr=[0.1], total_steps=10), ValueError, "max_lr must have the same length as optimizer"),
    ("CyclicLR", dict(base_lr=0.1, max_lr=1.0, mode="bogus"), ValueError, "mode is invalid and scale_fn is None"),
    ("ReduceLROnPlateau", dict(factor=1.0), ValueError, "Factor should be < 1.0."),
    ("ReduceLROnPlateau", dict(mode="avg"), ValueError, "mode avg is unknown!"),
    ("StepLR", dict(step_size=2, last_epoch=3), KeyError, "param 'initial_lr' is not specified in param_groups\\[0\\]"),
]


@pytest.mark.parametrize("name,kwargs,exc,match", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_invalid_arguments(name, kwargs, exc, match):
    for lib in (torch, torchish):
        with pytest.raises(exc, match=match):
            getattr(lib.optim.lr_scheduler, name)(make_opt(lib), **kwargs)


def test_invalid_composition():
    for lib in (torch, torchish):
        S = lib.optim.lr_scheduler
        opt = make_opt(lib)
        with pytest.raises(TypeError, match="is not an Optimizer"):
            S.StepLR(object(), step_size=1)
        with pytest.raises(ValueError, match="expects number of schedulers provided to be one more"):
            S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(opt, 3)], milestones=[])
        with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
            S.ChainedScheduler([S.ReduceLROnPlateau(opt)])
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            S.OneCycleLR(lib.optim.Adagrad([lib.zeros(1, requires_grad=True)]), max_lr=0.1, total_steps=5)


def test_onecycle_too_many_steps():
    opt = make_opt(torchish)
    s = torchish.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        s.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        s.step()
