"""The ``torchish`` command line.

    torchish train CONFIG.yaml [key.sub=value ...] [--print-config] [--dry-run]
                   [--resume [RUN_DIR|CKPT]] [--out RUN_DIR]
    torchish eval CONFIG.yaml [key.sub=value ...] --checkpoint PATH [--split NAME] [--json]
    torchish tune CONFIG.yaml [key.sub=value ...] [--trials N] [--out DIR]
    torchish run ...          the multi-process launcher (torchish.distributed.run)

Each subcommand is a name in ``COMMANDS`` mapped to a function of its own arguments, so adding
one is one entry.  Settings come only from the config file and the command line (command line
wins); the process never changes directory.  Also runnable as ``python -m torchish``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

__all__ = ["main", "COMMANDS"]


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torchish train", description="Train, evaluate and checkpoint a model as a YAML config says.",
        epilog="Overrides are typed by the schema: torchish train configs/digits_mlp.yaml optim.lr=0.01 "
               "train.epochs=5 model.kwargs.hidden=[256,128]. Reference: docs/train.md.")
    p.add_argument("config", nargs="?", metavar="CONFIG.yaml", help="the run's config (optional with --resume RUN_DIR)")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (YAML values)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument("--dry-run", action="store_true",
                   help="build everything, run 2 steps and one eval batch, write nothing")
    p.add_argument("--resume", nargs="?", const="latest", metavar="RUN_DIR|CHECKPOINT",
                   help="continue a run exactly where it stopped: the newest run of this config (no value), a run "
                        "directory, or a checkpoint file (a corrupt one falls back to the previous checkpoint)")
    p.add_argument("--out", metavar="RUN_DIR", help="the run directory (default: <train.out_dir>/<name>/<timestamp>)")
    return p


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchish eval", description="Evaluate a checkpoint on the config's eval split.")
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (YAML values)")
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="a training checkpoint or a model.pt state dict")
    p.add_argument("--split", metavar="NAME", help="the split to evaluate (default: data.eval_split)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    return p


def _fail(prog: str, err) -> int:
    print(f"{prog}: error: {err}", file=sys.stderr)
    return 2


def cmd_train(argv: list[str]) -> int:
    from .train import ConfigError, RunInterrupted, Sources, dump_yaml, load_config, parse_overrides, to_dict, train

    parser = _train_parser()
    args = parser.parse_intermixed_args(argv)
    overrides = list(args.overrides)
    if args.resume is not None and "=" in args.resume and not os.path.exists(args.resume):
        overrides.insert(0, args.resume)  # `--resume key=value`: a bare --resume followed by an override
        args.resume = "latest"
    config = args.config
    if config is not None and "=" in config and not os.path.exists(config):
        overrides.insert(0, config)
        config = None
    if config is None:
        if args.resume not in (None, "latest") and not os.path.exists(args.resume):
            parser.error(f"--resume: {args.resume} does not exist")
        saved = os.path.join(args.resume, "config.yaml") if args.resume and os.path.isdir(args.resume) else None
        if saved is None or not os.path.isfile(saved):
            parser.error("CONFIG.yaml is required (it may be left out only with --resume RUN_DIR)")
        config = saved
    if args.resume is not None and args.out is not None:
        parser.error("--out and --resume cannot be combined: a resumed run continues in its own directory")
    try:
        ov = parse_overrides(overrides)
        cfg = load_config(config, ov)
        if args.print_config:
            print(dump_yaml(to_dict(cfg)), end="")
            return 0
        train(cfg, src=Sources(config, ov.keys()), run_dir=args.out, resume=args.resume, dry_run=args.dry_run,
              argv=["torchish", "train", *argv])
    except ConfigError as e:
        return _fail("torchish train", e)
    except (FileNotFoundError, FileExistsError, NotImplementedError) as e:
        return _fail("torchish train", e)
    except RunInterrupted:
        return 130  # the conventional status of a run stopped by Ctrl-C; the checkpoint is saved
    return 0


def cmd_eval(argv: list[str]) -> int:
    from .train import ConfigError, Sources, evaluate_checkpoint, load_config, parse_overrides

    args = _eval_parser().parse_intermixed_args(argv)
    try:
        ov = parse_overrides(args.overrides)
        if args.split is not None:
            ov["data.eval_split"] = args.split
        cfg = load_config(args.config, ov)
        metrics = evaluate_checkpoint(cfg, args.checkpoint, src=Sources(args.config, ov.keys()))
    except ConfigError as e:
        return _fail("torchish eval", e)
    except (FileNotFoundError, RuntimeError) as e:  # RuntimeError: torchish.load on a corrupt file
        return _fail("torchish eval", e)
    if args.json:
        print(json.dumps(metrics))
    else:
        width = max(len(k) for k in metrics)
        print(f"{'checkpoint':<{width}}  {args.checkpoint}")
        for k, v in metrics.items():
            print(f"{k:<{width}}  {v:.4f}")
    return 0


def cmd_tune(argv: list[str]) -> int:
    from .train import ConfigError, RunInterrupted, load_config, parse_overrides
    from .train.tune import tune

    p = argparse.ArgumentParser(prog="torchish tune", description="Search hyperparameters with Optuna over the "
                                "config's tune.space; each trial is a torchish train run.")
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides (YAML values)")
    p.add_argument("--trials", type=int, metavar="N", help="number of trials (default: tune.trials)")
    p.add_argument("--out", metavar="DIR", help="the tune directory (default: <train.out_dir>/<name>/tune-<timestamp>)")
    args = p.parse_intermixed_args(argv)
    if args.trials is not None and args.trials < 1:
        p.error(f"--trials must be positive, got {args.trials}")
    try:
        cfg = load_config(args.config, parse_overrides(args.overrides))
        tune(cfg, source=args.config, trials=args.trials, out_dir=args.out)
    except (ConfigError, ImportError, FileNotFoundError, NotImplementedError) as e:
        return _fail("torchish tune", e)
    except RunInterrupted:
        return 130
    return 0


def cmd_run(argv: list[str]) -> int:
    """``torchish run ...``: hand every argument to the launcher, ``torchish.distributed.run.main``."""
    if importlib.util.find_spec("torchish.distributed") is None or \
            importlib.util.find_spec("torchish.distributed.run") is None:
        return _fail("torchish run", "the multi-process launcher (torchish.distributed.run) is not part of this "
                                     "torchish build")
    rc = importlib.import_module("torchish.distributed.run").main(argv)
    return int(rc or 0)


# name -> (one-line help, handler of the remaining arguments)
COMMANDS = {
    "train": ("train a model from a YAML config (torchish train CONFIG.yaml)", cmd_train),
    "eval": ("evaluate a checkpoint (torchish eval CONFIG.yaml --checkpoint PATH)", cmd_eval),
    "tune": ("search hyperparameters with Optuna (torchish tune CONFIG.yaml --trials N)", cmd_tune),
    "run": ("launch a multi-process run (torchish run --help)", cmd_run),
}


def _top_help() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: torchish <command> [arguments]", "", "PyTorch's programming model on JAX/XLA.", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (help_, _) in COMMANDS.items()]
    lines += ["", "torchish <command> --help describes a command; docs/train.md the config files.",
              "Example: torchish train configs/digits_mlp.yaml"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The ``torchish`` console script (and ``python -m torchish``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_help(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        from . import __version__

        print(f"torchish {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        from .train.config import did_you_mean

        return _fail("torchish", f"unknown command {name!r}{did_you_mean(name, COMMANDS)} (commands: "
                                 f"{', '.join(COMMANDS)})")
    # `target: mypkg.models.Net` in a config imports from the current directory, as `python -m` would
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    return COMMANDS[name][1](rest)


if __name__ == "__main__":
    sys.exit(main())
