"""``torchish.vision``: datasets and transforms, as ``torchvision.datasets`` / ``torchvision.transforms``.

``import torchish.vision as torchvision`` keeps torchvision-style code working.
"""

from . import datasets as datasets
from . import transforms as transforms
