"""The training run behind ``torchish train CONFIG.yaml``; read it top to bottom.

setup (seed, data, model, optimizer, schedule, loss) -> the compiled step -> resume -> outputs
-> the loop (step, log, evaluate, checkpoint, stop on Ctrl-C) -> the summary.

NOTE [ No device sync per step ]
The loss of each step stays a device tensor in ``pending``; they become Python floats every
``log_every`` steps (one sync per log record), so the host keeps queueing steps ahead of the
device.  Checkpoints and evaluations sync anyway.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import shlex
import signal
import sys
import threading

import jax

import torchish
from torchish import nn

from .checkpoint import Checkpoints, candidates, find_run_dir, load_latest, restore, training_state
from .config import Config, Sources, dump_yaml, to_dict
from .data import build_data, world
from .metrics import Console, MetricsLog, now, plot_curves, summary_lines
from .registry import build_loss, build_model, build_optimizer, build_scheduler

__all__ = ["train", "evaluate_checkpoint", "RunInterrupted"]


class RunInterrupted(Exception):
    """Raised by ``train`` after Ctrl-C (SIGINT) or SIGTERM, once the checkpoint is saved."""

    def __init__(self, summary: dict):
        self.summary = summary
        super().__init__(f"interrupted at step {summary['step']}")


def train(cfg: Config, *, src: Sources | None = None, run_dir: str | None = None, resume: str | None = None,
          dry_run: bool = False, argv: list[str] | None = None, on_record=None) -> dict:
    """Train, evaluate and checkpoint as ``cfg`` says; returns the summary (also in RUN_DIR/summary.json).

    ``resume``: ``"latest"`` (the newest run of this config), a run directory or a checkpoint file.
    ``dry_run``: build everything, run 2 steps and one eval batch, write nothing.
    ``on_record``: called with each metrics record (``torchish tune`` prunes trials from it).
    """
    src = src or Sources(cfg.name or "config")
    t = cfg.train
    started = now()

    # -------------------------------------------------------------------------- setup
    _join_process_group()
    torchish.manual_seed(t.seed)
    devices = _resolve_devices(cfg, src)
    data = build_data(cfg, src, seed=t.seed)
    net, model_kwargs = build_model(cfg, data.info, src)  # the module itself (its state dict is checkpointed)
    if t.precision == "bf16":
        net.to(torchish.bfloat16)
    model = _data_parallel(net, cfg, devices)  # the module the step calls (a DDP wrapper on several devices)
    optimizer = build_optimizer(cfg, net)
    loss_fn = build_loss(cfg)
    steps_per_epoch = len(data.train_loader) // t.grad_accum  # an epoch's leftover micro-batches are skipped
    if steps_per_epoch == 0:
        raise src.error("train.grad_accum", f"an epoch has {len(data.train_loader)} batches, fewer than "
                                            f"grad_accum={t.grad_accum}")
    total_steps = t.max_steps or t.epochs * steps_per_epoch
    per_interval = 1 if cfg.schedule.interval == "step" else steps_per_epoch
    scheduler = build_scheduler(cfg, optimizer, math.ceil(total_steps / per_interval))
    plateau = cfg.schedule.name == "ReduceLROnPlateau"  # steps on the eval loss, after each evaluation
    resolved = to_dict(cfg)
    resolved["model"]["kwargs"] = model_kwargs
    examples_per_step = cfg.data.batch_size * t.grad_accum * world()[0]
    if dry_run:
        total_steps = min(total_steps, 2)

    # -------------------------------------------------------------------------- the step: one XLA program
    def train_step(micro_batches):
        optimizer.zero_grad()
        total = 0.0
        for x, y in micro_batches:
            loss = task_loss(loss_fn, model(_input(x, t.precision)), y) / t.grad_accum
            loss.backward()
            total = total + loss.detach()
        if t.grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), t.grad_clip)
        optimizer.step()
        return total

    eval_step = make_eval_step(net, loss_fn, data.info, t.precision)  # one device: its outputs are sums
    if t.compile:
        train_step, eval_step = torchish.compile(train_step), torchish.compile(eval_step)

    # -------------------------------------------------------------------------- resume
    step, epoch, batch, pending, best = 0, 0, 0, [], None
    if resume is not None:
        run_dir, paths = _resume_candidates(resume, cfg)
        path, state = load_latest(paths)
        restore(state, model=net, optimizer=optimizer, scheduler=scheduler)
        step, epoch, batch = state["step"], state["data"]["epoch"], state["data"]["batch"]
        pending, best = list(state["pending_losses"]), state["best"]
        _warn_config_changes(state.get("config"), resolved)
        print(f"resuming from {path} (step {step}, epoch {epoch}, batch {batch})", file=sys.stderr)

    first_step = step

    # -------------------------------------------------------------------------- outputs
    rank0 = world()[1] == 0
    if dry_run or not rank0:
        run_dir = None
    elif run_dir is None:
        run_dir = _new_run_dir(cfg)
    elif resume is None and candidates(os.path.join(run_dir, "checkpoints")):
        raise FileExistsError(f"{run_dir} already holds a run; continue it with --resume {run_dir}, or choose "
                              "another --out")
    if run_dir is not None:
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.yaml"), "w", encoding="utf-8") as f:
            f.write(dump_yaml(resolved))
        with open(os.path.join(run_dir, "command.txt"), "a", encoding="utf-8") as f:
            f.write(f"{datetime.datetime.now().isoformat(timespec='seconds')}  "
                    f"{' '.join(shlex.quote(a) for a in (argv or ['<python>']))}\n")
    columns = ["step", "epoch", "train_loss", "lr", "step_time", "examples_per_s", "eval_loss", "eval_accuracy"]
    if data.info.get("exact_match"):
        columns.append("eval_exact_match")
    log = MetricsLog(run_dir, cfg.log, columns, resume_step=step if resume is not None else None)
    ckpts = Checkpoints(run_dir, t.keep_last) if run_dir is not None else None
    console = Console(cfg.log.console, total_steps, step, desc=cfg.name or "train")
    n_params = sum(p.numel() for p in net.parameters())
    where = f" ({cfg.parallel.strategy})" if devices > 1 else ""
    console.print(f"{cfg.name}: {type(net).__name__} ({n_params:,} parameters) on {cfg.data.dataset or cfg.data.target}"
                  f", {total_steps} steps of {examples_per_step} examples, {devices} device(s){where}"
                  + (f"; run dir: {run_dir}" if run_dir else ""))
    mode = t.best_mode if t.best_mode != "auto" else ("min" if t.best_metric.endswith("loss") else "max")

    def snapshot():
        return training_state(model=net, optimizer=optimizer, scheduler=scheduler, step=step, epoch=epoch,
                              batch=batch, pending=pending, best=best, config=resolved)

    def record(rec: dict):
        nonlocal best
        log.write(rec)
        console.show(rec)
        if on_record is not None:
            on_record(rec)
        value = rec.get(t.best_metric)
        if value is not None and (best is None or (value < best["value"] if mode == "min" else value > best["value"])):
            best = {"metric": t.best_metric, "value": value, "step": step}
            if ckpts is not None:
                ckpts.save_best(snapshot())

    # -------------------------------------------------------------------------- the loop
    stop = _StopFlag()
    data.start_epoch(epoch, batch)
    batches = iter(data.train_loader)
    last_log, last_log_step, last_ckpt, last_eval = now(), step, None, None
    try:
        with stop:
            while step < total_steps:
                loss = train_step([next(batches) for _ in range(t.grad_accum)])
                pending.append(loss)  # NOTE [ No device sync per step ]
                step, batch = step + 1, batch + t.grad_accum
                epoch_end = batch == steps_per_epoch * t.grad_accum
                if epoch_end:
                    epoch, batch = epoch + 1, 0
                if scheduler is not None and not plateau and (cfg.schedule.interval == "step" or epoch_end):
                    scheduler.step()
                console.step()
                last = step == total_steps

                if step % t.log_every == 0 or last:
                    losses, pending = [float(x) for x in pending], []  # the one sync per log interval
                    elapsed = now() - last_log
                    record({"step": step, "epoch": epoch, "train_loss": sum(losses) / len(losses),
                            "lr": float(optimizer.param_groups[0]["lr"]),
                            "step_time": elapsed / max(1, step - last_log_step),
                            "examples_per_s": examples_per_step * (step - last_log_step) / max(elapsed, 1e-9)})
                    last_log, last_log_step = now(), step
                if data.eval_loader is not None and ((t.eval_every and step % t.eval_every == 0)
                                                     or (not t.eval_every and epoch_end) or last):
                    t_eval = now()
                    metrics = evaluate(net, eval_step, data.eval_loader, data.info, max_batches=1 if dry_run else None)
                    if plateau and scheduler is not None:
                        scheduler.step(metrics["eval_loss"])
                    record({"step": step, "epoch": epoch, **metrics})
                    last_eval, last_log = metrics, last_log + (now() - t_eval)  # eval time is not step time
                if ckpts is not None and ((t.checkpoint_every and step % t.checkpoint_every == 0)
                                          or (not t.checkpoint_every and epoch_end) or last or stop.hit):
                    last_ckpt = ckpts.save(snapshot(), step)
                if stop.hit:
                    break
                if epoch_end and not last:
                    data.start_epoch(epoch)
                    batches = iter(data.train_loader)
    finally:
        log.close()
        console.close()

    # -------------------------------------------------------------------------- the summary
    if dry_run:
        torchish.save(snapshot(), _NullFile())  # the checkpoint path works too, without writing a file
    elapsed = now() - started
    interrupted = stop.hit and step < total_steps
    summary = {"status": "interrupted" if interrupted else ("dry run" if dry_run else "finished"),
               "run_dir": run_dir, "step": step, "total_steps": total_steps, "epoch": epoch,
               "train_loss": log.last("train_loss"), **(last_eval or {}),
               "best": f"{best['metric']} {best['value']:.4f} at step {best['step']}" if best else None,
               "time": f"{elapsed:.1f} s",
               "examples_per_s": round(examples_per_step * (step - first_step) / elapsed, 1),
               "checkpoint": last_ckpt}
    summary = {k: v for k, v in summary.items() if v is not None}
    if run_dir is not None:
        torchish.save(net.state_dict(), os.path.join(run_dir, "model.pt"))
        with open(os.path.join(run_dir, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
        if cfg.log.plot and plot_curves(log.records, os.path.join(run_dir, "curves.png")):
            summary["curves"] = os.path.join(run_dir, "curves.png")
    if cfg.log.console:
        print("\n".join(summary_lines(summary)))
    if interrupted:
        resume_hint = f"resume with: torchish train --resume {run_dir}" if run_dir else ""
        print(f"interrupted at step {step}; {resume_hint}", file=sys.stderr)
        raise RunInterrupted(summary)
    return summary


# ------------------------------------------------------------------------------ the task: loss and metrics
def task_loss(loss_fn, out, y):
    """``loss_fn`` on classifier outputs (B, C), or on sequence outputs (B, T, V) flattened to tokens."""
    if out.dim() == 3:  # (B, T, V) -> (B*T, V)
        out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
    return loss_fn(out.float(), y)


def make_eval_step(model, loss_fn, info: dict, precision: str):
    """``eval_step(x, y, w) -> sums`` over a (padded) batch: ``w`` is 1.0 for real rows, 0.0 for padding."""
    per_item = copy.copy(loss_fn)
    per_item.reduction = "none"
    ignore = getattr(loss_fn, "ignore_index", -100)
    exact = bool(info.get("exact_match"))

    def eval_step(x, y, w):
        out = model(_input(x, precision)).float()
        real = w > 0  # (B,)
        if out.dim() == 3:  # sequences: (B, T, V), y (B, T)
            B, T = y.shape
            loss = per_item(out.reshape(B * T, -1), y.reshape(-1)).reshape(B, T)  # (B, T)
            tok = (y != ignore) & real[:, None]  # tokens that count
            hit = out.argmax(-1) == y  # (B, T)
            sums = {"loss": (loss * tok).sum(), "count": tok.sum(), "correct": (hit & tok).sum()}
            if exact:
                sums["exact"] = ((hit | ~tok).all(-1) & real).sum()
            sums["rows"] = real.sum()
            return sums
        loss = per_item(out, y)
        if loss.dim() > 1:  # element-wise losses (MSELoss, ...): mean per row
            loss = loss.reshape(loss.shape[0], -1).mean(1)
        sums = {"loss": (loss * w).sum(), "count": w.sum()}
        if not y.is_floating_point():
            sums["correct"] = ((out.argmax(-1) == y) & real).sum()
        return sums

    return eval_step


def evaluate(model, eval_step, loader, info: dict, max_batches: int | None = None) -> dict:
    """Metrics over ``loader``: eval_loss, eval_accuracy (integer targets), eval_exact_match."""
    was_training = model.training
    model.eval()
    totals: dict = {}
    size = loader.batch_size
    with torchish.no_grad():
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y, w = _pad(x, y, size)  # one batch shape: one compiled program
            for k, v in eval_step(x, y, w).items():
                totals[k] = totals[k] + v if k in totals else v
    model.train(was_training)
    count = float(totals["count"])
    metrics = {"eval_loss": float(totals["loss"]) / count}
    if "correct" in totals:
        metrics["eval_accuracy"] = float(totals["correct"]) / count
    if "exact" in totals:
        metrics["eval_exact_match"] = float(totals["exact"]) / float(totals["rows"])
    return metrics


def evaluate_checkpoint(cfg: Config, checkpoint: str, *, src: Sources | None = None) -> dict:
    """``torchish eval``: the eval metrics of the model in ``checkpoint`` (a training checkpoint or model.pt)."""
    src = src or Sources(cfg.name or "config")
    torchish.manual_seed(cfg.train.seed)
    data = build_data(cfg, src, seed=cfg.train.seed)
    if data.eval_loader is None:
        raise src.error("data.eval_split", "nothing to evaluate: data.eval_split is null (set it, e.g. "
                                           "data.eval_split=test)")
    net, _ = build_model(cfg, data.info, src)
    if cfg.train.precision == "bf16":
        net.to(torchish.bfloat16)
    state = torchish.load(checkpoint)
    net.load_state_dict(state["model"] if isinstance(state, dict) and "model" in state and "step" in state else state)
    eval_step = make_eval_step(net, build_loss(cfg), data.info, cfg.train.precision)
    if cfg.train.compile:
        eval_step = torchish.compile(eval_step)
    return evaluate(net, eval_step, data.eval_loader, data.info)


# ------------------------------------------------------------------------------ helpers
def _input(x, precision: str):
    return x.to(torchish.bfloat16) if precision == "bf16" and x.is_floating_point() else x


def _pad(x, y, size: int):
    """Pad a short last batch to ``size`` rows (zeros, weight 0) so evaluation compiles once."""
    n = x.shape[0]
    w = torchish.ones(size)
    if n == size:
        return x, y, w
    w[n:] = 0.0
    pad = size - n
    x = torchish.cat([x, torchish.zeros((pad, *x.shape[1:]), dtype=x.dtype)])
    y = torchish.cat([y, torchish.zeros((pad, *y.shape[1:]), dtype=y.dtype)])
    return x, y, w


def _join_process_group() -> None:
    """Under ``torchish run`` (WORLD_SIZE > 1 in the environment), join the process group first."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torchish.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group()


def _resolve_devices(cfg: Config, src: Sources) -> int:
    p = cfg.parallel
    available = jax.local_device_count()
    n = available if p.devices == "all" else p.devices
    if n > available:
        raise src.error("parallel.devices", f"{n} devices requested, {available} available on this machine")
    if cfg.data.batch_size % n:
        raise src.error("data.batch_size", f"{cfg.data.batch_size} does not split evenly over {n} devices; "
                                           f"use a multiple of {n}")
    return n


def _data_parallel(model, cfg: Config, devices: int):
    """``model`` wrapped for data parallelism over ``devices`` local devices (itself for one)."""
    if devices == 1:
        return model
    try:
        from torchish.nn.parallel import DistributedDataParallel
    except ImportError:
        raise NotImplementedError(
            f"parallel.devices resolves to {devices} devices, but this torchish has no data-parallel support yet "
            "(torchish.nn.parallel); set parallel.devices: 1") from None
    # NOTE: the step is unchanged: the wrapper splits each batch across the devices and averages
    # the gradients inside the compiled program.
    chosen = None if cfg.parallel.devices == "all" else list(range(devices))
    return DistributedDataParallel(model, strategy=cfg.parallel.strategy, devices=chosen)


def _new_run_dir(cfg: Config) -> str:
    base = os.path.join(cfg.train.out_dir, cfg.name or "run", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    path, n = base, 1
    while os.path.exists(path):
        n += 1
        path = f"{base}-{n}"
    return path


def _resume_candidates(resume: str, cfg: Config) -> tuple[str, list[str]]:
    """(run dir, checkpoints to try, newest first) for ``--resume`` [latest | RUN_DIR | CHECKPOINT]."""
    if resume == "latest":
        resume = find_run_dir(cfg.train.out_dir, cfg.name or "run")
    if os.path.isdir(resume):
        paths = candidates(os.path.join(resume, "checkpoints"))
        if not paths:
            raise FileNotFoundError(f"--resume: {resume} has no checkpoints (expected {resume}/checkpoints/step-*.pt)")
        return resume, paths
    if not os.path.isfile(resume):
        raise FileNotFoundError(f"--resume: {resume} is neither a run directory nor a checkpoint file")
    ckpt_dir = os.path.dirname(os.path.abspath(resume))
    older = [p for p in candidates(ckpt_dir) if os.path.abspath(p) != os.path.abspath(resume)]
    run_dir = os.path.dirname(ckpt_dir) if os.path.basename(ckpt_dir) == "checkpoints" else ckpt_dir
    if os.path.basename(resume).startswith("step-"):
        mine = os.path.basename(resume)
        older = [p for p in older if os.path.basename(p) < mine]
    return run_dir, [resume] + older


def _warn_config_changes(saved: dict | None, now_cfg: dict) -> None:
    """Resuming with a different config is allowed (e.g. more epochs) but is no longer an exact resume."""
    if not saved:
        return
    changed = []

    def walk(a, b, prefix):
        for k in sorted(set(a) | set(b)):
            va, vb = a.get(k), b.get(k)
            if isinstance(va, dict) and isinstance(vb, dict) and k != "kwargs":
                walk(va, vb, f"{prefix}{k}.")
            elif va != vb:
                changed.append(f"{prefix}{k}: {va!r} -> {vb!r}")

    walk(saved, now_cfg, "")
    if changed:
        print("note: the config differs from the checkpoint's: " + "; ".join(changed), file=sys.stderr)


class _StopFlag:
    """Ctrl-C (SIGINT) and SIGTERM set ``hit``: the loop finishes its step, checkpoints and stops.
    A second Ctrl-C raises KeyboardInterrupt at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.hit = False
        self._old = {}

    def _handle(self, signum, frame):
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True
        print(f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint "
              "(press Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


class _NullFile:
    """A binary sink: ``torchish.save(obj, _NullFile())`` checks that ``obj`` serializes."""

    def write(self, b):
        return len(b)
