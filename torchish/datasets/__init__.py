"""``torchish.datasets``: every dataset torchish ships or reads, in one namespace.

The same classes as ``torchish.vision.datasets`` (``Digits``, ``MNIST``, ``CIFAR10``,
``ImageFolder``, ...) and ``torchish.text`` (``CharDataset``, ``AdditionDataset``).
"""

from ..text import AdditionDataset as AdditionDataset
from ..text import CharDataset as CharDataset
from ..vision.datasets import CIFAR10 as CIFAR10
from ..vision.datasets import CIFAR100 as CIFAR100
from ..vision.datasets import KMNIST as KMNIST
from ..vision.datasets import MNIST as MNIST
from ..vision.datasets import DatasetFolder as DatasetFolder
from ..vision.datasets import Digits as Digits
from ..vision.datasets import FashionMNIST as FashionMNIST
from ..vision.datasets import ImageFolder as ImageFolder

__all__ = ["AdditionDataset", "CIFAR10", "CIFAR100", "CharDataset", "DatasetFolder", "Digits", "FashionMNIST",
           "ImageFolder", "KMNIST", "MNIST"]
