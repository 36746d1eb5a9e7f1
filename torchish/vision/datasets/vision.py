"""``VisionDataset``: the base of the image datasets (root, transform, target_transform), and the
helpers they share: image conversion without a hard Pillow dependency, and the no-download error.
"""

from __future__ import annotations

import os

import numpy as np

from ...utils.data import Dataset


def _pil():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def to_image(arr: np.ndarray):
    """A uint8 (H, W) or (H, W, C) array as a PIL Image when Pillow is installed (as torchvision),
    else the array itself (every torchish transform accepts NumPy HWC images)."""
    Image = _pil()
    return Image.fromarray(arr) if Image is not None else arr


def no_download_error(name: str, folder: str, files, source: str) -> RuntimeError:
    listing = "\n".join(f"  {os.path.join(folder, f)}" for f in files)
    return RuntimeError(
        f"{name}: torchish never downloads data at run time. Get the files yourself (from {source}) and "
        f"place them here:\n{listing}\nthen construct the dataset again (download=False is fine)."
    )


class StandardTransform:
    def __init__(self, transform=None, target_transform=None) -> None:
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def __repr__(self) -> str:
        body = [self.__class__.__name__]
        if self.transform is not None:
            body.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            body.append(f"Target transform: {self.target_transform!r}")
        return "\n".join(body)


class VisionDataset(Dataset):
    """Base class of image datasets, as ``torchvision.datasets.VisionDataset``.

    Args:
        root: the dataset's directory.
        transforms: a callable ``(image, target) -> (image, target)``; or, exclusively,
        transform / target_transform: callables applied to the image / the target.
    """

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None) -> None:
        if isinstance(root, str):
            root = os.path.expanduser(root)
        self.root = root
        has_transforms = transforms is not None
        has_separate_transform = transform is not None or target_transform is not None
        if has_transforms and has_separate_transform:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        if has_separate_transform:
            transforms = StandardTransform(transform, target_transform)
        self.transforms = transforms

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _transformed(self, img, target):
        """``(transform(img), target_transform(target))``, each applied when set."""
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _split_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {self.__len__()}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if self.transforms is not None:
            body += [repr(self.transforms)]
        return "\n".join([head] + [" " * self._repr_indent + line for line in body])
