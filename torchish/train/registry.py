"""What the names in a config mean: models, datasets, optimizers, schedulers, losses, transforms.

Each name resolves to a class; ``target: dotted.path.Class`` resolves any importable class the
same way, so your own ``nn.Module`` or ``Dataset`` trains without touching torchish.
``validate`` checks every name and keyword argument against the class's signature before any
work starts; the ``build_*`` functions construct the objects.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import torchish
from torchish import nn
from torchish.vision import datasets as vision_datasets
from torchish.vision import transforms as T

from . import models
from .config import Config, Sources, did_you_mean
from .datasets import Addition, CharText

__all__ = ["MODELS", "DATASETS", "DatasetSpec", "register_model", "register_dataset", "validate", "build_model",
           "build_optimizer", "build_scheduler", "build_loss", "build_transform", "resolve_target"]

# ----------------------------------------------------------------------------- tables
MODELS: dict[str, type] = {"MLP": models.MLP, "CNN": models.CNN, "ResNet": models.ResNet, "GPT": models.GPT,
                           "LSTM": models.LSTM}


@dataclass
class DatasetSpec:
    """A dataset name: its class, the constructor arguments that select each split, what models
    need to know about it, and whether its items are images that need ``ToTensor`` first."""

    cls: type
    splits: dict  # split name -> constructor arguments, e.g. {"train": {"train": True}}
    info: dict = field(default_factory=dict)  # in_channels, in_features, num_classes, image_size, task
    images: bool = False


_TRAIN_TEST = {"train": {"train": True}, "test": {"train": False}}


def _image_info(channels: int, size: int, classes: int) -> dict:
    return {"in_channels": channels, "in_features": channels * size * size, "num_classes": classes,
            "image_size": size, "task": "classification"}


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(vision_datasets.Digits, {**_TRAIN_TEST, "all": {"train": None}}, _image_info(1, 8, 10)),
    "addition": DatasetSpec(Addition, {"train": {"split": "train"}, "test": {"split": "test"}},
                            {"task": "sequence", "exact_match": True}),
    "chartext": DatasetSpec(CharText, {"train": {"split": "train"}, "test": {"split": "test"}}, {"task": "sequence"}),
    "mnist": DatasetSpec(vision_datasets.MNIST, _TRAIN_TEST, _image_info(1, 28, 10), images=True),
    "fashion_mnist": DatasetSpec(vision_datasets.FashionMNIST, _TRAIN_TEST, _image_info(1, 28, 10), images=True),
    "cifar10": DatasetSpec(vision_datasets.CIFAR10, _TRAIN_TEST, _image_info(3, 32, 10), images=True),
    "cifar100": DatasetSpec(vision_datasets.CIFAR100, _TRAIN_TEST, _image_info(3, 32, 100), images=True),
}

# Constructor arguments the trainer supplies itself (so a config must not set them) -> where they come from.
_OPTIM_OWN = {"params": "the model", "lr": "optim.lr", "weight_decay": "optim.weight_decay"}
_SCHED_OWN = {"optimizer": "the run's optimizer"}
_DATA_OWN = {"train": "data.train_split / data.eval_split", "split": "data.train_split / data.eval_split",
             "transform": "data.transforms / data.augment", "target_transform": "the trainer (not configurable)"}
# Schedulers a config cannot describe (they take callables or other schedulers).
_SCHED_EXCLUDED = {"LRScheduler", "LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler"}
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
          nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm)


def register_model(name: str):
    """Decorator: make a Module class available as ``model.name: <name>``."""
    def deco(cls):
        MODELS[name] = cls
        return cls
    return deco


def register_dataset(name: str, splits: dict, info: dict | None = None, images: bool = False):
    """Decorator: make a Dataset class available as ``data.dataset: <name>``."""
    def deco(cls):
        DATASETS[name] = DatasetSpec(cls, splits, dict(info or {}), images)
        return cls
    return deco


def optimizers() -> dict[str, type]:
    opt = torchish.optim
    return {n: getattr(opt, n) for n in dir(opt)
            if isinstance(getattr(opt, n), type) and issubclass(getattr(opt, n), opt.Optimizer)
            and n not in ("Optimizer", "Optax", "LBFGS")}


def schedulers() -> dict[str, type]:
    mod = torchish.optim.lr_scheduler
    return {n: getattr(mod, n) for n in mod.__all__ if n not in _SCHED_EXCLUDED}


def losses() -> dict[str, type]:
    return {n: getattr(nn, n) for n in dir(nn) if n.endswith("Loss") and isinstance(getattr(nn, n), type)}


def transforms() -> dict[str, type]:
    return {n: getattr(T, n) for n in dir(T) if n[:1].isupper() and isinstance(getattr(T, n), type)}


# ----------------------------------------------------------------------------- name resolution
def resolve_target(dotted: str, path: str, src: Sources):
    """The object at ``dotted`` (``package.module.Name``), or a ConfigError naming ``path``."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise src.error(path, f"expected a dotted path like mypkg.models.Net, got {dotted!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise src.error(path, f"cannot import {module_name!r} ({e}); is it installed or in the current "
                              "directory?") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise src.error(path, f"module {module_name!r} has no attribute {attr!r}{did_you_mean(attr, names)}") from None


def _lookup(table: dict, name: str, path: str, src: Sources, what: str):
    if name in table:
        return table[name]
    hint = did_you_mean(name, table)
    raise src.error(path, f"unknown {what} {name!r}{hint}" + ("" if hint else f" (known: {', '.join(sorted(table))})"))


def _params(fn) -> tuple[dict, bool]:
    """The named parameters of ``fn`` (a class: its ``__init__``) and whether it takes ``**kwargs``."""
    sig = inspect.signature(fn)
    ps = {n: p for n, p in sig.parameters.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return ps, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def check_kwargs(fn, kwargs: dict, path: str, src: Sources, *, own: dict | None = None, provided=()) -> None:
    """Every key of ``kwargs`` is an argument of ``fn`` not in ``own`` (set by the trainer, from
    where ``own`` says), and ``fn``'s required arguments are set (or ``provided`` by the dataset)."""
    own = own or {}
    ps, var_kw = _params(fn)
    label = getattr(fn, "__name__", str(fn))
    if not isinstance(kwargs, dict):
        raise src.error(path, f"expected a mapping of {label} arguments, got {kwargs!r}")
    for k in kwargs:
        if k in own:
            raise src.error(f"{path}.{k}", f"{label}'s {k} is set by the trainer, from {own[k]}")
        if k not in ps and not var_kw:
            raise src.error(f"{path}.{k}", f"{label} has no argument {k!r}{did_you_mean(k, ps)}")
    for n, p in ps.items():
        if p.default is inspect.Parameter.empty and n not in kwargs and n not in own and n not in provided:
            raise src.error(path, f"{label} needs argument {n!r}: set {path}.{n}")


_INFO_KEYS = ("in_features", "in_channels", "num_classes", "image_size", "vocab_size", "block_size")


def model_class(cfg: Config, src: Sources) -> type:
    m = cfg.model
    if m.name is not None:
        return _lookup(MODELS, m.name, "model.name", src, "model")
    cls = resolve_target(m.target, "model.target", src)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise src.error("model.target", f"{m.target} is not a torchish.nn.Module subclass")
    return cls


def dataset_spec(cfg: Config, src: Sources) -> DatasetSpec:
    d = cfg.data
    if d.dataset is not None:
        return _lookup(DATASETS, d.dataset, "data.dataset", src, "dataset")
    cls = resolve_target(d.target, "data.target", src)
    if not isinstance(cls, type):
        raise src.error("data.target", f"{d.target} is not a class")
    ps, _ = _params(cls)
    if "train" in ps:
        splits = dict(_TRAIN_TEST)
    elif "split" in ps:
        splits = {s: {"split": s} for s in {d.train_split, d.eval_split} if s is not None}
    else:
        splits = {"train": {}}
    return DatasetSpec(cls, splits, {})


# ----------------------------------------------------------------------------- validation
def validate(cfg: Config, src: Sources) -> None:
    """Check every name and keyword argument in ``cfg`` (raises ConfigError; builds nothing)."""
    cls = model_class(cfg, src)
    check_kwargs(cls, cfg.model.kwargs, "model.kwargs", src, provided=_INFO_KEYS)

    spec = dataset_spec(cfg, src)
    check_kwargs(spec.cls, cfg.data.kwargs, "data.kwargs", src, own=_DATA_OWN)
    for field_name in ("train_split", "eval_split"):
        split = getattr(cfg.data, field_name)
        if split is not None and split not in spec.splits:
            extra = "" if field_name == "train_split" or len(spec.splits) > 1 else \
                " (this dataset has one split; set data.eval_split: null)"
            raise src.error(f"data.{field_name}", f"unknown split {split!r}{did_you_mean(split, spec.splits)}; "
                                                  f"this dataset has: {', '.join(spec.splits)}{extra}")
    for field_name in ("transforms", "augment"):
        for i, item in enumerate(getattr(cfg.data, field_name)):
            _transform_class(item, f"data.{field_name}[{i}]", src, check=True)

    opt_cls = _lookup(optimizers(), cfg.optim.name, "optim.name", src, "optimizer")
    check_kwargs(opt_cls, cfg.optim.kwargs, "optim.kwargs", src, own=_OPTIM_OWN)
    opt_params, _ = _params(opt_cls)
    if cfg.optim.weight_decay is not None and "weight_decay" not in opt_params:
        raise src.error("optim.weight_decay", f"{opt_cls.__name__} has no weight_decay argument")
    for i, group in enumerate(cfg.optim.param_groups):
        where = f"optim.param_groups[{i}]"
        if not isinstance(group, dict) or not isinstance(group.get("params"), str):
            raise src.error(where, "expected {params: <glob on parameter names>, <option>: <value>, ...}")
        for k in group:
            if k != "params" and k not in opt_params:
                raise src.error(f"{where}.{k}", f"{opt_cls.__name__} has no option {k!r}{did_you_mean(k, opt_params)}")
    for i, sel in enumerate(cfg.optim.no_decay):
        if not isinstance(sel, str):
            raise src.error(f"optim.no_decay[{i}]", f"expected 'bias', 'norm', 'embedding' or a glob, got {sel!r}")

    if cfg.schedule.name is not None:
        sched = _lookup(schedulers(), cfg.schedule.name, "schedule.name", src, "scheduler")
        check_kwargs(sched, cfg.schedule.kwargs, "schedule.kwargs", src, own=_SCHED_OWN,
                     provided=_SCHED_FILLED.get(cfg.schedule.name, ()))
        if cfg.schedule.name == "ReduceLROnPlateau" and cfg.schedule.warmup:
            raise src.error("schedule.warmup", "ReduceLROnPlateau cannot follow a warm-up; set schedule.warmup: 0")
    elif cfg.schedule.kwargs:
        raise src.error("schedule.kwargs", "set schedule.name (a torchish.optim.lr_scheduler class) to use kwargs")

    loss_cls = _lookup(losses(), cfg.loss.name, "loss.name", src, "loss")
    check_kwargs(loss_cls, cfg.loss.kwargs, "loss.kwargs", src)

    known = ("train_loss", "eval_loss", "eval_accuracy", "eval_exact_match")
    if cfg.train.best_metric not in known:
        name = cfg.train.best_metric
        raise src.error("train.best_metric", f"unknown metric {name!r}{did_you_mean(name, known)} "
                                             f"(known: {', '.join(known)})")


# ----------------------------------------------------------------------------- builders
def build_model(cfg: Config, info: dict, src: Sources) -> tuple[nn.Module, dict]:
    """The model, and its constructor arguments with the ones the dataset filled in."""
    cls = model_class(cfg, src)
    ps, _ = _params(cls)
    kwargs = dict(cfg.model.kwargs)
    for k in _INFO_KEYS:
        if k in ps and k not in kwargs and k in info:
            kwargs[k] = info[k]
    for n, p in ps.items():
        if p.default is inspect.Parameter.empty and n not in kwargs:
            raise src.error("model.kwargs", f"{cls.__name__} needs argument {n!r}, which the dataset does not "
                                            f"provide: set model.kwargs.{n}")
    try:
        return cls(**kwargs), kwargs
    except (TypeError, ValueError) as e:
        raise src.error("model", f"{cls.__name__}({_fmt(kwargs)}) failed: {e}") from None


def _fmt(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _no_decay(name: str, module: nn.Module, selectors) -> bool:
    for sel in selectors:
        if sel == "bias" and (name == "bias" or name.endswith(".bias")):
            return True
        if sel == "norm" and isinstance(module, _NORMS):
            return True
        if sel == "embedding" and isinstance(module, nn.Embedding):
            return True
        if fnmatch.fnmatchcase(name, sel):
            return True
    return False


def param_groups(cfg: Config, model: nn.Module) -> list[dict]:
    """Parameter groups: ``optim.param_groups`` globs (first match wins), each split by ``no_decay``."""
    owner = {}
    for mod_name, mod in model.named_modules():
        for p_name, _ in mod.named_parameters(recurse=False):
            owner[f"{mod_name}.{p_name}" if mod_name else p_name] = mod
    groups: dict[tuple, dict] = {}
    for name, p in model.named_parameters():
        gi = next((i for i, g in enumerate(cfg.optim.param_groups) if fnmatch.fnmatchcase(name, g["params"])), None)
        nd = bool(cfg.optim.no_decay) and _no_decay(name, owner.get(name), cfg.optim.no_decay)
        key = (gi, nd)
        if key not in groups:
            opts = {k: v for k, v in cfg.optim.param_groups[gi].items() if k != "params"} if gi is not None else {}
            if nd:
                opts["weight_decay"] = 0.0
            groups[key] = {"params": [], **opts}
        groups[key]["params"].append(p)
    return list(groups.values())


def build_optimizer(cfg: Config, model: nn.Module) -> torchish.optim.Optimizer:
    cls = optimizers()[cfg.optim.name]
    kwargs = dict(cfg.optim.kwargs, lr=cfg.optim.lr)
    if cfg.optim.weight_decay is not None:
        kwargs["weight_decay"] = cfg.optim.weight_decay
    for k in ("betas", "etas", "step_sizes"):  # tuples in PyTorch's signatures; YAML gives lists
        if isinstance(kwargs.get(k), list):
            kwargs[k] = tuple(kwargs[k])
    return cls(param_groups(cfg, model), **kwargs)


# Scheduler arguments that default to the length of the run (in scheduler intervals, after warm-up).
_SCHED_FILLED = {"CosineAnnealingLR": ("T_max",), "OneCycleLR": ("total_steps", "max_lr"),
                 "PolynomialLR": ("total_iters",)}


def build_scheduler(cfg: Config, optimizer, total: int):
    """The LR scheduler (or None); ``total`` is the run length in scheduler intervals."""
    s, sched = cfg.schedule, torchish.optim.lr_scheduler
    main = None
    if s.name is not None:
        kwargs = dict(s.kwargs)
        length = max(1, total - s.warmup)
        defaults = {"T_max": length, "total_steps": length, "total_iters": length, "max_lr": cfg.optim.lr}
        for k in _SCHED_FILLED.get(s.name, ()):
            kwargs.setdefault(k, defaults[k])
        for k in ("milestones",):
            if isinstance(kwargs.get(k), tuple):
                kwargs[k] = list(kwargs[k])
        main = schedulers()[s.name](optimizer, **kwargs)
    if not s.warmup:
        return main
    warm = sched.LinearLR(optimizer, start_factor=s.warmup_start_factor, end_factor=1.0, total_iters=s.warmup)
    return warm if main is None else sched.SequentialLR(optimizer, [warm, main], milestones=[s.warmup])


def build_loss(cfg: Config) -> nn.Module:
    return losses()[cfg.loss.name](**cfg.loss.kwargs)


def _transform_class(item, path: str, src: Sources, check: bool = False):
    if not isinstance(item, dict) or ("name" in item) == ("target" in item):
        raise src.error(path, f"expected {{name: <transform>, <argument>: <value>, ...}}, got {item!r}")
    if "name" in item:
        cls = _lookup(transforms(), item["name"], f"{path}.name", src, "transform")
    else:
        cls = resolve_target(item["target"], f"{path}.target", src)
    if check:
        kwargs = {k: v for k, v in item.items() if k not in ("name", "target")}
        check_kwargs(cls, kwargs, path, src, own={"generator": "train.seed (per epoch and sample)"})
    return cls


def build_transform(items: list, path: str, src: Sources, generator=None):
    """``Compose`` of the listed transforms (None for an empty list); random ones draw from ``generator``."""
    out = []
    for i, item in enumerate(items):
        cls = _transform_class(item, f"{path}[{i}]", src)
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) and k in ("size", "padding", "scale", "ratio",
                                                                                  "degrees", "kernel_size") else v)
                                  for k, v in item.items() if k not in ("name", "target")}
        if generator is not None and "generator" in _params(cls)[0]:
            kwargs["generator"] = generator
        out.append(cls(**kwargs))
    return T.Compose(out) if out else None
