"""CIFAR-10 / CIFAR-100 from the python-version batch files the user has.

The batches are pickles; loading them goes through ``restricted_load``, which admits only NumPy
array reconstruction and plain containers, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np

from .vision import VisionDataset, no_download_error, to_image


def _allowed_globals():
    from numpy._core import multiarray, numeric

    import _codecs

    table = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "_reconstruct")] = multiarray._reconstruct
        table[(mod, "scalar")] = multiarray.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        table[(mod, "_frombuffer")] = numeric._frombuffer
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    table[("_codecs", "encode")] = _codecs.encode  # how protocol-2 pickles from Python 3 store bytes
    return table


class _RestrictedUnpickler(pickle.Unpickler):
    _table = None

    def find_class(self, module, name):
        if _RestrictedUnpickler._table is None:
            _RestrictedUnpickler._table = _allowed_globals()
        try:
            return self._table[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: this file may only contain NumPy arrays, lists, dicts, "
                "strings, bytes and numbers"
            ) from None


def restricted_load(file, encoding: str = "latin1"):
    """``pickle.load`` that admits only NumPy arrays, lists, dicts, tuples, str, bytes and numbers."""
    if isinstance(file, (bytes, bytearray)):
        file = io.BytesIO(file)
    return _RestrictedUnpickler(file, encoding=encoding).load()


class CIFAR10(VisionDataset):
    """CIFAR-10 (50,000 train / 10,000 test 32x32 colour images, 10 classes), from your batch files.

    Args:
        root: directory containing ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``,
            ``test_batch``, ``batches.meta``), as extracted from ``cifar-10-python.tar.gz``.
        train: the training or the test set.
        transform: applied to the image (a PIL RGB Image; a uint8 (32, 32, 3) NumPy array
            without Pillow).
        target_transform: applied to the label (an int).
        download: torchish never downloads; with ``download=True`` an archive
            ``cifar-10-python.tar.gz`` already in ``root`` is extracted, otherwise the error says
            where to put the files.

    Attributes: ``data`` (uint8 NumPy array (N, 32, 32, 3), as torchvision), ``targets`` (list of
    int), ``classes``, ``class_to_idx``.
    """

    base_folder = "cifar-10-batches-py"
    archive = "cifar-10-python.tar.gz"
    source = "https://www.cs.toronto.edu/~kriz/cifar.html"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}
    label_key = "labels"

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = os.path.join(self.root, self.base_folder)
        needed = self.train_list + self.test_list + [self.meta["filename"]]
        if download and not self._check_exists():
            self._extract_archive()
        if not self._check_exists():
            if download:
                raise no_download_error(type(self).__name__, folder, needed,
                                        f"{self.source}: the python version, {self.archive}")
            raise RuntimeError(
                f"Dataset not found or corrupted. {type(self).__name__} expects {', '.join(needed)} in {folder} "
                f"(extracted from {self.archive}; download=True extracts an archive placed in {self.root})."
            )
        data, targets = [], []
        for name in self.train_list if train else self.test_list:
            with open(os.path.join(folder, name), "rb") as f:
                entry = restricted_load(f)
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            targets.extend(int(t) for t in entry[self.label_key])
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))  # HWC, as torchvision
        self.targets = targets
        with open(os.path.join(folder, self.meta["filename"]), "rb") as f:
            self.classes = [str(c) for c in restricted_load(f)[self.meta["key"]]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _check_exists(self) -> bool:
        folder = os.path.join(self.root, self.base_folder)
        return all(os.path.isfile(os.path.join(folder, n)) for n in self.train_list + self.test_list + [self.meta["filename"]])

    def _extract_archive(self) -> None:
        path = os.path.join(self.root, self.archive)
        if os.path.isfile(path):
            with tarfile.open(path, "r:gz") as tar:
                tar.extractall(self.root, filter="data")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        img, target = to_image(self.data[index]), self.targets[index]
        return self._transformed(img, target)

    def extra_repr(self) -> str:
        return self._split_repr()


class CIFAR100(CIFAR10):
    """CIFAR-100 (100 fine classes), from ``cifar-100-python/`` (``train``, ``test``, ``meta``)."""

    base_folder = "cifar-100-python"
    archive = "cifar-100-python.tar.gz"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}
    label_key = "fine_labels"
