"""MNIST-format datasets (``MNIST``, ``FashionMNIST``, ``KMNIST``) read from IDX files the user has.

PyTorch's layout: ``root/<ClassName>/raw/train-images-idx3-ubyte`` (or the same name with ``.gz``).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from ...utils.data._utils import host
from .vision import VisionDataset, no_download_error, to_image

# IDX element types: code -> (NumPy big-endian dtype)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) as a NumPy array in native byte order.

    The format: two zero bytes, a type code, the number of dimensions, each dimension as a
    big-endian uint32, then the data (big-endian).
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise RuntimeError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise RuntimeError(f"{path}: IDX header says {tuple(dims)} {dtype} ({expected} bytes) but the file has {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(tuple(dims))
    return arr.astype(dtype.newbyteorder("="))


class MNIST(VisionDataset):
    """MNIST handwritten digits (60,000 train / 10,000 test 28x28 grey images), from your IDX files.

    Args:
        root: directory containing ``MNIST/raw/`` with ``train-images-idx3-ubyte``,
            ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``
            (each raw or ``.gz``).
        train: the training or the test set.
        transform: applied to the image (a PIL Image in mode ``L``; a uint8 (28, 28) NumPy array
            when Pillow is not installed).
        target_transform: applied to the label (an int).
        download: torchish never downloads: if the files are missing this raises an error that
            says where to put them.

    Attributes: ``data`` (uint8 tensor (N, 28, 28)), ``targets`` (int64 tensor (N,)), ``classes``.
    """

    source = "https://ossci-datasets.s3.amazonaws.com/mnist/ (or http://yann.lecun.com/exdb/mnist/)"
    files = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        images, labels = (self._find(name) for name in self.files["train" if train else "test"])
        if images is None or labels is None:
            names = [n + " (or .gz)" for pair in self.files.values() for n in pair]
            if download:
                raise no_download_error(type(self).__name__, self.raw_folder, names, self.source)
            raise RuntimeError(
                f"Dataset not found. {type(self).__name__} expects its IDX files in {self.raw_folder}: "
                f"{', '.join(names)}. torchish does not download them; see {self.source}."
            )
        self._images = read_idx(images).astype(np.uint8)
        self._labels = read_idx(labels).astype(np.int64)
        if len(self._images) != len(self._labels):
            raise RuntimeError(f"{images} has {len(self._images)} images but {labels} has {len(self._labels)} labels")
        self.data = host.to_tensor(self._images)
        self.targets = host.to_tensor(self._labels)

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def _find(self, name):
        for candidate in (name, name + ".gz"):
            path = os.path.join(self.raw_folder, candidate)
            if os.path.isfile(path):
                return path
        return None

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index):
        img, target = to_image(self._images[index]), int(self._labels[index])
        return self._transformed(img, target)

    def extra_repr(self) -> str:
        return self._split_repr()


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando; 28x28 grey clothing images, 10 classes), same files and layout as MNIST."""

    source = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST (28x28 grey cursive Japanese characters, 10 classes), same layout as MNIST."""

    source = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
