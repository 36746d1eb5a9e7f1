"""torchish.vision.transforms against reference math (PyTorch kernels, NumPy, colorsys, Pillow).

Every array op is checked on three kinds of input: a device tensor, a NumPy-backed ("host")
tensor as made inside DataLoader workers, and, where the op is geometric, a NumPy HWC array.
"""

import colorsys
import math

import numpy as np
import pytest

import torchish
from torchish._tensor import wrap
from torchish.vision import transforms as T
from torchish.vision.transforms import functional as F
from parity import requires_torch, torch

RNG = np.random.default_rng(0)
X = RNG.random((2, 3, 9, 11)).astype(np.float32)  # a batch of two RGB images
U8 = (RNG.random((3, 9, 11)) * 255).astype(np.uint8)


def kinds(arr):
    """The same image as a device tensor and as a NumPy-backed (worker) tensor."""
    return [torchish.tensor(arr), wrap(np.array(arr))]


def value(t):
    return t.numpy() if isinstance(t, torchish.Tensor) else np.asarray(t)


def check_all(arr, fn, expected, atol=1e-5):
    for t in kinds(arr):
        out = fn(t)
        assert isinstance(out, torchish.Tensor)
        assert isinstance(out._data, np.ndarray) == isinstance(t._data, np.ndarray), "host input must stay on the host"
        np.testing.assert_allclose(value(out).astype(np.float64), np.asarray(expected, np.float64), atol=atol)


# ------------------------------------------------------------------------------ conversion
def test_to_tensor_from_numpy_and_errors():
    hwc = np.moveaxis(U8, 0, -1)
    t = T.ToTensor()(hwc)
    assert t.dtype == torchish.float32 and tuple(t.shape) == (3, 9, 11)
    np.testing.assert_array_equal(t.numpy(), U8.astype(np.float32) / np.float32(255))
    assert T.ToTensor()(np.ones((4, 5), np.float64)).dtype == torchish.float64  # non-uint8: unscaled
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(torchish.ones(3, 4, 4))
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 1 dimensions."):
        T.ToTensor()(np.ones(4))


def test_to_tensor_and_pil_to_tensor_from_pil():
    Image = pytest.importorskip("PIL.Image", reason="Pillow (optional, in the test extra) reads image files")
    rgb = Image.fromarray(np.moveaxis(U8, 0, -1))
    np.testing.assert_array_equal(T.ToTensor()(rgb).numpy(), U8 / np.float32(255))
    p = T.PILToTensor()(rgb)
    assert p.dtype == torchish.uint8 and p.numpy().tolist() == U8.tolist()
    gray = Image.fromarray(U8[0])
    assert tuple(T.ToTensor()(gray).shape) == (1, 9, 11)
    binary = Image.fromarray(U8[0] > 128).convert("1")
    np.testing.assert_array_equal(T.ToTensor()(binary).numpy()[0], (U8[0] > 128).astype(np.float32))
    f = Image.fromarray(X[0, 0])  # mode F stays unscaled float32
    np.testing.assert_array_equal(T.ToTensor()(f).numpy()[0], X[0, 0])
    back = T.ToPILImage()(T.ToTensor()(rgb))
    assert back.mode == "RGB" and np.asarray(back).shape == (9, 11, 3)


def test_convert_image_dtype_rules():
    check_all(U8, lambda t: T.ConvertImageDtype(torchish.float32)(t), U8 / 255.0)
    f = np.array([[[0.0, 0.5, 1.0]]], np.float32)
    check_all(f, lambda t: F.convert_image_dtype(t, torchish.uint8), [[[0, 127, 255]]])
    i16 = np.array([[[0, 32767]]], np.int16)
    check_all(i16, lambda t: F.convert_image_dtype(t, torchish.uint8), [[[0, 255]]])
    check_all(np.array([[[0, 255]]], np.uint8), lambda t: F.convert_image_dtype(t, torchish.int16), [[[0, 32640]]])
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        F.convert_image_dtype(torchish.ones(1, 1, 1), torchish.int32)


def test_normalize_and_errors():
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    expected = (X - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    check_all(X, lambda t: T.Normalize(mean, std)(t), expected)
    with pytest.raises(TypeError, match="Input tensor should be a float tensor. Got torchish.uint8"):
        F.normalize(torchish.tensor(U8), mean, std)
    with pytest.raises(ValueError, match="Expected tensor to be a tensor image of size"):
        F.normalize(torchish.ones(3, 4), mean, std)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        F.normalize(torchish.ones(3, 4, 4), mean, (1.0, 0.0, 1.0))
    t = torchish.tensor(X[0])
    assert T.Normalize(mean, std, inplace=True)(t) is t and np.allclose(t.numpy(), expected[0], atol=1e-6)


# ------------------------------------------------------------------------------ geometry
@requires_torch
@pytest.mark.parametrize("size", [(5, 7), (20, 6)])
@pytest.mark.parametrize("mode,aa", [("bilinear", True), ("bilinear", False), ("bicubic", True), ("nearest", False)])
def test_resize_matches_torch_interpolate(size, mode, aa):
    kw = {} if mode == "nearest" else {"align_corners": False}
    ref = torch.nn.functional.interpolate(torch.tensor(X), size=size, mode=mode, antialias=aa, **kw).numpy()
    check_all(X, lambda t: T.Resize(size, interpolation=T.InterpolationMode(mode), antialias=aa)(t), ref, atol=2e-5)
    if mode == "bilinear":  # uint8 images: float math, rounded back (torchvision)
        ref8 = torch.nn.functional.interpolate(torch.tensor(U8[None]).float(), size=size, mode=mode, antialias=aa,
                                               align_corners=False).round().clamp(0, 255)[0].numpy()
        check_all(U8, lambda t: F.resize(t, list(size), mode, antialias=aa), ref8, atol=1.01)


def test_resize_output_sizes():
    img = torchish.ones(3, 10, 20)
    assert tuple(T.Resize(5)(img).shape) == (3, 5, 10)  # the smaller edge becomes 5
    assert tuple(T.Resize(5, max_size=8)(img).shape) == (3, 4, 8)
    assert tuple(T.Resize([6])(torchish.ones(3, 20, 10)).shape) == (3, 12, 6)
    with pytest.raises(ValueError, match="max_size = 5 must be strictly greater"):
        T.Resize(5, max_size=5)(img)
    with pytest.raises(ValueError, match="If size is a sequence, it should have 1 or 2 values"):
        T.Resize([1, 2, 3])
    assert np.asarray(T.Resize(5)(np.zeros((10, 20, 3), np.uint8))).shape == (5, 10, 3)  # NumPy HWC in, HWC out


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_modes_match_numpy(mode):
    fill = 7 if mode == "constant" else 0
    width = [(0, 0), (0, 0), (2, 3), (1, 4)]  # padding = (left=1, top=2, right=4, bottom=3)
    kw = {"constant_values": fill} if mode == "constant" else {}
    check_all(X, lambda t: T.Pad((1, 2, 4, 3), fill=fill, padding_mode=mode)(t), np.pad(X, width, mode=mode, **kw))
    hwc = np.moveaxis(U8, 0, -1)
    np.testing.assert_array_equal(F.pad(hwc, (1, 2), fill=fill, padding_mode=mode),
                                  np.pad(hwc, [(2, 2), (1, 1), (0, 0)], mode=mode, **kw))


def test_pad_errors_and_pil_fill():
    with pytest.raises(ValueError, match="Padding mode should be either constant, edge, reflect or symmetric"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple, not a 3 element tuple"):
        T.Pad((1, 2, 3))
    with pytest.raises(TypeError, match="Got inappropriate padding arg"):
        T.Pad("1")
    Image = pytest.importorskip("PIL.Image", reason="Pillow (optional, in the test extra) reads image files")
    img = T.Pad(1, fill=(255, 0, 0))(Image.fromarray(np.zeros((2, 2, 3), np.uint8)))
    arr = np.asarray(img)
    assert arr.shape == (4, 4, 3) and arr[0, 0].tolist() == [255, 0, 0] and arr[1, 1].tolist() == [0, 0, 0]


def test_crops_and_flips():
    check_all(X, lambda t: F.crop(t, 2, 3, 4, 5), X[..., 2:6, 3:8])
    check_all(X, lambda t: F.crop(t, -1, 9, 3, 4), np.pad(X, [(0, 0), (0, 0), (1, 0), (0, 2)])[..., 0:3, 9:13])
    check_all(X, lambda t: T.CenterCrop((5, 4))(t), X[..., 2:7, 4:8])
    check_all(X[0], lambda t: T.CenterCrop(12)(t), np.pad(X[0], [(0, 0), (1, 2), (0, 1)])[..., :, :])
    check_all(X, lambda t: T.RandomHorizontalFlip(p=1.0)(t), X[..., ::-1])
    check_all(X, lambda t: T.RandomVerticalFlip(p=1.0)(t), X[..., ::-1, :])
    check_all(X, lambda t: T.RandomHorizontalFlip(p=0.0)(t), X)
    hwc = np.moveaxis(U8, 0, -1)
    np.testing.assert_array_equal(F.hflip(hwc), hwc[:, ::-1])
    assert F.get_dimensions(hwc) == [3, 9, 11] and F.get_image_size(torchish.ones(2, 3, 9, 11)) == [11, 9]


def _torch_rotate(img, angle, mode, fill):
    """torchvision's tensor rotate (``_gen_affine_grid`` + ``_apply_grid_transform``), in PyTorch."""
    c, h, w = img.shape[-3:]
    rot = math.radians(-angle)
    m = [math.cos(rot), math.sin(rot), 0.0, -math.sin(rot), math.cos(rot), 0.0]
    theta = torch.tensor(m, dtype=torch.float32).reshape(1, 2, 3)
    base = torch.empty(1, h, w, 3)
    base[..., 0].copy_(torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w))
    base[..., 1].copy_(torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze(-1))
    base[..., 2].fill_(1)
    grid = base.view(1, h * w, 3).bmm(theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h])).view(1, h, w, 2)
    x = torch.tensor(img).reshape(-1, c, h, w)
    x = torch.cat([x, torch.ones(x.shape[0], 1, h, w)], 1)
    out = torch.nn.functional.grid_sample(x, grid.expand(x.shape[0], h, w, 2), mode=mode, padding_mode="zeros",
                                          align_corners=False)
    mask, out = out[:, -1:], out[:, :-1]
    fill_img = torch.tensor(fill, dtype=torch.float32).view(1, c, 1, 1).expand_as(out)
    if mode == "nearest":
        out = torch.where(mask.expand_as(out) < 0.5, fill_img, out)
    else:
        out = out * mask + (1.0 - mask) * fill_img
    return out.reshape(img.shape).numpy()


@requires_torch
@pytest.mark.parametrize("angle,mode", [(30.0, "bilinear"), (-50.0, "nearest"), (90.0, "nearest")])
def test_rotate_matches_torchvision_math(angle, mode):
    fill = [0.5, 0.0, 1.0]
    ref = _torch_rotate(X, angle, mode, fill)
    check_all(X, lambda t: F.rotate(t, angle, T.InterpolationMode(mode), fill=fill), ref, atol=1e-4)
    sq = X[0, :, :9, :9]
    np.testing.assert_allclose(F.rotate(torchish.tensor(sq), 90.0).numpy(), np.rot90(sq, 1, axes=(1, 2)), atol=1e-6)
    assert tuple(F.rotate(torchish.tensor(X), 45.0, expand=True).shape) == (2, 3, 16, 16)


# ------------------------------------------------------------------------------ colour
def test_grayscale_brightness_contrast_saturation():
    img = X[0]
    gray = 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    check_all(img, lambda t: T.Grayscale()(t), gray[None])
    check_all(img, lambda t: T.Grayscale(3)(t), np.stack([gray] * 3))
    check_all(img, lambda t: F.adjust_brightness(t, 1.7), np.clip(img * 1.7, 0, 1))
    check_all(img, lambda t: F.adjust_contrast(t, 0.4), np.clip(0.4 * img + 0.6 * gray.mean(), 0, 1))
    check_all(img, lambda t: F.adjust_saturation(t, 1.5), np.clip(1.5 * img - 0.5 * gray[None], 0, 1))
    u8 = U8.astype(np.float32)
    check_all(U8, lambda t: F.adjust_brightness(t, 0.55), np.floor(np.clip(np.float32(0.55) * u8, 0, 255)))
    with pytest.raises(ValueError, match="brightness_factor .* is not non-negative"):
        F.adjust_brightness(torchish.tensor(img), -1)


def test_adjust_hue_matches_colorsys():
    img = X[0]
    shift = 0.2
    ref = np.empty_like(img)
    for i in range(img.shape[1]):
        for j in range(img.shape[2]):
            h, s, v = colorsys.rgb_to_hsv(*img[:, i, j])
            ref[:, i, j] = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    check_all(img, lambda t: F.adjust_hue(t, shift), ref, atol=1e-5)
    with pytest.raises(ValueError, match=r"hue_factor \(0.7\) is not in \[-0.5, 0.5\]"):
        F.adjust_hue(torchish.tensor(img), 0.7)


def test_color_jitter_validation_and_pil():
    with pytest.raises(ValueError, match="If brightness is a single number, it must be non negative."):
        T.ColorJitter(brightness=-1)
    with pytest.raises(ValueError, match=r"hue values should be between \(-0.5, 0.5\)"):
        T.ColorJitter(hue=0.8)
    assert T.ColorJitter(brightness=0.5).brightness == (0.5, 1.5) and T.ColorJitter().hue is None
    Image = pytest.importorskip("PIL.Image", reason="Pillow (optional, in the test extra) reads image files")
    out = T.ColorJitter(0.3, 0.3, 0.3, 0.1)(Image.fromarray(np.moveaxis(U8, 0, -1)))
    assert out.mode == "RGB" and out.size == (11, 9)


# ------------------------------------------------------------------------------ random transforms
def test_random_crop_padding_and_pad_if_needed():
    for t in kinds(X[0]):
        out = T.RandomCrop(4, padding=2, padding_mode="reflect")(t)
        assert tuple(out.shape) == (3, 4, 4)
        padded = np.pad(X[0], [(0, 0), (2, 2), (2, 2)], mode="reflect")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 4, 4))[0]
        assert any(np.allclose(value(out), w) for w in windows.reshape(-1, 3, 4, 4))
    out = T.RandomCrop((12, 14), pad_if_needed=True, fill=0.5)(torchish.tensor(X[0]))
    assert tuple(out.shape) == (3, 12, 14)
    with pytest.raises(ValueError, match=r"Required crop size \(20, 20\) is larger than input image size \(9, 11\)"):
        T.RandomCrop(20)(torchish.tensor(X[0]))


def test_random_resized_crop_and_erasing():
    for t in kinds(X):
        assert tuple(T.RandomResizedCrop((5, 6))(t).shape) == (2, 3, 5, 6)
    with pytest.warns(UserWarning, match="Scale and ratio should be of kind"):
        T.RandomResizedCrop(4, scale=(1.0, 0.5))
    for t in kinds(X[0]):
        out = value(T.RandomErasing(p=1.0, value=(9.0, 8.0, 7.0))(t))
        changed = (out != X[0]).any(0)
        rows, cols = np.nonzero(changed)
        assert changed.sum() > 0 and changed.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # one rectangle
        assert (out[0][changed] == 9.0).all() and (out[2][changed] == 7.0).all()
    assert np.array_equal(value(T.RandomErasing(p=0.0)(torchish.tensor(X[0]))), X[0])
    noisy = value(T.RandomErasing(p=1.0, value="random")(torchish.tensor(X[0])))
    assert (noisy != X[0]).any()
    with pytest.raises(ValueError, match="If value is str, it should be 'random'"):
        T.RandomErasing(value="zeros")
    with pytest.raises(ValueError, match="Random erasing probability should be between 0 and 1"):
        T.RandomErasing(p=2)


def test_random_rotation_validation():
    with pytest.raises(ValueError, match="If degrees is a single number, it must be positive."):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match="degrees should be a sequence of length 2."):
        T.RandomRotation([1, 2, 3])
    assert T.RandomRotation(10).degrees == [-10.0, 10.0]
    out = T.RandomRotation((90, 90), fill=1.0)(torchish.tensor(X[0]))
    assert tuple(out.shape) == (3, 9, 11) and np.isclose(value(out)[:, 0, 0], 1.0).all()  # corners get the fill


def _pipeline(**kw):
    return T.Compose([T.RandomResizedCrop(6, **kw), T.RandomHorizontalFlip(**kw), T.RandomRotation(20, **kw),
                      T.ColorJitter(0.4, 0.4, 0.4, 0.1, **kw), T.RandomErasing(p=0.7, **kw)])


def test_random_transforms_follow_manual_seed_and_generator():
    pipe = _pipeline()
    torchish.manual_seed(42)
    a = [value(pipe(torchish.tensor(X[0]))) for _ in range(3)]
    torchish.manual_seed(42)
    b = [value(pipe(wrap(X[0].copy()))) for _ in range(3)]  # same seed, host path: same augmentations
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, atol=1e-5)
    assert not np.allclose(a[0], a[1])
    g = torchish.Generator().manual_seed(42)
    own = _pipeline(generator=g)
    c = value(own(torchish.tensor(X[0])))
    np.testing.assert_allclose(c, a[0], atol=1e-5)


def test_lambda_compose_repr():
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)
    t = T.Compose([T.Lambda(lambda x: x * 2), T.CenterCrop(2)])
    assert value(t(torchish.ones(1, 4, 4))).tolist() == [[[2.0, 2.0], [2.0, 2.0]]]
    assert "CenterCrop(size=(2, 2))" in repr(t)


def test_accelerator_path_uses_torchish_ops_and_matches_host_path():
    """Tensors that require grad (like accelerator tensors) go through torchish ops, not NumPy."""
    x = torchish.tensor(X[0], requires_grad=True)
    ops = [
        lambda t: F.resize(t, [5, 6]),
        lambda t: F.pad(t, (1, 2, 3, 0), padding_mode="reflect"),
        lambda t: F.crop(t, -1, 2, 4, 5),
        lambda t: F.hflip(t),
        lambda t: F.rotate(t, 30.0, T.InterpolationMode.BILINEAR, fill=[0.5, 0.5, 0.5]),
        lambda t: F.adjust_hue(t, 0.1),
        lambda t: F.normalize(t, (0.5,) * 3, (0.2,) * 3),
    ]
    for op in ops:
        out = op(x)
        assert out.requires_grad and not isinstance(out._value(), np.ndarray)
        np.testing.assert_allclose(out.detach().numpy(), op(wrap(X[0].copy())).numpy(), atol=1e-5)
    F.normalize(F.resize(x, [4, 4]), (0.5,) * 3, (0.25,) * 3).sum().backward()
    assert x.grad is not None and tuple(x.grad.shape) == X[0].shape
