"""``torchish.train``: config-driven training runs (``torchish train CONFIG.yaml``).

Read ``loop.py`` for the run itself, ``config.py`` for every setting and its default, and
``docs/train.md`` for the user's view.  Python use::

    cfg = torchish.train.load_config("configs/digits_mlp.yaml", ["train.epochs=5"])
    summary = torchish.train.train(cfg)
"""

from .config import Config as Config
from .config import ConfigError as ConfigError
from .config import Sources as Sources
from .config import config_from_dict as config_from_dict
from .config import dump_yaml as dump_yaml
from .config import load_config as load_config
from .config import parse_overrides as parse_overrides
from .config import to_dict as to_dict
from .loop import RunInterrupted as RunInterrupted
from .loop import evaluate_checkpoint as evaluate_checkpoint
from .loop import train as train
from .registry import register_dataset as register_dataset
from .registry import register_model as register_model

__all__ = ["Config", "ConfigError", "RunInterrupted", "Sources", "config_from_dict", "dump_yaml", "evaluate_checkpoint",
           "load_config", "parse_overrides", "register_dataset", "register_model", "to_dict", "train"]
