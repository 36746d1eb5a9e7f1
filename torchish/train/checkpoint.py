"""Checkpoints of a run: what they hold, where they go, and finding the latest good one.

A checkpoint is one ``torchish.save`` file (atomic: written to a temporary file, then renamed)
holding everything a bit-exact resume needs: model, optimizer and scheduler state, the
default generator's key, the data position (epoch, batch index within it; see NOTE
[ Resumable data order ] in ``data.py``), the step, the training losses not yet logged, the
best metric so far, the resolved config and the torchish/JAX versions.

``RUN_DIR/checkpoints/step-00000120.pt`` are the periodic ones (the last ``keep_last`` kept),
``best.pt`` the best by ``train.best_metric``.  ``torchish.load`` verifies a checksum, so a
truncated or corrupt file raises; ``load_latest`` reports it and falls back to the previous one.
"""

from __future__ import annotations

import glob
import os
import re
import sys

import jax

import torchish

__all__ = ["Checkpoints", "training_state", "restore", "load_latest", "find_run_dir", "candidates"]

SUBDIR = "checkpoints"
_NAME = re.compile(r"step-(\d+)\.pt$")


def training_state(*, model, optimizer, scheduler, step: int, epoch: int, batch: int, pending: list,
                   best, config: dict) -> dict:
    """Everything needed to continue the run exactly where it is now."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {"default_generator": torchish.default_generator.state_dict()},
        "data": {"epoch": epoch, "batch": batch},  # the loader's position; its order is a function of (seed, epoch)
        "step": step,
        "epoch": epoch,
        "pending_losses": [float(x) for x in pending],  # training losses since the last log record
        "best": best,
        "config": config,
        "versions": {"torchish": torchish.__version__, "jax": jax.__version__},
    }


def restore(state: dict, *, model, optimizer, scheduler) -> None:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    torchish.default_generator.load_state_dict(state["rng"]["default_generator"])


class Checkpoints:
    """Writes ``RUN_DIR/checkpoints/step-N.pt`` (keeping the last ``keep_last``) and ``best.pt``."""

    def __init__(self, run_dir: str, keep_last: int):
        self.dir = os.path.join(run_dir, SUBDIR)
        self.keep_last = keep_last
        for partial in glob.glob(os.path.join(glob.escape(self.dir), ".*.tmp")):  # left by a kill during a save
            os.remove(partial)

    def save(self, state: dict, step: int) -> str:
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, f"step-{step:08d}.pt")
        torchish.save(state, path)
        for old in candidates(self.dir)[self.keep_last:]:
            os.remove(old)
        return path

    def save_best(self, state: dict) -> str:
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, "best.pt")
        torchish.save(state, path)
        return path


def candidates(directory: str) -> list[str]:
    """The periodic checkpoints in ``directory``, newest (highest step) first."""
    found = []
    for p in glob.glob(os.path.join(glob.escape(directory), "step-*.pt")):
        m = _NAME.search(os.path.basename(p))
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found, reverse=True)]


def load_latest(paths: list[str], report=None) -> tuple[str, dict]:
    """The first of ``paths`` that loads; each unreadable one is reported (corrupt, truncated)."""
    report = report or (lambda msg: print(msg, file=sys.stderr))
    problems = []
    for p in paths:
        try:
            state = torchish.load(p)
        except (RuntimeError, OSError) as e:
            report(f"warning: skipping checkpoint {p}: {e}")
            problems.append(p)
            continue
        if not isinstance(state, dict) or "model" not in state or "step" not in state:
            report(f"warning: skipping {p}: not a training checkpoint (no model/step entries)")
            problems.append(p)
            continue
        if problems:
            report(f"resuming from the previous good checkpoint {p}")
        return p, state
    if problems:
        raise FileNotFoundError(f"no usable checkpoint: {', '.join(problems)} could not be loaded")
    raise FileNotFoundError("no checkpoint to resume from")


def find_run_dir(out_dir: str, name: str) -> str:
    """The newest run directory ``<out_dir>/<name>/<timestamp>`` (what a bare ``--resume`` continues)."""
    runs = sorted(d for d in glob.glob(os.path.join(glob.escape(out_dir), glob.escape(name), "*")) if os.path.isdir(d))
    if not runs:
        raise FileNotFoundError(f"--resume: no runs of {name!r} under {os.path.join(out_dir, name)}; "
                                "pass --resume RUN_DIR or a checkpoint file")
    return runs[-1]
