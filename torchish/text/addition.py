"""``AdditionDataset``: the synthetic task "123+456=579" for sequence models, with exact-match evaluation."""

from __future__ import annotations

import numpy as np

from ..utils.data import Dataset
from ..utils.data._utils import host
from .char import _ids

IGNORE_INDEX = -100  # cross_entropy's default ignore_index: no loss on the question's positions


class AdditionTokenizer:
    """Tokens of addition problems: ``'0'..'9'`` are 0..9, ``'+'`` is 10, ``'='`` is 11."""

    chars = "0123456789+="
    vocab_size = len(chars)

    def __init__(self):
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def encode(self, s: str) -> list[int]:
        try:
            return [self.stoi[c] for c in s]
        except KeyError as e:
            raise ValueError(f"AdditionTokenizer: {e.args[0]!r} is not one of {self.chars!r}") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in _ids(ids))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class AdditionDataset(Dataset):
    """Addition of two ``n_digits``-digit numbers as a next-token task: ``"012+345=0357"``.

    Every problem is a fixed-length sequence ``a+b=c`` with ``a`` and ``b`` zero-padded to
    ``n_digits`` and ``c`` to ``n_digits + 1`` (optionally written least-significant digit first,
    ``reverse_answer=True``, which is easier to learn).  Sample ``i`` is ``(x, y)``: ``x`` is the
    sequence without its last token, ``y`` the sequence shifted by one with the question positions
    set to -100 (``cross_entropy``'s ignore_index), so the loss covers only the answer.

    The pairs (a, b) are split into disjoint train and test sets, deterministically from ``seed``.

    Args:
        n_digits: digits per operand.
        split: ``'train'``, ``'test'`` or ``'all'``.
        test_fraction: share of all pairs in the test split.
        num_samples: how many problems (default: every pair of the split when there are at most
            2,000,000 pairs in all, else 100,000 drawn at random).
        seed: decides the split and the order.
        reverse_answer: write ``c`` least-significant digit first.

    Example:
        >>> ds = AdditionDataset(n_digits=2, split="test")
        >>> ds.tokenizer.decode(ds[0][0]), ds.answer(0)
        ('36+50=08', 86)
    """

    def __init__(self, n_digits: int = 2, split: str = "train", *, test_fraction: float = 0.1,
                 num_samples: int | None = None, seed: int = 0, reverse_answer: bool = False):
        if not isinstance(n_digits, int) or not 1 <= n_digits <= 9:
            raise ValueError(f"n_digits should be an integer in 1..9, got {n_digits!r}")
        if split not in ("train", "test", "all"):
            raise ValueError(f"split should be 'train', 'test' or 'all', got {split!r}")
        if not 0 <= test_fraction < 1:
            raise ValueError(f"test_fraction should be in [0, 1), got {test_fraction}")
        self.n_digits, self.split, self.seed, self.reverse_answer = n_digits, split, seed, reverse_answer
        self.tokenizer = AdditionTokenizer()
        base = 10 ** n_digits
        total = base * base
        rng = np.random.default_rng(seed)
        if total <= 2_000_000:
            pairs = rng.permutation(total).astype(np.uint64)
            keep = self._in_split(pairs, test_fraction, seed)
            pairs = pairs[keep][:num_samples]
        else:
            want = 100_000 if num_samples is None else num_samples
            found = []
            while sum(len(f) for f in found) < want:
                cand = rng.integers(0, total, size=max(2 * want, 1024), dtype=np.uint64)
                found.append(cand[self._in_split(cand, test_fraction, seed)])
            pairs = np.concatenate(found)[:want]
        a, b = (pairs // np.uint64(base)).astype(np.int64), (pairs % np.uint64(base)).astype(np.int64)
        self.a, self.b = a, b
        self.tokens = self._encode(a, b)  # (N, 3 * n_digits + 3) uint8

    def _in_split(self, pairs, test_fraction, seed):
        if self.split == "all":
            return np.ones(len(pairs), bool)
        u = _splitmix64(pairs ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) >> np.uint64(11)
        is_test = u.astype(np.float64) / float(1 << 53) < test_fraction
        return is_test if self.split == "test" else ~is_test

    def _digits(self, v, width, reverse=False):
        cols = [(v // 10 ** p) % 10 for p in range(width - 1, -1, -1)]
        if reverse:
            cols = cols[::-1]
        return np.stack(cols, 1)

    def _encode(self, a, b):
        n = self.n_digits
        plus, eq = np.full((len(a), 1), 10), np.full((len(a), 1), 11)
        c = self._digits(a + b, n + 1, self.reverse_answer)
        return np.concatenate([self._digits(a, n), plus, self._digits(b, n), eq, c], 1).astype(np.uint8)

    @property
    def prompt_length(self) -> int:
        """Tokens of the question ``a+b=``."""
        return 2 * self.n_digits + 2

    @property
    def answer_length(self) -> int:
        return self.n_digits + 1

    def __len__(self) -> int:
        return len(self.a)

    def _xy(self, tokens):
        x = tokens[..., :-1].astype(np.int64)
        y = tokens[..., 1:].astype(np.int64)
        y[..., : self.prompt_length - 1] = IGNORE_INDEX
        return x, y

    def __getitem__(self, idx):
        x, y = self._xy(self.tokens[idx])
        return host.host_tensor(x), host.host_tensor(y)

    def _torchish_getbatch_(self, indices):
        if type(self).__getitem__ is not AdditionDataset.__getitem__:
            return NotImplemented
        x, y = self._xy(self.tokens[np.asarray(indices, dtype=np.int64)])
        return [host.to_tensor(x), host.to_tensor(y)]

    def prompt(self, idx):
        """The question tokens ``a+b=`` of problem ``idx`` (int64 tensor; a batch for an index array)."""
        return host.host_tensor(self.tokens[idx, : self.prompt_length].astype(np.int64))

    def answer(self, idx) -> int:
        return int(self.a[idx] + self.b[idx])

    def decode_answer(self, tokens) -> int | None:
        """The integer written by ``n_digits + 1`` answer tokens (None if they are not all digits)."""
        ids = _ids(tokens)
        if len(ids) != self.answer_length or any(t > 9 for t in ids):
            return None
        if self.reverse_answer:
            ids = ids[::-1]
        return int("".join(map(str, ids)))

    def exact_match(self, answers, indices=None) -> float:
        """Fraction of problems whose predicted answer equals a + b.

        ``answers``: per problem, the generated answer tokens (a list, array or tensor row of
        ``n_digits + 1`` tokens, or a full sequence whose last ``n_digits + 1`` tokens are the answer)
        or an int; ``indices``: which problems (default ``0 .. len(answers) - 1``).
        """
        if hasattr(answers, "tolist"):
            answers = answers.tolist()
        indices = range(len(answers)) if indices is None else indices
        hits = 0
        for ans, i in zip(answers, indices):
            got = ans if isinstance(ans, int) else self.decode_answer(_ids(ans)[-self.answer_length:])
            hits += got == self.answer(int(i))
        return hits / max(len(answers), 1)

    def evaluate(self, generate, batch_size: int = 256, max_problems: int | None = None) -> float:
        """Exact-match accuracy of ``generate(prompts) -> tokens`` over the dataset.

        ``generate`` gets an int64 tensor of prompts (B, 2 * n_digits + 2) and returns (B, n_digits + 1)
        answer tokens (or full sequences ending with them), e.g. a greedy decoding loop of a GPT.
        """
        n = len(self) if max_problems is None else min(len(self), max_problems)
        hits = 0
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            out = generate(host.to_tensor(self.tokens[idx, : self.prompt_length].astype(np.int64)))
            hits += self.exact_match(out, idx) * len(idx)
        return hits / max(n, 1)
