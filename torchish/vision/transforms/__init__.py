"""``torchish.vision.transforms``: image transforms with torchvision's names and semantics.

They accept PIL Images (Pillow is optional: ``pip install torchish[vision]``), tensors
(..., C, H, W) and NumPy arrays laid out like PIL images, (H, W) or (H, W, C).
"""

from . import functional as functional
from .functional import InterpolationMode as InterpolationMode
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _all

__all__ = ["InterpolationMode", "functional", *_all]
