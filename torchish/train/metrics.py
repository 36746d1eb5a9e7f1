"""Where a run's numbers go: metrics.jsonl, metrics.csv, TensorBoard, the console, curves.png.

Records are flat dicts: ``{"step", "epoch", "train_loss", "lr", "step_time", "examples_per_s"}``
every ``log_every`` steps and ``{"step", "epoch", "eval_loss", "eval_accuracy", ...}`` after each
evaluation.  On resume, records after the checkpoint's step are dropped from the files (they
will be produced again), so an interrupted-and-resumed run ends with the same files as an
uninterrupted one (up to the timing fields).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time

__all__ = ["MetricsLog", "Console", "plot_curves", "summary_lines", "read_records", "TIMING_KEYS"]

TIMING_KEYS = ("step_time", "examples_per_s", "time")  # differ between otherwise identical runs


class MetricsLog:
    """Appends records to the enabled files; keeps them in memory for the plot and the summary."""

    def __init__(self, run_dir: str | None, log_cfg, columns: list[str], *, resume_step: int | None = None):
        self.records: list[dict] = []
        self.columns = columns
        self.jsonl = self.csv = self.tb = None
        if run_dir is None:
            return
        jsonl_path, csv_path = os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "metrics.csv")
        if resume_step is not None:
            self.records = [r for r in read_records(jsonl_path) if r.get("step", 0) <= resume_step]
        if log_cfg.jsonl:
            _replace(jsonl_path, "".join(json.dumps(r) + "\n" for r in self.records))
            self.jsonl = open(jsonl_path, "a", encoding="utf-8")
        if log_cfg.csv:
            buf = io.StringIO()
            table = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
            table.writeheader()
            table.writerows(self.records)
            _replace(csv_path, buf.getvalue())
            self.csv_file = open(csv_path, "a", newline="", encoding="utf-8")
            self.csv = csv.DictWriter(self.csv_file, fieldnames=columns, extrasaction="ignore")
        if log_cfg.tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                print("note: log.tensorboard is on but tensorboardX is not installed "
                      "(pip install 'torchish[tensorboard]'); skipping TensorBoard logging", file=sys.stderr)
            else:
                purge = None if resume_step is None else resume_step + 1
                self.tb = SummaryWriter(os.path.join(run_dir, "tensorboard"), purge_step=purge)

    def write(self, record: dict) -> None:
        self.records.append(record)
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(record) + "\n")
            self.jsonl.flush()
        if self.csv is not None:
            self.csv.writerow(record)
            self.csv_file.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)):
                    group = "eval" if k.startswith("eval_") else "train"
                    self.tb.add_scalar(f"{group}/{k}", v, record["step"])

    def last(self, key: str):
        for r in reversed(self.records):
            if key in r:
                return r[key]
        return None

    def close(self) -> None:
        for f in (self.jsonl, getattr(self, "csv_file", None)):
            if f is not None:
                f.close()
        if self.tb is not None:
            self.tb.close()


def read_records(path: str) -> list[dict]:
    """The records of a metrics.jsonl (a line torn by a killed process is skipped)."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _replace(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a kill mid-write leaves the old file)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


class Console:
    """Progress on stderr: a tqdm bar on a terminal, otherwise one line per log record."""

    def __init__(self, enabled: bool, total: int, initial: int, desc: str):
        self.enabled, self.bar = enabled, None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True)
        self.total = total

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def show(self, record: dict) -> None:
        if not self.enabled:
            return
        line = "  ".join([f"step {record['step']}/{self.total}"] + [f"{k} {_fmt(v)}" for k, v in record.items()
                                                                    if k not in ("step", "time")])
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
        elif "train_loss" in record:  # training records update the bar; evaluations are printed above it
            self.bar.set_postfix({k: _fmt(record[k]) for k in ("train_loss", "lr", "examples_per_s")}, refresh=False)
        else:
            self.bar.write(line, file=sys.stderr)

    def print(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        elif self.enabled:
            print(msg, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3e}"
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def plot_curves(records: list[dict], path: str) -> bool:
    """Loss (train and eval) and accuracy curves against the step, as a PNG (matplotlib, Agg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; skipping curves.png", file=sys.stderr)
        return False

    def series(key):
        pts = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return [p[0] for p in pts], [p[1] for p in pts]

    acc_keys = [k for k in ("eval_accuracy", "eval_exact_match") if series(k)[0]]
    fig, axes = plt.subplots(1, 2 if acc_keys else 1, figsize=(11 if acc_keys else 6, 4), squeeze=False)
    ax = axes[0][0]
    for key, style in (("train_loss", "-"), ("eval_loss", "o-")):
        xs, ys = series(key)
        if xs:
            ax.plot(xs, ys, style, label=key, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if acc_keys:
        ax = axes[0][1]
        for key in acc_keys:
            xs, ys = series(key)
            ax.plot(xs, ys, "o-", label=key, markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def summary_lines(summary: dict) -> list[str]:
    """The end-of-run table: one ``name  value`` row per entry."""
    width = max(len(k) for k in summary)
    rule = "-" * (width + 40)
    return [rule] + [f"{k:<{width}}  {_fmt(v) if isinstance(v, float) else v}" for k, v in summary.items()] + [rule]


def now() -> float:
    return time.perf_counter()
