"""The training-run configuration: one typed schema, every default in one place.

A config is YAML with the sections below.  ``load_config(path, overrides)`` reads the file,
applies ``key.sub=value`` overrides from the command line, and checks everything against the
schema before any work starts (precedence: command line > file > the defaults written here).
Mistakes raise ``ConfigError`` naming the source and the key path, e.g.
``configs/x.yaml: optim.lrr: unknown key; did you mean 'lr'?``.  Names (models, datasets,
optimizers, schedulers, losses, transforms) and their keyword arguments are checked by
``registry.validate``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import yaml

__all__ = ["Config", "ConfigError", "load_config", "parse_overrides", "to_dict", "dump_yaml", "config_from_dict"]


# ----------------------------------------------------------------------------- the schema
@dataclass
class ModelConfig:
    name: Optional[str] = None  # a built-in model: MLP, CNN, ResNet, GPT, LSTM (see registry.MODELS)
    target: Optional[str] = None  # or any importable nn.Module class, "mypkg.models.Net" (instead of name)
    kwargs: dict = field(default_factory=dict)  # constructor arguments; those left out that the dataset
    #                                             knows (num_classes, in_features, vocab_size, ...) are filled in


@dataclass
class DataConfig:
    dataset: Optional[str] = None  # digits, addition, chartext, mnist, fashion_mnist, cifar10, cifar100
    target: Optional[str] = None  # or any importable Dataset class (instead of dataset), built with train=True/False
    kwargs: dict = field(default_factory=dict)  # dataset arguments (root=, path=, digits=, block_size=, ...)
    train_split: str = "train"  # the split to train on
    eval_split: Optional[str] = "test"  # the split to evaluate on (null: no evaluation)
    batch_size: int = 64  # examples per micro-batch (the optimizer sees batch_size * train.grad_accum)
    eval_batch_size: Optional[int] = None  # examples per evaluation batch (null: 4 * batch_size)
    num_workers: int = 0  # DataLoader worker processes (0: load in the main process)
    shuffle: bool = True  # reshuffle the training set every epoch (the order is a function of seed and epoch)
    drop_last: bool = True  # drop the last incomplete training batch (keeps one compiled step shape)
    transforms: list = field(default_factory=list)  # train and eval inputs: [{name: Normalize, mean: [.5], std: [.5]}]
    augment: list = field(default_factory=list)  # training inputs only, before transforms: [{name: RandomCrop, ...}]


@dataclass
class OptimConfig:
    name: str = "AdamW"  # any torchish.optim optimizer class
    lr: float = 1e-3  # base learning rate
    weight_decay: Optional[float] = None  # null: the optimizer's own default
    kwargs: dict = field(default_factory=dict)  # other constructor arguments (betas, momentum, eps, ...)
    no_decay: list = field(default_factory=list)  # weight_decay 0 for: "bias", "norm", "embedding" or name globs
    param_groups: list = field(default_factory=list)  # [{params: "head.*", lr: 0.01}]: name globs, first match wins


@dataclass
class ScheduleConfig:
    name: Optional[str] = None  # any torchish.optim.lr_scheduler class (null: constant lr)
    kwargs: dict = field(default_factory=dict)  # its arguments; CosineAnnealingLR's T_max and OneCycleLR's
    #                                             total_steps/max_lr default to the length of the run
    interval: Literal["step", "epoch"] = "step"  # call scheduler.step() after every optimizer step or every epoch
    warmup: int = 0  # linear warm-up length in intervals, before the schedule (LinearLR + SequentialLR)
    warmup_start_factor: float = 0.01  # the warm-up starts at lr * this factor


@dataclass
class LossConfig:
    name: str = "CrossEntropyLoss"  # any torchish.nn loss class; sequence outputs (B, T, V) are flattened
    kwargs: dict = field(default_factory=dict)  # its arguments (label_smoothing, ignore_index, ...)


@dataclass
class TrainConfig:
    epochs: int = 10  # passes over the training set (ignored when max_steps is set)
    max_steps: Optional[int] = None  # optimizer steps to run (overrides epochs)
    grad_accum: int = 1  # micro-batches per optimizer step
    grad_clip: Optional[float] = None  # clip the global gradient norm to this (null: no clipping)
    log_every: int = 10  # log training metrics every N steps
    eval_every: int = 0  # evaluate every N steps (0: at the end of every epoch); always at the end
    checkpoint_every: int = 0  # checkpoint every N steps (0: at the end of every epoch); always at the end
    keep_last: int = 3  # periodic checkpoints to keep (best.pt is kept in addition)
    best_metric: str = "eval_loss"  # the metric that selects best.pt (eval_loss, eval_accuracy, eval_exact_match)
    best_mode: Literal["auto", "min", "max"] = "auto"  # auto: min for losses, max otherwise
    seed: int = 0  # seeds parameters, dropout, the shuffle order and augmentations
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: parameters, activations and optimizer state in bfloat16
    compile: bool = True  # run each step as one XLA program (torchish.compile); false: eager, for debugging
    out_dir: str = "runs"  # run directories are <out_dir>/<name>/<timestamp> (unless --out RUN_DIR)


@dataclass
class ParallelConfig:
    devices: Union[int, Literal["all"]] = 1  # local devices to train on ("all": every local device)
    strategy: Literal["pmap", "sharded", "fsdp"] = "pmap"  # pmap: one program per device; sharded: one global
    #                                                          program (GSPMD); fsdp: also shards parameters


@dataclass
class LogConfig:
    console: bool = True  # a progress bar (or plain lines when stderr is not a terminal) and a summary table
    jsonl: bool = True  # RUN_DIR/metrics.jsonl, one JSON record per log or eval event
    csv: bool = True  # RUN_DIR/metrics.csv, the same records as a table
    tensorboard: bool = False  # RUN_DIR/tensorboard/ event files (needs the tensorboard extra: tensorboardX)
    plot: bool = True  # RUN_DIR/curves.png, loss and accuracy curves (matplotlib)


@dataclass
class TuneConfig:
    trials: int = 20  # trials `torchish tune` runs (--trials overrides)
    metric: Optional[str] = None  # the metric to optimise (null: train.best_metric)
    direction: Literal["auto", "minimize", "maximize"] = "auto"  # auto: minimize losses, maximize the rest
    space: dict = field(default_factory=dict)  # key path -> {low:, high:[, log: true]} (a range) or {choices: [...]}
    pruner: Literal["median", "none"] = "median"  # stop trials whose evaluations trail the median of earlier trials


@dataclass
class Config:
    name: Optional[str] = None  # run name (null: the config file's name without .yaml)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    log: LogConfig = field(default_factory=LogConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)  # used by `torchish tune` only


# ----------------------------------------------------------------------------- errors
class ConfigError(ValueError):
    """A bad config: ``<source>: <key path>: <problem>``, raised before any work starts."""

    def __init__(self, source: str, path: str, problem: str):
        self.source, self.path, self.problem = source, path, problem
        super().__init__(f"{source}: {path}: {problem}" if path else f"{source}: {problem}")


def did_you_mean(name: str, choices) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = [c for c in choices if str(c).lower() == str(name).lower()]  # case slips first: "Adamw" -> "AdamW"
    if not close:
        close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class Sources:
    """Which source (the config file or the command line) set each key path, for error messages."""

    def __init__(self, file: str, overridden=()):
        self.file, self.overridden = file, set(overridden)

    def of(self, path: str) -> str:
        parts = re.sub(r"\[\d+\]", "", path).split(".")  # data.augment[0].name -> data.augment.name
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in self.overridden:
                return "command line"
        return self.file

    def error(self, path: str, problem: str) -> ConfigError:
        return ConfigError(self.of(path), path, problem)


# ----------------------------------------------------------------------------- YAML
class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.2), not the string YAML 1.1 makes of it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str, source: str):
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError(source, "", f"not valid YAML: {e}") from None


class _Dumper(yaml.SafeDumper):
    """Block style for sections, flow style for lists of plain values (``hidden: [256, 256]``)."""


def _represent_list(dumper, data):
    flat = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_list)


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


# ----------------------------------------------------------------------------- overrides
def parse_overrides(items) -> dict[str, Any]:
    """``["optim.lr=0.01", "model.kwargs.hidden=[256,128]"]`` -> ``{"optim.lr": 0.01, ...}`` (values are YAML)."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
            raise ConfigError("command line", "", f"bad override {item!r}: expected key.sub=value, e.g. optim.lr=0.01")
        out[key] = _yaml_load(text, "command line") if text.strip() else None
    return out


def _apply_overrides(raw: dict, overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        node, parts = raw, key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError("command line", where,
                                  f"cannot set {key}: {where} is a {type(child).__name__}, not a section")
            node = child
        node[parts[-1]] = value


# ----------------------------------------------------------------------------- typed conversion
def _type_name(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin is Union:
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping",
            list: "a list"}.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value, tp, path: str, src: Sources):
    """``value`` checked against the annotation ``tp`` (and converted: int -> float, a section -> dataclass)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise src.error(path, f"expected a section (a mapping of keys), got {value!r}")
        return _from_dict(tp, value, path, src)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, path, src)
            except ConfigError:
                pass
        raise src.error(path, f"expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise src.error(path, f"expected {_type_name(tp)}, got {value!r}{did_you_mean(value, args)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is dict:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
    elif tp is list:
        if value is None:
            return []
        if isinstance(value, list):
            return value
    raise src.error(path, f"expected {_type_name(tp)}, got {value!r}")


def _from_dict(cls, raw: dict, prefix: str, src: Sources):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in hints:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise src.error(where, f"unknown key{did_you_mean(key, names)}"
                            + ("" if did_you_mean(key, names) else f" (expected one of: {', '.join(names)})"))
    values = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k, src) for k, v in raw.items()}
    return cls(**values)


def _not_a_mapping(raw) -> str:
    return f"expected a mapping of sections (model:, data:, optim:, ...), got {type(raw).__name__}"


def config_from_dict(raw: dict, source: str = "config", overridden=()) -> Config:
    """A ``Config`` from nested plain data, checked against the schema (names are checked by ``registry``)."""
    src = Sources(source, overridden)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, "", _not_a_mapping(raw))
    cfg = _from_dict(Config, raw, "", src)
    _check_semantics(cfg, src)
    return cfg


def _check_semantics(cfg: Config, src: Sources) -> None:
    """Rules a type cannot express: one-of fields, positive counts."""
    for section, a, b in (("model", "name", "target"), ("data", "dataset", "target")):
        sec = getattr(cfg, section)
        if getattr(sec, a) is None and getattr(sec, b) is None:
            raise src.error(f"{section}.{a}", f"missing required field (set {section}.{a}, or {section}.{b}: a dotted "
                                              "path to your own class)")
        if getattr(sec, a) is not None and getattr(sec, b) is not None:
            raise src.error(f"{section}.{b}", f"set either {section}.{a} or {section}.{b}, not both")
    positive = {"data.batch_size": cfg.data.batch_size, "train.grad_accum": cfg.train.grad_accum,
                "train.log_every": cfg.train.log_every, "train.keep_last": cfg.train.keep_last,
                "train.epochs": cfg.train.epochs, "tune.trials": cfg.tune.trials}
    if cfg.data.eval_batch_size is not None:
        positive["data.eval_batch_size"] = cfg.data.eval_batch_size
    if cfg.train.max_steps is not None:
        positive["train.max_steps"] = cfg.train.max_steps
    if isinstance(cfg.parallel.devices, int):
        positive["parallel.devices"] = cfg.parallel.devices
    for path, v in positive.items():
        if v <= 0:
            raise src.error(path, f"must be a positive integer, got {v}")
    non_negative = {"data.num_workers": cfg.data.num_workers, "train.eval_every": cfg.train.eval_every,
                    "train.checkpoint_every": cfg.train.checkpoint_every, "schedule.warmup": cfg.schedule.warmup}
    for path, v in non_negative.items():
        if v < 0:
            raise src.error(path, f"must be >= 0, got {v}")
    if cfg.train.grad_clip is not None and cfg.train.grad_clip <= 0:
        raise src.error("train.grad_clip", f"must be a positive number (null: no clipping), got {cfg.train.grad_clip}")
    if cfg.optim.lr <= 0:
        raise src.error("optim.lr", f"must be a positive number, got {cfg.optim.lr}")


# ----------------------------------------------------------------------------- entry points
def load_config(path, overrides=(), *, validate_names: bool = True) -> Config:
    """Read ``path`` (YAML), apply ``overrides`` (``["key.sub=value", ...]`` or a dict), check it all.

    Raises ``ConfigError`` naming the file (or "command line") and the key path.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(path, "", f"cannot read the config file: {e.strerror}") from None
    raw = _yaml_load(text, path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, "", _not_a_mapping(raw))
    ov = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    _apply_overrides(raw, ov)
    cfg = config_from_dict(raw, path, ov.keys())
    if cfg.name is None:
        cfg.name = os.path.splitext(os.path.basename(path))[0]
    if validate_names:
        from .registry import validate

        validate(cfg, Sources(path, ov.keys()))
    return cfg


def to_dict(cfg: Config) -> dict:
    """The config as plain nested data (for YAML, checkpoints and ``--print-config``)."""
    return dataclasses.asdict(cfg)
