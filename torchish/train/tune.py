"""``torchish tune CONFIG.yaml --trials N``: hyperparameter search with Optuna.

The search space is part of the config (``tune.space``): a key path of the config mapped to a
range or a list of choices::

    tune:
      metric: eval_accuracy
      space:
        optim.lr: {low: 1.0e-4, high: 3.0e-2, log: true}    # a float range (log-uniform)
        train.epochs: {low: 10, high: 40}                    # an int range (both ends integers)
        model.kwargs.hidden: {choices: [[256], [1024], [512, 512]]}

Each trial is an ordinary ``train`` run in ``<tune dir>/trial-NNN`` (console and plot off) with
the sampled values applied as overrides; evaluations are reported to Optuna, whose median
pruner stops trials that trail the earlier ones.  The end is a results table, ``trials.csv``
and ``best.yaml``: the best trial's full config, runnable with ``torchish train``.
"""

from __future__ import annotations

import copy
import csv
import datetime
import json
import os
import sys

from .config import Config, ConfigError, Sources, config_from_dict, dump_yaml, to_dict
from .loop import train

__all__ = ["tune", "parse_space"]


def _set(raw: dict, key: str, value) -> None:
    node, parts = raw, key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _with(cfg: Config, values: dict, source: str) -> Config:
    raw = to_dict(cfg)
    raw.pop("tune")
    for key, value in values.items():
        _set(raw, key, copy.deepcopy(value))
    out = config_from_dict(raw, source)
    from .registry import validate

    validate(out, Sources(source))
    return out


def parse_space(cfg: Config, source: str) -> dict:
    """``tune.space`` checked: every entry a range or choices, every value valid at its key path."""
    space = {}
    if not cfg.tune.space:
        raise ConfigError(source, "tune.space", "empty: list the settings to search, e.g. "
                                                "optim.lr: {low: 1.0e-4, high: 1.0e-1, log: true}")
    for key, spec in cfg.tune.space.items():
        where = f"tune.space.{key}"
        if isinstance(spec, dict) and "choices" in spec and set(spec) == {"choices"}:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                raise ConfigError(source, where, f"choices must be a non-empty list, got {spec['choices']!r}")
            samples = spec["choices"]
        elif isinstance(spec, dict) and {"low", "high"} <= set(spec) <= {"low", "high", "log"}:
            low, high = spec["low"], spec["high"]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low >= high:
                raise ConfigError(source, where, f"low and high must be numbers with low < high, got {low!r}, {high!r}")
            if spec.get("log") and low <= 0:
                raise ConfigError(source, where, f"a log range needs low > 0, got {low!r}")
            samples = [low, high]
        else:
            raise ConfigError(source, where, f"expected {{low: <number>, high: <number>[, log: true]}} or "
                                             f"{{choices: [...]}}, got {spec!r}")
        for value in samples:  # each value must make a valid config (unknown keys, types, names)
            try:
                _with(cfg, {key: value}, source)
            except ConfigError as e:
                raise ConfigError(source, where, f"{e.path}: {e.problem}" if e.path != key else e.problem) from None
        space[key] = spec
    return space


def _suggest(trial, key: str, spec: dict):
    if "choices" in spec:
        encoded = [json.dumps(c) for c in spec["choices"]]  # Optuna's choices must be scalars
        return json.loads(trial.suggest_categorical(key, encoded))
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(key, low, high, log=log)
    return trial.suggest_float(key, float(low), float(high), log=log)


def tune(cfg: Config, *, source: str, trials: int | None = None, out_dir: str | None = None) -> dict:
    """Run the search; returns ``{"best": {...}, "trials": [...], "dir": ...}``."""
    try:
        import optuna
    except ImportError:
        raise ImportError("torchish tune needs Optuna: pip install 'torchish[tune]' (or pip install optuna)") from None
    space = parse_space(cfg, source)
    metric = cfg.tune.metric or cfg.train.best_metric
    direction = cfg.tune.direction if cfg.tune.direction != "auto" else (
        "minimize" if metric.endswith("loss") else "maximize")
    n_trials = trials or cfg.tune.trials
    tune_dir = out_dir or os.path.join(cfg.train.out_dir, cfg.name or "run",
                                       "tune-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(tune_dir, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruners = optuna.pruners
    pruner = pruners.MedianPruner(n_startup_trials=2) if cfg.tune.pruner == "median" else pruners.NopPruner()
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=cfg.train.seed),
                                pruner=pruner)
    print(f"tune {cfg.name}: {n_trials} trials, {direction} {metric} over {', '.join(space)}; in {tune_dir}",
          file=sys.stderr)
    results = []

    def objective(trial):
        values = {key: _suggest(trial, key, spec) for key, spec in space.items()}
        run_cfg = _with(cfg, values, source)
        run_cfg.name = f"{cfg.name}-trial{trial.number:03d}"
        run_cfg.log.console, run_cfg.log.plot = False, False

        def on_record(rec):
            if metric in rec:
                trial.report(rec[metric], rec["step"])
                if trial.should_prune():
                    raise optuna.TrialPruned()

        row = {"trial": trial.number, "state": "failed", metric: None, **values}
        results.append(row)
        try:
            summary = train(run_cfg, src=Sources(source), run_dir=os.path.join(tune_dir, f"trial-{trial.number:03d}"),
                            on_record=on_record)
        except optuna.TrialPruned:
            row["state"] = "pruned"
            print(f"trial {trial.number}: {_fmt_values(values)}: pruned", file=sys.stderr)
            raise
        row["state"], row[metric] = "complete", summary.get(metric)
        print(f"trial {trial.number}: {_fmt_values(values)}: {metric} {row[metric]:.4f}", file=sys.stderr)
        return row[metric]

    study.optimize(objective, n_trials=n_trials)
    best = study.best_trial
    best_values = {key: _decode(space[key], best.params[key]) for key in space}
    with open(os.path.join(tune_dir, "best.yaml"), "w", encoding="utf-8") as f:
        f.write(f"# the best of {len(results)} trials of {source}: {metric} {best.value:.4f} (trial {best.number})\n")
        best_cfg = to_dict(_with(cfg, best_values, source))
        best_cfg.pop("tune")
        f.write(dump_yaml(best_cfg))
    columns = ["trial", "state", metric, *space]
    with open(os.path.join(tune_dir, "trials.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in results:
            w.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
    _print_table(results, columns, metric, direction)
    print(f"best: trial {best.number}, {metric} {best.value:.4f}; its config: {os.path.join(tune_dir, 'best.yaml')}")
    return {"best": {"trial": best.number, metric: best.value, **best_values}, "trials": results, "dir": tune_dir}


def _decode(spec: dict, value):
    return json.loads(value) if "choices" in spec else value


def _fmt_values(values: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _print_table(rows: list[dict], columns: list[str], metric: str, direction: str) -> None:
    done = [r for r in rows if r[metric] is not None]
    done.sort(key=lambda r: r[metric], reverse=direction == "maximize")
    ordered = done + [r for r in rows if r[metric] is None]

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))

    table = [columns] + [[cell(r.get(c)) for c in columns] for r in ordered]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for i, row in enumerate(table):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
