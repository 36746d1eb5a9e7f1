"""``torchish.text``: small text datasets for sequence models (beyond PyTorch).

``CharDataset`` (character-level language modelling over any text; ships six Shakespeare
sonnets, ``load_text()``) and ``AdditionDataset`` (the synthetic "123+456=579" task with a
tokenizer and exact-match evaluation).
"""

from .addition import AdditionDataset as AdditionDataset
from .addition import AdditionTokenizer as AdditionTokenizer
from .char import CharDataset as CharDataset
from .char import load_text as load_text

__all__ = ["AdditionDataset", "AdditionTokenizer", "CharDataset", "load_text"]
