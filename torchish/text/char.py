"""``CharDataset``: character-level language modelling over any text (minGPT-style)."""

from __future__ import annotations

import os

import numpy as np

from ..utils.data import Dataset
from ..utils.data._utils import host

_DATA = os.path.join(os.path.dirname(__file__), "data")


def load_text(name: str = "sonnets") -> str:
    """A text shipped with torchish: ``'sonnets'`` (six Shakespeare sonnets, public domain, ~3.7 KB)."""
    path = os.path.join(_DATA, f"{name}.txt")
    if not os.path.isfile(path):
        shipped = sorted(f[:-4] for f in os.listdir(_DATA) if f.endswith(".txt"))
        raise ValueError(f"load_text: no shipped text named {name!r}; available: {shipped}")
    with open(path, encoding="utf-8") as f:
        return f.read()


def _ids(tokens) -> list[int]:
    if hasattr(tokens, "tolist"):
        tokens = tokens.tolist()
    return [int(t) for t in np.ravel(np.asarray(tokens, dtype=np.int64))]


class CharDataset(Dataset):
    """Every window of ``block_size + 1`` characters of a text, as (input, next-character target).

    Sample ``i`` is ``(x, y)`` with ``x = ids[i : i + block_size]`` and ``y = ids[i + 1 : i + block_size + 1]``
    (int64 tensors), so ``cross_entropy(model(x).view(-1, V), y.view(-1))`` trains next-character
    prediction.  The vocabulary is the sorted set of characters of the text (or ``vocab``).

    Args:
        text: the text; default: the shipped Shakespeare sonnets (``load_text()``).
        block_size: context length.
        path: read the text from this file instead (UTF-8).
        vocab: a fixed vocabulary (string or list of characters), e.g. to share it between splits.

    Example:
        >>> ds = CharDataset(block_size=32)
        >>> x, y = ds[0]
        >>> ds.decode(x)[:12], ds.vocab_size
        ('Sonnet 18\\n\\nS', 59)
    """

    def __init__(self, text: str | None = None, block_size: int = 128, *, path: str | None = None, vocab=None):
        if path is not None:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        if text is None:
            text = load_text()
        if block_size < 1:
            raise ValueError(f"block_size should be a positive integer, got {block_size}")
        if len(text) <= block_size:
            raise ValueError(f"the text has {len(text)} characters; it needs more than block_size={block_size}")
        self.chars = sorted(set(text)) if vocab is None else list(vocab)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))
        self.vocab_size = len(self.chars)
        self.block_size = block_size
        self.data = np.asarray(self.encode(text), dtype=np.int64)

    def encode(self, s: str) -> list[int]:
        try:
            return [self.stoi[c] for c in s]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the vocabulary of this CharDataset") from None

    def decode(self, ids) -> str:
        """Token ids (list, NumPy array or tensor) back to text."""
        return "".join(self.itos[i] for i in _ids(ids))

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, idx):
        chunk = self.data[idx: idx + self.block_size + 1]
        return host.host_tensor(chunk[:-1]), host.host_tensor(chunk[1:])

    def _torchish_getbatch_(self, indices):
        if type(self).__getitem__ is not CharDataset.__getitem__:
            return NotImplemented
        idx = np.asarray(indices, dtype=np.int64)[:, None] + np.arange(self.block_size + 1)
        chunks = self.data[idx]
        return [host.to_tensor(chunks[:, :-1]), host.to_tensor(chunks[:, 1:])]
