"""``Digits``: the 8x8 handwritten digits (1,797 images, UCI, CC BY 4.0), shipped with torchish."""

from __future__ import annotations

import os

import numpy as np

from ...utils.data._utils import host
from .vision import VisionDataset

_FILE = os.path.join(os.path.dirname(__file__), "data", "digits.npz")
N_TRAIN = 1437  # the first 1,437 images (80%); the last 360 are the test split; both are class-balanced


class Digits(VisionDataset):
    """The UCI optical-recognition handwritten digits: 1,797 grey 8x8 images of the digits 0-9.

    Shipped inside torchish (``data/digits.npz``; see ``data/DIGITS_LICENSE.md`` for the CC BY 4.0
    attribution), so it works offline: a real, small dataset for tests and examples.

    Args:
        root: ignored (the data ships with torchish); accepted for the usual dataset signature.
        train: ``True``: the first 1,437 images; ``False``: the last 360; ``None``: all 1,797.
        transform: applied to the image, a float32 tensor of shape (1, 8, 8) with values in [0, 1]
            (the raw pixel counts 0..16 divided by 16).
        target_transform: applied to the label (an int 0..9).
        download: accepted and ignored.

    Attributes:
        data: uint8 tensor (N, 8, 8) of raw pixel counts 0..16.
        targets: int64 tensor (N,).
        classes: ``['0', ..., '9']``.

    Example:
        >>> ds = Digits(train=True)
        >>> x, y = ds[0]
        >>> x.shape, y
        (torchish.Size([1, 8, 8]), 0)
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train: bool | None = True, transform=None, target_transform=None,
                 download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        if train not in (True, False, None):
            raise ValueError(f"Digits: train should be True, False or None (all 1,797 images), got {train!r}")
        self.train = train
        with np.load(_FILE) as f:
            images, targets = f["images"], f["targets"].astype(np.int64)
        part = slice(None) if train is None else (slice(0, N_TRAIN) if train else slice(N_TRAIN, None))
        self._images = np.ascontiguousarray(images[part])
        self._targets = targets[part]
        self.data = host.to_tensor(self._images)
        self.targets = host.to_tensor(self._targets)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self._targets)

    def __getitem__(self, index):
        img = host.host_tensor((self._images[index] / np.float32(16.0)).astype(np.float32)[None])
        target = int(self._targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _torchish_getbatch_(self, indices):
        if self.transform is not None or self.target_transform is not None or type(self).__getitem__ is not Digits.__getitem__:
            return NotImplemented
        idx = np.asarray(indices, dtype=np.int64)
        return [host.to_tensor((self._images[idx] / np.float32(16.0)).astype(np.float32)[:, None]),
                host.to_tensor(self._targets[idx])]

    def extra_repr(self) -> str:
        return f"Split: {({True: 'Train', False: 'Test', None: 'All'})[self.train]}"
