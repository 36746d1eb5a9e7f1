"""``torchish.vision.datasets``: image datasets, as ``torchvision.datasets``.

``Digits`` ships with torchish (works offline); the others read files you already have, in
torchvision's folder layout.  torchish never downloads at run time: ``download=True`` with the
files missing raises an error that says which files to put where.
"""

from .cifar import CIFAR10 as CIFAR10
from .cifar import CIFAR100 as CIFAR100
from .cifar import restricted_load as restricted_load
from .digits import Digits as Digits
from .folder import IMG_EXTENSIONS as IMG_EXTENSIONS
from .folder import DatasetFolder as DatasetFolder
from .folder import ImageFolder as ImageFolder
from .folder import default_loader as default_loader
from .folder import find_classes as find_classes
from .folder import has_file_allowed_extension as has_file_allowed_extension
from .folder import is_image_file as is_image_file
from .folder import make_dataset as make_dataset
from .folder import pil_loader as pil_loader
from .mnist import KMNIST as KMNIST
from .mnist import MNIST as MNIST
from .mnist import FashionMNIST as FashionMNIST
from .mnist import read_idx as read_idx
from .vision import VisionDataset as VisionDataset

__all__ = ["CIFAR10", "CIFAR100", "DatasetFolder", "Digits", "FashionMNIST", "IMG_EXTENSIONS", "ImageFolder", "KMNIST",
           "MNIST", "VisionDataset", "default_loader", "find_classes", "has_file_allowed_extension", "is_image_file",
           "make_dataset", "pil_loader", "read_idx", "restricted_load"]
