"""torchish.vision.datasets: the shipped digits, and readers for MNIST IDX, CIFAR batches and image folders
(written here as small synthetic files in tmp_path)."""

import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

import torchish
from torchish.utils.data import DataLoader
from torchish.vision import datasets, transforms


# ------------------------------------------------------------------------------ digits
def test_digits_splits_shapes_and_classes():
    train, test, full = datasets.Digits(), datasets.Digits(train=False), datasets.Digits(train=None)
    assert (len(train), len(test), len(full)) == (1437, 360, 1797)
    x, y = train[0]
    assert tuple(x.shape) == (1, 8, 8) and x.dtype == torchish.float32 and isinstance(y, int)
    assert full.data.dtype == torchish.uint8 and tuple(full.data.shape) == (1797, 8, 8)
    assert full.targets.dtype == torchish.int64 and int(full.data.max()) == 16
    assert full.classes == [str(i) for i in range(10)]
    counts = np.bincount(full.targets.numpy(), minlength=10)
    assert counts.min() >= 174 and counts.sum() == 1797
    assert set(np.unique(test.targets.numpy())) == set(range(10))
    np.testing.assert_array_equal(full.data.numpy()[1437:], test.data.numpy())
    np.testing.assert_allclose(x.numpy(), train.data.numpy()[0][None] / 16.0)
    with pytest.raises(ValueError, match="train should be True, False or None"):
        datasets.Digits(train="all")


def test_digits_transforms_and_batch_path():
    ds = datasets.Digits(train=False, transform=transforms.Normalize((0.5,), (0.5,)), target_transform=lambda t: t + 100)
    x, y = ds[3]
    assert y >= 100 and float(x.min()) >= -1.0
    plain = datasets.Digits(train=False)
    fast = next(iter(DataLoader(plain, batch_size=32)))
    slow = next(iter(DataLoader(plain, batch_size=32, collate_fn=lambda b: torchish.utils.data.default_collate(b))))
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert "Split: Test" in repr(plain)


def test_digits_with_augmentation_in_fork_workers():
    ds = datasets.Digits(transform=transforms.Compose([transforms.RandomCrop(8, padding=1),
                                                       transforms.RandomHorizontalFlip()]))
    dl = DataLoader(ds, batch_size=200, shuffle=True, num_workers=2, multiprocessing_context="fork",
                    generator=torchish.Generator().manual_seed(0))
    batches = list(dl)
    assert sum(len(y) for _, y in batches) == 1437 and tuple(batches[0][0].shape) == (200, 1, 8, 8)
    again = list(DataLoader(ds, batch_size=200, shuffle=True, num_workers=2, multiprocessing_context="fork",
                            generator=torchish.Generator().manual_seed(0)))
    np.testing.assert_array_equal(batches[0][0].numpy(), again[0][0].numpy())  # same seed, same augmentations


# ------------------------------------------------------------------------------ MNIST
def _write_idx(path, arr, compress):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[arr.dtype.type], arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if compress else open
    with opener(str(path) + (".gz" if compress else ""), "wb") as f:
        f.write(data)


def _mnist_tree(root, cls="MNIST", compress=True, n=5):
    raw = root / cls / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_idx_files(tmp_path, compress):
    images, labels = _mnist_tree(tmp_path, compress=compress)
    ds = datasets.MNIST(str(tmp_path), train=True)
    assert len(ds) == 5 and ds.data.dtype == torchish.uint8 and tuple(ds.data.shape) == (5, 28, 28)
    assert ds.targets.dtype == torchish.int64 and ds.targets.tolist() == labels.tolist()
    img, target = ds[2]
    assert target == 2 and np.array_equal(np.asarray(img), images[2])
    if hasattr(img, "mode"):
        assert img.mode == "L"
    x, _ = datasets.MNIST(str(tmp_path), train=False, transform=transforms.ToTensor())[1]
    assert tuple(x.shape) == (1, 28, 28) and np.allclose(x.numpy()[0], images[1] / 255.0)


def test_fashion_mnist_layout_and_missing_files(tmp_path):
    _mnist_tree(tmp_path, cls="FashionMNIST")
    ds = datasets.FashionMNIST(str(tmp_path))
    assert ds.classes[0] == "T-shirt/top" and len(ds) == 5
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(str(tmp_path))
    with pytest.raises(RuntimeError, match=r"(?s)never downloads.*MNIST[/\\]raw[/\\]train-images-idx3-ubyte"):
        datasets.MNIST(str(tmp_path), download=True)


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(RuntimeError, match="is not an IDX file"):
        datasets.read_idx(str(bad))
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + b"\x00" * 3)
    with pytest.raises(RuntimeError, match="IDX header says"):
        datasets.read_idx(str(short))
    ints = tmp_path / "ints"
    _write_idx(ints, np.array([[1, -2], [3, 400000]], np.int32), compress=False)
    assert datasets.read_idx(str(ints)).tolist() == [[1, -2], [3, 400000]]


# ------------------------------------------------------------------------------ CIFAR
def _cifar_tree(root, hundred=False):
    rng = np.random.default_rng(1)
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir()
    names = (["train"], ["test"]) if hundred else ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"])
    key = "fine_labels" if hundred else "labels"
    written = {}
    for name in names[0] + names[1]:
        data = rng.integers(0, 256, (3, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, 3).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, key: labels, "batch_label": name}, f, protocol=2)
        written[name] = (data, labels)
    meta_name, meta_key = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    with open(folder / meta_name, "wb") as f:
        pickle.dump({meta_key: [f"class{i}" for i in range(10)]}, f)
    return written


def test_cifar10_reads_batches_in_hwc(tmp_path):
    written = _cifar_tree(tmp_path)
    ds = datasets.CIFAR10(str(tmp_path), train=True)
    assert len(ds) == 15 and ds.data.shape == (15, 32, 32, 3) and ds.data.dtype == np.uint8
    data, labels = written["data_batch_1"]
    np.testing.assert_array_equal(ds.data[0, :, :, 1], data[0, 1024:2048].reshape(32, 32))  # green plane
    assert ds.targets[:3] == labels and ds.classes[3] == "class3" and ds.class_to_idx["class3"] == 3
    img, target = ds[0]
    assert np.asarray(img).shape == (32, 32, 3) and target == labels[0]
    test = datasets.CIFAR10(str(tmp_path), train=False, transform=transforms.ToTensor())
    assert len(test) == 3 and tuple(test[0][0].shape) == (3, 32, 32)


def test_cifar100_and_archive_extraction(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _cifar_tree(src, hundred=True)
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-100-python", arcname="cifar-100-python")
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        datasets.CIFAR100(str(root))
    ds = datasets.CIFAR100(str(root), train=False, download=True)  # extracts the archive already there
    assert len(ds) == 3 and ds.classes[0] == "class0"
    with pytest.raises(RuntimeError, match=r"(?s)never downloads.*data_batch_1"):
        datasets.CIFAR10(str(tmp_path / "nowhere"), download=True)


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    payload = pickle.dumps({"data": Evil()})
    with pytest.raises(pickle.UnpicklingError, match="refusing to load (posix|os|nt).system"):
        datasets.restricted_load(payload)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.eval"):
        datasets.restricted_load(pickle.dumps({"x": eval}))
    ok = datasets.restricted_load(io.BytesIO(pickle.dumps({"a": [np.arange(3), b"x", "s", 1.5, np.float32(2)]})))
    assert ok["a"][0].tolist() == [0, 1, 2] and ok["a"][1:4] == [b"x", "s", 1.5]


# ------------------------------------------------------------------------------ image folders
def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow (optional, in the test extra) reads image files")
    for cls, color in (("dog", 200), ("cat", 50)):
        (tmp_path / cls).mkdir()
        for k in range(2):
            Image.fromarray(np.full((6, 5, 3), color + k, np.uint8)).save(tmp_path / cls / f"{k}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(str(tmp_path), transform=transforms.ToTensor())
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 4 and ds.targets == [0, 0, 1, 1] and ds.imgs == ds.samples
    x, y = ds[3]
    assert tuple(x.shape) == (3, 6, 5) and y == 1 and np.allclose(x.numpy(), 201 / 255)
    only0 = datasets.ImageFolder(str(tmp_path), is_valid_file=lambda p: p.endswith("0.png"))
    assert len(only0) == 2
    assert datasets.find_classes(str(tmp_path)) == (["cat", "dog"], {"cat": 0, "dog": 1})
    assert datasets.has_file_allowed_extension("A.JPG", datasets.IMG_EXTENSIONS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty"):
        datasets.ImageFolder(str(tmp_path))
    assert len(datasets.ImageFolder(str(tmp_path), allow_empty=True)) == 4
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="Both extensions and is_valid_file cannot be None or not None"):
        datasets.make_dataset(str(tmp_path), {"cat": 0})
