"""torchish.train config: schema, errors before any work, overrides and precedence, the CLI surface."""

import os
import subprocess
import sys

import pytest
import yaml

import torchish
from torchish import cli
from torchish.train import ConfigError, dump_yaml, load_config, parse_overrides, to_dict
from torchish.train.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")


def write(tmp_path, text, name="x.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


BASE = """
model: {name: MLP, kwargs: {hidden: [32]}}
data: {dataset: digits, batch_size: 32}
optim: {name: AdamW, lr: 0.01}
"""


# ----------------------------------------------------------------------------- loading and defaults
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "addition_gpt", "digits_ddp"])
def test_shipped_configs_load(name):
    cfg = load_config(os.path.join(CONFIGS, f"{name}.yaml"))
    assert cfg.name == name
    assert isinstance(cfg, Config)


def test_defaults_file_and_command_line_precedence(tmp_path):
    path = write(tmp_path, BASE + "train: {epochs: 3}\n")
    cfg = load_config(path)
    assert cfg.optim.lr == 0.01  # file beats default (1e-3)
    assert cfg.train.epochs == 3
    assert cfg.train.log_every == 10  # default, from config.py
    assert cfg.data.eval_split == "test"
    cfg = load_config(path, ["optim.lr=0.5", "train.epochs=7", "model.kwargs.hidden=[64, 16]", "name=mine"])
    assert (cfg.optim.lr, cfg.train.epochs, cfg.model.kwargs["hidden"], cfg.name) == (0.5, 7, [64, 16], "mine")
    assert cfg.data.batch_size == 32  # untouched file value


def test_values_are_typed_by_the_schema(tmp_path):
    path = write(tmp_path, BASE + "train: {grad_clip: 1}\n")
    cfg = load_config(path, ["optim.lr=1e-3", "train.max_steps=5", "parallel.devices=all"])
    assert isinstance(cfg.optim.lr, float) and cfg.optim.lr == 1e-3  # YAML 1.1 would read "1e-3" as a string
    assert isinstance(cfg.train.grad_clip, float)
    assert cfg.train.max_steps == 5 and cfg.parallel.devices == "all"
    assert load_config(path, {"data.eval_split": None}).data.eval_split is None


def test_print_config_round_trips(tmp_path, capsys):
    path = write(tmp_path, BASE)
    assert cli.main(["train", path, "optim.lr=0.25", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == to_dict(load_config(path, ["optim.lr=0.25"]))
    assert printed["optim"]["lr"] == 0.25 and printed["train"]["precision"] == "fp32"
    assert yaml.safe_load(dump_yaml(printed)) == printed


def test_parse_overrides():
    assert parse_overrides(["a.b=1", "c=[1, 2]", "d=x", "e=null"]) == {"a.b": 1, "c": [1, 2], "d": "x", "e": None}
    with pytest.raises(ConfigError, match=r"command line: bad override 'optim\.lr': expected key\.sub=value"):
        parse_overrides(["optim.lr"])


# ----------------------------------------------------------------------------- errors name the file and key
@pytest.mark.parametrize("text, pattern", [
    (BASE.replace("lr: 0.01", "lrr: 0.01"), r"x\.yaml: optim\.lrr: unknown key; did you mean 'lr'\?"),
    (BASE + "trian: {epochs: 1}\n", r"x\.yaml: trian: unknown key; did you mean 'train'\?"),
    (BASE + "train: {epochs: many}\n", r"x\.yaml: train\.epochs: expected an integer, got 'many'"),
    (BASE + "train: {precision: fp16}\n", r"x\.yaml: train\.precision: expected 'fp32' or 'bf16', got 'fp16'"),
    (BASE + "data: {batch_size: 32}\n", r"x\.yaml: data\.dataset: missing required field"),
    ("data: {dataset: digits}\n", r"x\.yaml: model\.name: missing required field"),
    (BASE.replace("name: MLP", "name: MLPP"), r"x\.yaml: model\.name: unknown model 'MLPP'; did you mean 'MLP'\?"),
    (BASE.replace("AdamW", "Adamw"), r"x\.yaml: optim\.name: unknown optimizer 'Adamw'; did you mean 'AdamW'\?"),
    (BASE + "schedule: {name: CosineAnealingLR}\n",
     r"x\.yaml: schedule\.name: unknown scheduler 'CosineAnealingLR'; did you mean 'CosineAnnealingLR'\?"),
    (BASE.replace("digits", "digit"), r"x\.yaml: data\.dataset: unknown dataset 'digit'; did you mean 'digits'\?"),
    (BASE.replace("hidden: [32]", "hiden: [32]"),
     r"x\.yaml: model\.kwargs\.hiden: MLP has no argument 'hiden'; did you mean 'hidden'\?"),
    (BASE + "loss: {name: CrossEntropyLoss, kwargs: {label_smoothin: 0.1}}\n",
     r"loss\.kwargs\.label_smoothin: CrossEntropyLoss has no argument 'label_smoothin'"),
    (BASE.replace("lr: 0.01", "lr: 0.01, kwargs: {lr: 1}"), r"optim\.kwargs\.lr: AdamW's lr is set by the trainer, from optim\.lr"),
    (BASE + "data: {dataset: digits, augment: [{name: RandomCrp, size: 8}]}\n",
     r"data\.augment\[0\]\.name: unknown transform 'RandomCrp'; did you mean 'RandomCrop'\?"),
    (BASE + "data: {dataset: digits, eval_split: tst}\n", r"data\.eval_split: unknown split 'tst'; did you mean 'test'\?"),
    (BASE + "data: {dataset: mnist}\n", r"data\.kwargs: MNIST needs argument 'root': set data\.kwargs\.root"),
    (BASE + "model: {target: nowhere_pkg.Net}\n", r"model\.target: cannot import 'nowhere_pkg'"),
    (BASE + "model: {target: collections.OrderedDict}\n", r"model\.target: collections\.OrderedDict is not a torchish\.nn\.Module"),
    (BASE + "train: {batch: 3}\n", r"train\.batch: unknown key"),
    (BASE + "data: {dataset: digits, batch_size: 0}\n", r"data\.batch_size: must be a positive integer, got 0"),
    (BASE + "train: {best_metric: eval_acc}\n", r"train\.best_metric: unknown metric 'eval_acc'; did you mean 'eval_accuracy'\?"),
    ("- a\n- b\n", r"x\.yaml: expected a mapping of sections"),
    ("model: [\n", r"x\.yaml: not valid YAML"),
])
def test_bad_config_errors(tmp_path, text, pattern):
    # later sections in a YAML mapping replace earlier ones: BASE + "data: {...}" replaces data
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_errors_from_the_command_line_say_so(tmp_path):
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError, match=r"^command line: optim\.lrr: unknown key; did you mean 'lr'\?"):
        load_config(path, ["optim.lrr=0.1"])
    with pytest.raises(ConfigError, match=r"^command line: data\.augment\[0\]: expected \{name"):
        load_config(path, ["data.augment=[{name:RandomCrop}]"])  # YAML needs "name: RandomCrop"
    with pytest.raises(ConfigError, match=r"^command line: train\.epochs: expected an integer, got 2\.5"):
        load_config(path, ["train.epochs=2.5"])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the config file"):
        load_config(tmp_path / "nope.yaml")


def test_user_model_by_dotted_path(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        "from torchish import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, in_features, num_classes, width=8):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.Linear(width, num_classes))\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, BASE.replace("name: MLP, kwargs: {hidden: [32]}", "target: mymodels.Net, kwargs: {width: 4}"))
    cfg = load_config(path)
    from torchish.train import registry
    from torchish.train.config import Sources

    model, kwargs = registry.build_model(cfg, {"in_features": 64, "num_classes": 10}, Sources(path))
    assert kwargs == {"width": 4, "in_features": 64, "num_classes": 10}
    assert model(torchish.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ConfigError, match=r"model\.kwargs\.widht: Net has no argument 'widht'; did you mean 'width'\?"):
        load_config(path, ["model.kwargs={widht: 4}"])


def test_param_groups_and_no_decay(tmp_path):
    from torchish.train import registry
    from torchish.train.config import Sources

    path = write(tmp_path, BASE.replace("name: MLP, kwargs: {hidden: [32]}", "name: CNN, kwargs: {channels: [4]}")
                 + "optim: {name: AdamW, lr: 0.01, weight_decay: 0.1, no_decay: [bias, norm],"
                   " param_groups: [{params: 'head.*', lr: 0.5}]}\n")
    cfg = load_config(path)
    model, _ = registry.build_model(cfg, {"in_channels": 1, "num_classes": 10}, Sources(path))
    opt = registry.build_optimizer(cfg, model)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [({names[id(p)] for p in g["params"]}, g["lr"], g["weight_decay"]) for g in opt.param_groups]
    decayed = [g for g in groups if g[2] == 0.1 and g[1] == 0.01]
    assert [g[0] for g in decayed] == [{"features.0.0.weight", "features.1.0.weight"}]  # conv weights; not BN, biases
    head = [g for g in groups if g[1] == 0.5]
    assert {n for g in head for n in g[0]} == {"head.3.weight", "head.3.bias"}
    assert sum(len(g[0]) for g in groups) == len(names)


# ----------------------------------------------------------------------------- the command line
def test_cli_help_and_unknown_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "eval" in out and "run" in out
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--help"])
    assert e.value.code == 0
    assert "--resume" in capsys.readouterr().out
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'; did you mean 'train'?" in capsys.readouterr().err


def test_cli_reports_config_errors(tmp_path, capsys):
    path = write(tmp_path, BASE)
    assert cli.main(["train", path, "optim.lrr=1"]) == 2
    assert "torchish train: error: command line: optim.lrr: unknown key; did you mean 'lr'?" in capsys.readouterr().err


def test_cli_run_hands_arguments_to_the_launcher(monkeypatch):
    import types

    seen = []
    fake = types.ModuleType("torchish.distributed.run")
    fake.main = lambda argv: seen.append(argv) or 0
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: True)
    monkeypatch.setitem(sys.modules, "torchish.distributed.run", fake)
    assert cli.main(["run", "--nproc-per-node", "2", "train.py", "--lr", "1"]) == 0
    assert seen == [["--nproc-per-node", "2", "train.py", "--lr", "1"]]


def test_python_dash_m_torchish():
    r = subprocess.run([sys.executable, "-m", "torchish", "--version"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"torchish {torchish.__version__}"


@pytest.mark.parametrize("space, pattern", [
    ("{optim.lrr: {low: 0.1, high: 1.0}}", r"x\.yaml: tune\.space\.optim\.lrr: unknown key; did you mean 'lr'\?"),
    ("{model.name: {choices: [MLP, Foo]}}", r"x\.yaml: tune\.space\.model\.name: unknown model 'Foo'"),
    ("{train.epochs: {low: 1.5, high: 3}}", r"tune\.space\.train\.epochs: expected an integer, got 1\.5"),
    ("{optim.lr: {low: 0.0, high: 1.0, log: true}}", r"tune\.space\.optim\.lr: a log range needs low > 0"),
    ("{optim.lr: [0.1, 0.2]}", r"tune\.space\.optim\.lr: expected \{low: <number>, high: <number>"),
    ("{}", r"tune\.space: empty"),
])
def test_tune_space_errors(tmp_path, space, pattern):
    from torchish.train.tune import parse_space

    path = write(tmp_path, BASE + f"tune: {{space: {space}}}\n")
    with pytest.raises(ConfigError, match=pattern):
        parse_space(load_config(path), path)
