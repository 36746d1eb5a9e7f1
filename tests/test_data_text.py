"""torchish.text: CharDataset and AdditionDataset."""

import numpy as np
import pytest

import torchish
from torchish.text import AdditionDataset, AdditionTokenizer, CharDataset, load_text
from torchish.utils.data import DataLoader, default_collate


def test_char_dataset_windows_vocab_and_roundtrip(tmp_path):
    text = load_text()
    assert text.startswith("Sonnet 18") and 3000 < len(text) < 10000
    ds = CharDataset(block_size=16)
    assert ds.vocab_size == len(set(text)) and len(ds) == len(text) - 16
    x, y = ds[5]
    assert x.dtype == torchish.int64 and tuple(x.shape) == (16,)
    assert ds.decode(x) == text[5:21] and ds.decode(y) == text[6:22]
    assert ds.decode(ds.encode("Shall I")) == "Shall I"
    with pytest.raises(ValueError, match="character 'Z' is not in the vocabulary"):
        CharDataset("abcabc", block_size=2).encode("Z")
    f = tmp_path / "t.txt"
    f.write_text("hello world", encoding="utf-8")
    small = CharDataset(path=str(f), block_size=4, vocab="dehlorw ")
    assert small.vocab_size == 8 and small.decode(small[0][0]) == "hell"
    with pytest.raises(ValueError, match="needs more than block_size=20"):
        CharDataset("short", block_size=20)
    with pytest.raises(ValueError, match="no shipped text named 'nope'"):
        load_text("nope")


def test_char_dataset_batch_path_equals_per_sample():
    ds = CharDataset(block_size=8)
    fast = next(iter(DataLoader(ds, batch_size=5)))
    slow = default_collate([ds[i] for i in range(5)])
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_addition_dataset_format_and_split():
    tok = AdditionTokenizer()
    assert tok.decode(tok.encode("12+34=046")) == "12+34=046" and tok.vocab_size == 12
    train, test = AdditionDataset(2), AdditionDataset(2, split="test")
    assert len(train) + len(test) == 10_000 and 800 < len(test) < 1200
    train_pairs = set(zip(train.a.tolist(), train.b.tolist()))
    assert not train_pairs & set(zip(test.a.tolist(), test.b.tolist()))
    x, y = test[0]
    a, b = int(test.a[0]), int(test.b[0])
    assert tok.decode(x) + tok.decode(y[-1:]) == f"{a:02d}+{b:02d}={a + b:03d}"
    assert (y.numpy()[:5] == -100).all() and tok.decode(y.numpy()[5:]) == f"{a + b:03d}"
    again = AdditionDataset(2, split="test")
    assert again.tokens.tobytes() == test.tokens.tobytes()  # deterministic by seed
    assert AdditionDataset(2, split="test", seed=1).tokens.tobytes() != test.tokens.tobytes()
    rev = AdditionDataset(3, split="test", reverse_answer=True, num_samples=10)
    a, b = int(rev.a[0]), int(rev.b[0])
    assert tok.decode(rev.tokens[0][-4:]) == f"{a + b:04d}"[::-1] and rev.decode_answer(rev.tokens[0][-4:]) == a + b
    big = AdditionDataset(7, num_samples=50)
    assert len(big) == 50 and big.tokens.shape == (50, 24)
    with pytest.raises(ValueError, match="split should be 'train', 'test' or 'all'"):
        AdditionDataset(2, split="val")


def test_addition_exact_match_and_evaluate():
    ds = AdditionDataset(2, split="test", num_samples=40)
    oracle = lambda prompts: torchish.tensor(  # noqa: E731
        [[int(d) for d in f"{int(p[:2]) + int(p[3:5]):03d}"] for p in (ds.tokenizer.decode(r) for r in prompts.numpy())])
    assert ds.evaluate(oracle, batch_size=16) == 1.0
    wrong = lambda prompts: torchish.zeros(prompts.shape[0], 3, dtype=torchish.int64)  # noqa: E731
    assert ds.evaluate(wrong) == sum(ds.answer(i) == 0 for i in range(len(ds))) / len(ds)
    answers = [ds.answer(i) for i in range(4)]
    assert ds.exact_match(answers) == 1.0 and ds.exact_match([ds.tokens[0]], [0]) == 1.0
    assert ds.exact_match([[1, 2]], [0]) == 0.0 and ds.decode_answer([1, 10, 2]) is None
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert tuple(batch[0].shape) == (8, 8) and batch[1].dtype == torchish.int64
    assert tuple(ds.prompt(np.arange(3)).shape) == (3, 6)
