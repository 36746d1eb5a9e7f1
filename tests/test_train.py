"""torchish train: the shipped configs, the main job's accuracy, exact resume after SIGKILL and
Ctrl-C, corrupt-checkpoint fallback, and torchish eval."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import torchish
import torchish.train
from torchish import cli
from torchish.train.metrics import TIMING_KEYS, read_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")


def config(name):
    return os.path.join(CONFIGS, f"{name}.yaml")


def read_jsonl(path):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in read_records(path)]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def same_state(a_path, b_path):
    a, b = torchish.load(a_path), torchish.load(b_path)
    assert a.keys() == b.keys()
    return all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


# ----------------------------------------------------------------------------- every config builds and steps
@pytest.mark.parametrize("name, extra", [
    ("digits_mlp", []), ("digits_cnn", []), ("addition_gpt", []), ("digits_ddp", []),
    ("digits_mlp", ["train.precision=bf16", "train.grad_accum=2", "train.grad_clip=1.0"]),
])
def test_dry_run(name, extra, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", config(name), *extra, "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "dry run" in out.out and "eval_loss" in out.out
    if name == "digits_ddp":
        assert "8 device(s) (pmap)" in out.err  # tests run with 8 fake CPU devices (conftest.py)
    assert os.listdir(tmp_path) == []  # a dry run writes nothing


# ----------------------------------------------------------------------------- the README's main job
def test_digits_mlp_accuracy_outputs_eval_and_corrupt_fallback(tmp_path, capsys):
    run = str(tmp_path / "run")
    t0 = time.perf_counter()
    assert cli.main(["train", config("digits_mlp"), "--out", run]) == 0
    took = time.perf_counter() - t0
    summary = read_json(os.path.join(run, "summary.json"))
    assert summary["status"] == "finished" and summary["step"] == summary["total_steps"] == 1760
    assert summary["eval_accuracy"] >= 0.95, summary
    print(f"digits_mlp: {summary['eval_accuracy']:.4f} test accuracy in {took:.1f} s")
    for f in ("config.yaml", "command.txt", "metrics.jsonl", "metrics.csv", "curves.png", "model.pt",
              "checkpoints/best.pt", "checkpoints/step-00001760.pt"):
        assert os.path.exists(os.path.join(run, f)), f
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == [
        "best.pt", "step-00001000.pt", "step-00001500.pt", "step-00001760.pt"]  # keep_last: 3
    records = read_jsonl(os.path.join(run, "metrics.jsonl"))
    assert records[-1]["eval_accuracy"] == summary["eval_accuracy"]
    assert [r["step"] for r in records if "train_loss" in r][:3] == [50, 100, 150]
    ckpt = torchish.load(os.path.join(run, "checkpoints", "step-00001760.pt"))
    assert ckpt["config"]["model"]["kwargs"] == {"hidden": [1024], "dropout": 0.5, "in_features": 64, "num_classes": 10}
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "rng", "data", "step", "epoch", "versions"}

    # torchish eval: the saved model scores what the run reported
    capsys.readouterr()
    assert cli.main(["eval", config("digits_mlp"), "--checkpoint", os.path.join(run, "model.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["eval_accuracy"] == summary["eval_accuracy"]
    assert cli.main(["eval", config("digits_mlp"), "--checkpoint", os.path.join(run, "nope.pt")]) == 2

    # a truncated newest checkpoint is reported and the previous one is used; the result is the same
    final = str(tmp_path / "final.pt")
    shutil.copy(os.path.join(run, "model.pt"), final)
    newest = os.path.join(run, "checkpoints", "step-00001760.pt")
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    capsys.readouterr()
    assert cli.main(["train", config("digits_mlp"), "--resume", run]) == 0
    err = capsys.readouterr().err
    assert "skipping checkpoint" in err and "truncated" in err and "step-00001500.pt" in err
    assert same_state(final, os.path.join(run, "model.pt"))
    assert read_jsonl(os.path.join(run, "metrics.jsonl")) == records


# ----------------------------------------------------------------------------- exact resume: SIGKILL, Ctrl-C
SLOW_DIGITS = """
import time
from torchish.vision.datasets import Digits

class SlowDigits(Digits):
    '''The shipped digits, slowed down so a test can interrupt a run mid-epoch.'''
    def __getitem__(self, index):
        time.sleep(0.002)
        return super().__getitem__(index)
"""

RESUME_CONFIG = """
model: {name: MLP, kwargs: {hidden: [64], dropout: 0.2}}
data:
  target: slowdigits.SlowDigits
  batch_size: 32
  augment: [{name: RandomCrop, size: 8, padding: 1}]
optim: {name: AdamW, lr: 3.0e-3, weight_decay: 1.0e-2}
schedule: {name: CosineAnnealingLR, warmup: 5}
train: {max_steps: 60, log_every: 7, eval_every: 20, checkpoint_every: 10, keep_last: 10}
log: {plot: false}
"""


def _wait_for(predicate, proc, what, timeout=120):
    t0 = time.time()
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}:\n{err[-3000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_resume_after_sigkill_and_ctrl_c_is_bit_exact(tmp_path):
    (tmp_path / "slowdigits.py").write_text(SLOW_DIGITS)
    cfg = tmp_path / "resume.yaml"
    cfg.write_text(RESUME_CONFIG)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))

    def start(*args):
        return subprocess.Popen([sys.executable, "-m", "torchish", "train", str(cfg), *args], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # the reference: uninterrupted
    ref = str(tmp_path / "ref")
    p = start("--out", ref)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]

    # kill -9 mid-epoch, right after the step-20 checkpoint
    run = str(tmp_path / "run")
    p = start("--out", run)
    _wait_for(lambda: os.path.exists(os.path.join(run, "checkpoints", "step-00000020.pt")), p, "the step-20 checkpoint")
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(run, "summary.json"))

    # resume; Ctrl-C once it has logged past step 35: it checkpoints that step and exits cleanly
    p = start("--resume", run)
    records_past = lambda: any(r["step"] >= 35 for r in read_jsonl(os.path.join(run, "metrics.jsonl")))  # noqa: E731
    _wait_for(records_past, p, "step 35")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-3000:]
    assert "SIGINT: finishing this step and saving a checkpoint" in err and "Traceback" not in err
    summary = read_json(os.path.join(run, "summary.json"))
    assert summary["status"] == "interrupted" and 35 <= summary["step"] < 60
    assert os.path.exists(os.path.join(run, "checkpoints", f"step-{summary['step']:08d}.pt"))

    # resume again, to the end: same parameters and same metrics as the uninterrupted run
    p = start("--resume", run)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert same_state(os.path.join(ref, "model.pt"), os.path.join(run, "model.pt"))
    ref_records, run_records = read_jsonl(os.path.join(ref, "metrics.jsonl")), read_jsonl(os.path.join(run, "metrics.jsonl"))
    assert run_records == ref_records
    assert [r["step"] for r in ref_records if "eval_loss" in r] == [20, 40, 60]
    with open(os.path.join(run, "command.txt")) as f:
        assert len(f.readlines()) == 3  # the command line of each of the three invocations


def test_metrics_log_without_tensorboardx(tmp_path, capsys, monkeypatch):
    from torchish.train.config import LogConfig
    from torchish.train.metrics import MetricsLog

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    log = MetricsLog(str(tmp_path), LogConfig(tensorboard=True), ["step", "train_loss"])
    log.write({"step": 1, "epoch": 0, "train_loss": 0.5})
    log.close()
    assert "tensorboardX is not installed" in capsys.readouterr().err
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,train_loss", "1,0.5"]


def test_tune_runs_trials_and_writes_the_best_config(tmp_path, capsys):
    pytest.importorskip("optuna", reason="optuna (optional, in the test extra) runs torchish tune")
    out = tmp_path / "tune"
    assert cli.main(["tune", config("digits_tune"), "--trials", "3", "--out", str(out), "train.max_steps=30",
                     "train.eval_every=10", "train.checkpoint_every=30"]) == 0
    printed = capsys.readouterr().out
    assert "best: trial" in printed and "eval_accuracy" in printed.splitlines()[0]
    assert sorted(os.listdir(out)) == ["best.yaml", "trial-000", "trial-001", "trial-002", "trials.csv"]
    best = torchish.train.load_config(out / "best.yaml")
    assert 1e-3 <= best.optim.lr <= 3e-2 and best.model.kwargs["hidden"] in ([256], [1024], [512, 512])
    assert best.train.max_steps == 30  # the command-line overrides carry into every trial


def test_builtin_models_shapes():
    # MLP, CNN and GPT train in the shipped configs' dry runs; these are the other shapes
    from torchish.train import models

    resnet = models.ResNet(1, 10, width=4, layers=(1, 1, 1, 1)).eval()
    lstm = models.LSTM(12, embed_dim=8, hidden_size=16).eval()
    with torchish.no_grad():
        assert torchish.compile(resnet)(torchish.zeros(2, 1, 8, 8)).shape == (2, 10)
        assert torchish.compile(resnet)(torchish.zeros(2, 1, 32, 32)).shape == (2, 10)
        assert torchish.compile(lstm)(torchish.zeros(2, 5, dtype=torchish.long)).shape == (2, 5, 12)
    with pytest.raises(ValueError, match=r"GPT: n_embd \(10\) must be divisible by n_head \(4\)"):
        models.GPT(12, 8, n_head=4, n_embd=10)


def _idx(path, arr):
    import gzip
    import struct

    code = {1: 0x801, 3: 0x803}[arr.ndim]
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", code) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes())


def test_mnist_from_the_users_files(tmp_path, capsys):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 32)):
        _idx(raw / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _idx(raw / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,), dtype=np.uint8))
    cfg = tmp_path / "mnist.yaml"
    cfg.write_text(f"model: {{name: MLP, kwargs: {{hidden: [8]}}}}\n"
                   f"data: {{dataset: mnist, kwargs: {{root: '{tmp_path / 'data'}'}}, batch_size: 16,"
                   " transforms: [{name: Normalize, mean: [0.13], std: [0.31]}]}\n")
    assert cli.main(["train", str(cfg), "--dry-run"]) == 0
    assert "MLP (6,370 parameters) on mnist" in capsys.readouterr().err  # 784 inputs, from the dataset
    assert cli.main(["train", str(cfg), "data.kwargs.root=/nowhere", "--dry-run"]) == 2
    assert "data.dataset: cannot load the 'train' split of MNIST: Dataset not found" in capsys.readouterr().err
