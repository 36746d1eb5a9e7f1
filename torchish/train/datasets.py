"""The sequence datasets of config-driven runs, as ``torchish.text`` datasets with the
constructor arguments a config gives (``split`` selects the part; ``vocab_size`` and
``block_size`` tell the model what it needs)."""

from __future__ import annotations

from torchish.text import AdditionDataset, CharDataset, load_text

__all__ = ["Addition", "CharText"]


class Addition(AdditionDataset):
    """Sums of two ``digits``-digit numbers as next-token sequences, the answer written least
    significant digit first (as one adds by hand): ``17+05=220`` is 17 + 5 = 22.  The loss and
    the exact-match score cover the answer only; ``test_fraction`` of the problems are held out.
    """

    def __init__(self, split: str = "train", digits: int = 2, test_fraction: float = 0.1, seed: int = 0):
        if split not in ("train", "test"):
            raise ValueError(f"Addition: split should be 'train' or 'test', got {split!r}")
        super().__init__(n_digits=digits, split=split, test_fraction=test_fraction, seed=seed, reverse_answer=True)
        self.vocab = list(self.tokenizer.chars)
        self.vocab_size = self.tokenizer.vocab_size
        self.block_size = self.tokens.shape[1] - 1

    def decode(self, tokens) -> str:
        return self.tokenizer.decode(tokens)


class CharText(CharDataset):
    """Character-level language modelling on a text file (default: the shipped sonnets): the
    first ``1 - test_fraction`` of the text is ``'train'``, the rest ``'test'``; one vocabulary
    (all characters of the file) for both."""

    def __init__(self, path: str | None = None, split: str = "train", block_size: int = 64, test_fraction: float = 0.1):
        if split not in ("train", "test"):
            raise ValueError(f"CharText: split should be 'train' or 'test', got {split!r}")
        if path is None:
            text = load_text()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        cut = int(len(text) * (1.0 - test_fraction))
        super().__init__(text[:cut] if split == "train" else text[cut:], block_size, vocab=sorted(set(text)))
