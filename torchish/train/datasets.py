"""Small sequence datasets for config-driven runs: integer addition and character-level text.

NOTE: these are local to the trainer until ``torchish.text`` provides equivalents; the registry
(``registry.DATASETS``) is the one place that says which class backs each dataset name.
"""

from __future__ import annotations

import numpy as np

from torchish.utils.data import Dataset
from torchish.utils.data._utils import host

__all__ = ["Addition", "CharText"]

IGNORE_INDEX = -100  # PyTorch's CrossEntropyLoss default ignore_index: targets that carry no loss


class _TokenDataset(Dataset):
    """Rows of ``self.x`` / ``self.y`` (int64 NumPy arrays); whole batches are one fancy index."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        return host.host_tensor(self.x[index]), host.host_tensor(self.y[index])

    def _torchish_getbatch_(self, indices):
        idx = np.asarray(indices, dtype=np.int64)
        return [host.to_tensor(self.x[idx]), host.to_tensor(self.y[idx])]


class Addition(_TokenDataset):
    """Every sum ``a + b`` of two ``digits``-digit numbers, as GPT-style next-token sequences.

    A problem is the tokens ``a + b =`` followed by the digits of ``c = a + b`` reversed (least
    significant first, as one adds by hand), all zero-padded to fixed widths: ``17+05=220`` is
    17 + 5 = 22.  ``x`` is the sequence without its last token, ``y`` the sequence shifted by one
    with every position before the answer set to -100 (no loss): the model is trained and scored
    on the answer only.  A prediction is exactly right when all ``digits + 1`` answer tokens are
    (greedy decoding then reproduces it).  The problems are split once, by ``seed``, into a
    training set and a held-out test set of ``test_fraction`` of them.

    Args:
        split: ``'train'`` or ``'test'``.
        digits: digits per operand (the task has ``10 ** (2 * digits)`` problems).
        test_fraction: share of the problems held out for ``'test'``.
        seed: the split.

    Shape: ``x``, ``y``: int64 (3 * digits + 2,); vocabulary ``0-9 + =`` (12 tokens).
    """

    vocab = list("0123456789+=")

    def __init__(self, split: str = "train", digits: int = 2, test_fraction: float = 0.1, seed: int = 0):
        if split not in ("train", "test"):
            raise ValueError(f"Addition: split should be 'train' or 'test', got {split!r}")
        if not 1 <= digits <= 4:
            raise ValueError(f"Addition: digits should be 1..4 (10 ** (2 * digits) problems), got {digits}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Addition: test_fraction should be in (0, 1), got {test_fraction}")
        self.split, self.digits = split, digits
        n = 10 ** digits
        perm = np.random.default_rng(seed).permutation(n * n)
        n_test = max(1, int(round(test_fraction * n * n)))
        pick = perm[:n_test] if split == "test" else perm[n_test:]
        a, b = pick // n, pick % n
        seq = np.concatenate([_digits(a, digits), np.full((len(a), 1), 10), _digits(b, digits),
                              np.full((len(a), 1), 11), _digits(a + b, digits + 1)[:, ::-1]], axis=1)
        self.x = np.ascontiguousarray(seq[:, :-1], dtype=np.int64)  # (N, 3D+2)
        self.y = np.ascontiguousarray(seq[:, 1:], dtype=np.int64)  # (N, 3D+2)
        self.y[:, : 2 * digits + 1] = IGNORE_INDEX  # only the answer carries loss
        self.vocab_size, self.block_size = len(self.vocab), self.x.shape[1]

    def decode(self, tokens) -> str:
        return "".join(self.vocab[int(t)] for t in tokens if int(t) >= 0)


def _digits(v: np.ndarray, width: int) -> np.ndarray:
    """(N,) non-negative ints -> (N, width) decimal digits, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1)
    return (v[:, None] // powers) % 10


class CharText(_TokenDataset):
    """Character-level language modelling on a text file: non-overlapping windows of ``block_size``.

    The vocabulary is the sorted set of characters of the whole file; the first
    ``1 - test_fraction`` of the text is ``'train'``, the rest ``'test'``.

    Shape: ``x``, ``y``: int64 (block_size,), ``y`` is ``x`` shifted by one character.
    """

    def __init__(self, path: str, split: str = "train", block_size: int = 64, test_fraction: float = 0.1):
        if split not in ("train", "test"):
            raise ValueError(f"CharText: split should be 'train' or 'test', got {split!r}")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.vocab = sorted(set(text))
        self.vocab_size, self.block_size = len(self.vocab), block_size
        lut = {c: i for i, c in enumerate(self.vocab)}
        ids = np.array([lut[c] for c in text], dtype=np.int64)
        cut = int(len(ids) * (1.0 - test_fraction))
        ids = ids[:cut] if split == "train" else ids[cut:]
        n = (len(ids) - 1) // block_size
        if n < 1:
            raise ValueError(f"CharText: the {split} part of {path} has {len(ids)} characters, fewer than "
                             f"block_size + 1 = {block_size + 1}")
        rows = np.arange(n)[:, None] * block_size + np.arange(block_size + 1)[None]  # (n, block_size + 1)
        self.x, self.y = ids[rows[:, :-1]], ids[rows[:, 1:]]

    def decode(self, tokens) -> str:
        return "".join(self.vocab[int(t)] for t in tokens)
