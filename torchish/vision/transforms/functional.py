"""``torchish.vision.transforms.functional``: image ops on PIL Images, tensors and NumPy arrays.

Inputs, as torchvision's: a PIL Image; or a Tensor of shape (..., C, H, W) (or (H, W)); and, as a
torchish extension, a NumPy array laid out like a PIL image, (H, W) or (H, W, C).  The output has
the input's kind.  Tensor math follows torchvision's tensor kernels; PIL Images go through
Pillow (as torchvision), so the two can differ slightly, as they do in torchvision.  Device
tensors are processed with torchish ops (no autograd recording is promised); NumPy-backed tensors
made in DataLoader workers, and NumPy arrays, with NumPy.
"""

from __future__ import annotations

import numbers
from enum import Enum

import jax
import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor, wrap
from ...utils.data._utils import host
from . import _functional_tensor as FT


class InterpolationMode(Enum):
    """Interpolation modes, as ``torchvision.transforms.InterpolationMode``."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _pil():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _is_pil(img) -> bool:
    Image = _pil()
    return Image is not None and isinstance(img, Image.Image)


def _pil_interp(mode: InterpolationMode):
    Image = _pil()
    R = Image.Resampling
    return {InterpolationMode.NEAREST: R.NEAREST, InterpolationMode.NEAREST_EXACT: R.NEAREST,
            InterpolationMode.BILINEAR: R.BILINEAR, InterpolationMode.BICUBIC: R.BICUBIC, InterpolationMode.BOX: R.BOX,
            InterpolationMode.HAMMING: R.HAMMING, InterpolationMode.LANCZOS: R.LANCZOS}[mode]


def _interp(mode) -> InterpolationMode:
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, str):
        return InterpolationMode(mode)
    if isinstance(mode, int):  # PIL constants, accepted by torchvision with a warning
        return {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC,
                4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}[mode]
    raise TypeError("Argument interpolation should be of type InterpolationMode or int")


def _type_error(img):
    return TypeError(f"img should be PIL Image, Tensor or ndarray. Got {type(img)}")


def _host_value(t: Tensor):
    """The NumPy value of a tensor held in host memory (NumPy-backed, or a JAX CPU array), else None."""
    if t.requires_grad:
        return None
    a = t._value()
    if isinstance(a, np.ndarray):
        return a
    if isinstance(a, jax.core.Tracer) or any(d.platform != "cpu" for d in a.devices()):
        return None
    return np.asarray(a)


def _unwrap(img):
    """``img`` as an array (..., C, H, W) and how to wrap results back into ``img``'s kind.

    Tensors in host memory are processed with NumPy (no XLA program per crop size or offset);
    accelerator tensors, traced tensors and tensors that require grad with torchish ops.
    """
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise TypeError("Tensor is not a torch image.")
        data = _host_value(img)
        if data is None:
            data, rewrap = img, (lambda x: x)
        elif isinstance(img._value(), np.ndarray):
            rewrap = wrap
        else:  # a JAX CPU array: compute in NumPy, give back a device tensor where it was
            dev = next(iter(img._value().devices()))
            rewrap = lambda x: wrap(jax.device_put(np.ascontiguousarray(x), dev))  # noqa: E731
        if img.ndim == 2:
            return data[None], lambda out: rewrap(out[0])
        return data, rewrap
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            return img[None], lambda out: out[0]
        if img.ndim == 3:
            return np.moveaxis(img, -1, 0), lambda out: np.ascontiguousarray(np.moveaxis(out, 0, -1))
        raise ValueError(f"a NumPy image should be (H, W) or (H, W, C), got shape {img.shape}")
    raise _type_error(img)


def _apply(img, array_fn, pil_fn=None):
    if _is_pil(img):
        if pil_fn is None:
            arr = np.asarray(img)
            return _pil().fromarray(_apply(arr, array_fn))
        return pil_fn(img)
    a, rewrap = _unwrap(img)
    return rewrap(array_fn(a))


# ------------------------------------------------------------------------------ sizes
def get_dimensions(img) -> list[int]:
    """``[channels, height, width]``."""
    if _is_pil(img):
        return [len(img.getbands()), img.height, img.width]
    a, _ = _unwrap(img)
    return [int(a.shape[-3]), int(a.shape[-2]), int(a.shape[-1])]


def get_image_size(img) -> list[int]:
    """``[width, height]``."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


# ------------------------------------------------------------------------------ conversion
def to_tensor(pic):
    """A PIL Image or NumPy (H, W[, C]) array as a (C, H, W) tensor; uint8 is scaled to float in [0, 1]."""
    if isinstance(pic, np.ndarray):
        if pic.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
        arr = np.ascontiguousarray(arr.transpose((2, 0, 1)))
    elif _is_pil(pic):
        mode_to_nptype = {"I": np.int32, "I;16": np.int16, "I;16B": np.int16, "F": np.float32}
        arr = np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True)
        if pic.mode == "1":
            arr = 255 * arr
        arr = np.ascontiguousarray(arr.reshape(pic.size[1], pic.size[0], len(pic.getbands())).transpose((2, 0, 1)))
    else:
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if arr.dtype == np.uint8:
        arr = arr.astype(D.get_default_dtype().np) / np.asarray(255, D.get_default_dtype().np)
    return host.host_tensor(arr)


def pil_to_tensor(pic):
    """A PIL Image as a (C, H, W) tensor of its own dtype (no scaling)."""
    if not _is_pil(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, copy=True)
    arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands())).transpose((2, 0, 1))
    return host.host_tensor(np.ascontiguousarray(arr))


def to_pil_image(pic, mode=None):
    """A (C, H, W) tensor or (H, W[, C]) array as a PIL Image (floats are scaled by 255, as torchvision)."""
    Image = _pil()
    if Image is None:
        raise ImportError("to_pil_image needs Pillow: pip install pillow (or torchish[vision])")
    if isinstance(pic, Tensor):
        arr = host.as_numpy(pic)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"pic should be 2/3 dimensional. Got {arr.ndim} dimensions.")
        if arr.dtype.kind == "f" and mode != "F":
            arr = (arr * 255).astype(np.uint8)
        arr = np.transpose(arr, (1, 2, 0))
    elif isinstance(pic, np.ndarray):
        arr = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if arr.shape[-1] == 1:
        arr = arr[:, :, 0]
    img = Image.fromarray(np.ascontiguousarray(arr))
    return img.convert(mode) if mode is not None and img.mode != mode else img


def convert_image_dtype(image, dtype=None):
    """Convert a tensor image to ``dtype``, rescaling values (e.g. uint8 0..255 -> float 0..1)."""
    if not isinstance(image, Tensor):
        raise TypeError(f"Input img should be Tensor Image. Got {type(image)}")
    dtype = D.float32 if dtype is None else dtype
    a, rewrap = _unwrap(image)
    return rewrap(FT.convert_image_dtype(a, D.as_dtype(dtype).np))


def normalize(tensor, mean, std, inplace: bool = False):
    """``(tensor - mean) / std`` per channel of a float tensor image (..., C, H, W)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(
            f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = {tuple(tensor.shape)}")
    a, rewrap = _unwrap(tensor)
    dt = FT.np_dtype(a)
    m = np.asarray(mean, dtype=dt).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=dt).reshape(-1, 1, 1)
    if (s == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {D.from_np(np.dtype(dt))}, leading to division by zero.")
    out = rewrap((a - FT.const(a, m)) / FT.const(a, s))
    if inplace:
        if host.is_host(tensor):
            tensor._data = out._data
        else:
            tensor.copy_(out)
        return tensor
    return out


# ------------------------------------------------------------------------------ geometry
def _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size."):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size


def _resized_output_size(h, w, size, max_size):
    if isinstance(size, int) or len(size) == 1:
        requested = size if isinstance(size, int) else size[0]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested size for the "
                                 f"smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return new_h, new_w
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, i.e. size "
                         "should be an int or a sequence of length 1 in torchscript mode.")
    return int(size[0]), int(size[1])


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize to ``size`` (h, w), or make the smaller edge ``size`` keeping the aspect ratio."""
    mode = _interp(interpolation)
    if isinstance(size, (list, tuple)) and len(size) not in (1, 2):
        raise ValueError(f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list")
    _, h, w = get_dimensions(img)
    out_h, out_w = _resized_output_size(h, w, size, max_size)
    if _is_pil(img):
        return img if (out_h, out_w) == (h, w) else img.resize((out_w, out_h), _pil_interp(mode))
    aa = bool(antialias) and mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)
    return _apply(img, lambda a: FT.resize(a, out_h, out_w, mode.value, aa))


def _parse_padding(padding):
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if isinstance(padding, (tuple, list)) and len(padding) not in (1, 2, 4):
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    if isinstance(padding, numbers.Number):
        return [int(padding)] * 4
    if len(padding) == 1:
        return [int(padding[0])] * 4
    if len(padding) == 2:
        return [int(padding[0]), int(padding[1])] * 2
    return [int(p) for p in padding]


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad all sides: ``padding`` is an int, (left/right, top/bottom) or (left, top, right, bottom)."""
    if not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _parse_padding(padding)
    if _is_pil(img):
        arr = np.asarray(img)
        out = _pad_hwc(arr, left, top, right, bottom, fill, padding_mode)
        res = _pil().fromarray(out)
        if img.mode == "P":
            res.putpalette(img.getpalette())
        return res
    if isinstance(img, np.ndarray):
        return _pad_hwc(img, left, top, right, bottom, fill, padding_mode)
    if isinstance(fill, (tuple, list)):
        fill = fill[0] if len(fill) == 1 else None
        if fill is None:
            raise TypeError("a tensor image is padded with one fill value; got a sequence")
    return _apply(img, lambda a: FT.pad(a, left, top, right, bottom, fill, padding_mode))


def _pad_hwc(arr, left, top, right, bottom, fill, mode):
    chw = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    if mode == "constant" and isinstance(fill, (tuple, list)) and len(fill) > 1:
        out = np.stack([FT.pad(c[None], left, top, right, bottom, f, mode)[0] for c, f in zip(chw, fill)])
    else:
        f = fill[0] if isinstance(fill, (tuple, list)) else fill
        out = FT.pad(chw, left, top, right, bottom, f, mode)
    return out[0] if arr.ndim == 2 else np.ascontiguousarray(np.moveaxis(out, 0, -1))


def crop(img, top: int, left: int, height: int, width: int):
    """The (height, width) region at (top, left); outside the image is zero-filled."""
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    return _apply(img, lambda a: FT.crop(a, top, left, height, width))


def center_crop(img, output_size):
    """The central (h, w) crop; an image smaller than the crop is zero-padded first."""
    crop_height, crop_width = _setup_size(output_size)
    _, image_height, image_width = get_dimensions(img)
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def hflip(img):
    """Flip left-right."""
    if _is_pil(img):
        return img.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)
    return _apply(img, lambda a: FT.flip(a, -1))


def vflip(img):
    """Flip top-bottom."""
    if _is_pil(img):
        return img.transpose(_pil().Transpose.FLIP_TOP_BOTTOM)
    return _apply(img, lambda a: FT.flip(a, -2))


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False, center=None, fill=None):
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (default: the image centre)."""
    mode = _interp(interpolation)
    if _is_pil(img):
        bands = len(img.getbands())
        f = 0 if fill is None else fill
        if isinstance(f, (tuple, list)):
            f = tuple(int(v) for v in f) if len(f) > 1 else int(f[0])
        if isinstance(f, numbers.Number) and bands > 1:
            f = tuple([int(f)] * bands)
        return img.rotate(angle, _pil_interp(mode), expand, center, fillcolor=f)
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"rotate: tensor images support nearest and bilinear interpolation, got {mode.value}")
    _, h, w = get_dimensions(img)
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h])]
    matrix = FT.inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = FT.affine_output_size(matrix, w, h) if expand else (w, h)
    grid = FT.affine_grid(matrix, w, h, ow, oh)
    return _apply(img, lambda a: FT.apply_grid(a, grid, mode.value, fill))


# ------------------------------------------------------------------------------ colour
def _check_factor(name, value):
    if value < 0:
        raise ValueError(f"{name} ({value}) is not non-negative.")


def _enhance(img, kind, factor):
    from PIL import ImageEnhance

    return getattr(ImageEnhance, kind)(img).enhance(factor)


def adjust_brightness(img, brightness_factor: float):
    _check_factor("brightness_factor", brightness_factor)
    return _apply(img, lambda a: FT.blend(a, a * 0, brightness_factor),
                  lambda p: _enhance(p, "Brightness", brightness_factor))


def adjust_contrast(img, contrast_factor: float):
    _check_factor("contrast_factor", contrast_factor)

    def f(a):
        work = np.float32 if not FT.is_float(a) else FT.np_dtype(a)
        gray = FT.cast(FT.rgb_to_grayscale(a) if a.shape[-3] == 3 else a, work)
        return FT.blend(a, FT.mean_chw(gray), contrast_factor)

    return _apply(img, f, lambda p: _enhance(p, "Contrast", contrast_factor))


def adjust_saturation(img, saturation_factor: float):
    _check_factor("saturation_factor", saturation_factor)

    def f(a):
        return a if a.shape[-3] == 1 else FT.blend(a, FT.rgb_to_grayscale(a), saturation_factor)

    return _apply(img, f, lambda p: _enhance(p, "Color", saturation_factor))


def adjust_hue(img, hue_factor: float):
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")

    def pil_hue(p):
        if p.mode in {"L", "1", "I", "F"}:
            return p
        Image = _pil()
        h, s, v = p.convert("HSV").split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += np.array(np.int32(hue_factor * 255)).astype(np.uint8)  # wraps around, as intended
        return Image.merge("HSV", (Image.fromarray(np_h), s, v)).convert(p.mode)

    return _apply(img, lambda a: a if a.shape[-3] == 1 else FT.adjust_hue(a, hue_factor), pil_hue)


def rgb_to_grayscale(img, num_output_channels: int = 1):
    """ITU-R 601-2 luma (0.2989 R + 0.587 G + 0.114 B), with 1 or 3 output channels."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if _is_pil(img):
        gray = img.convert("L")
        if num_output_channels == 3:
            arr = np.asarray(gray)
            return _pil().fromarray(np.dstack([arr, arr, arr]))
        return gray
    return _apply(img, lambda a: FT.rgb_to_grayscale(a, num_output_channels))


to_grayscale = rgb_to_grayscale


def erase(img, i: int, j: int, h: int, w: int, v, inplace: bool = False):
    """Set the (h, w) region at (i, j) to ``v`` (a value or a tensor/array broadcastable to it)."""
    if isinstance(img, Tensor):
        a, rewrap = _unwrap(img)
        if FT.is_np(a):
            out = np.array(a)  # NOTE: never write into a NumPy value in place: it may be a view of a dataset
            out[..., i:i + h, j:j + w] = host.as_numpy(v)
            res = rewrap(out)
        else:
            res = img.clone()
            res[..., i:i + h, j:j + w] = v
        if not inplace:
            return res
        if isinstance(img._data, np.ndarray):
            img._data = res._data
        else:
            img.copy_(res)
        return img
    if isinstance(img, np.ndarray):
        out = img if inplace else img.copy()
        val = host.as_numpy(v)
        region = out[i:i + h, j:j + w]
        region[...] = np.moveaxis(val, 0, -1) if out.ndim == 3 and val.ndim == 3 else np.squeeze(val)
        return out
    raise TypeError(f"img should be Tensor Image. Got {type(img)}")
