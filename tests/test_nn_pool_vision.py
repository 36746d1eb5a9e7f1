"""Parity tests (PyTorch as the oracle) for nn.functional pooling, padding, interpolation and
other vision / embedding / distance functions."""

import numpy as np
import pytest

import torchish
from parity import check, check_raises, requires_torch, rnd

pytestmark = requires_torch


def F(lib):
    return lib.nn.functional


# ------------------------------------------------------------------------------------ max pool

MAX_CASES = [
    (1, (2, 3, 9), dict(kernel_size=3)),
    (1, (3, 10), dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    (2, (2, 2, 7, 6), dict(kernel_size=2)),
    (2, (2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (2, (1, 2, 8, 7), dict(kernel_size=(3, 2), stride=(2, 3), dilation=(2, 1), padding=(1, 0))),
    (3, (1, 2, 5, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), ceil_mode=True)),
]


@pytest.mark.parametrize("n,xs,kw", MAX_CASES)
def test_max_pool(n, xs, kw):
    fn = lambda lib, x: getattr(F(lib), f"max_pool{n}d")(x, **kw)  # noqa: E731
    check(fn, rnd(*xs))
    check(lambda lib, x: getattr(F(lib), f"max_pool{n}d")(x, return_indices=True, **kw), rnd(*xs))


def test_max_pool_ties_grad():
    """All-equal windows (ReLU zeros): the gradient goes to the first maximum, as PyTorch."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = 1.0
    check(lambda lib, x: F(lib).max_pool2d(x, 2), x)
    check(lambda lib, x: F(lib).max_pool2d(x, 3, 1, padding=1), x)
    check(lambda lib, x: F(lib).max_pool2d(x, 2, return_indices=True), x)


def test_max_pool_errors():
    check_raises(lambda lib, x: F(lib).max_pool2d(x, 3, padding=2), rnd(2, 4, 5, 5), exc=RuntimeError,
                 match="pad should be at most half of effective kernel size")
    check_raises(lambda lib, x: F(lib).max_pool2d(x, 3), rnd(2, 4, 2, 2), exc=RuntimeError,
                 match="Output size is too small")
    check_raises(lambda lib, x: F(lib).max_pool2d(x, 3), rnd(2, 4), exc=RuntimeError, match="3D or 4D")
    check_raises(lambda lib, x: F(lib).max_pool2d(x, 2, stride=0), rnd(1, 2, 4, 4), exc=RuntimeError,
                 match="stride should not be zero")


# ------------------------------------------------------------------------------------ avg pool

AVG_CASES = [
    (1, (2, 3, 9), dict(kernel_size=3)),
    (1, (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)),
    (2, (2, 2, 7, 6), dict(kernel_size=2)),
    (2, (2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (2, (1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (2, (1, 2, 6, 5), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), divisor_override=5)),
    (3, (1, 2, 5, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), ceil_mode=True, padding=1)),
]


@pytest.mark.parametrize("n,xs,kw", AVG_CASES)
def test_avg_pool(n, xs, kw):
    check(lambda lib, x: getattr(F(lib), f"avg_pool{n}d")(x, **kw), rnd(*xs))


@pytest.mark.parametrize("n,xs,kw", [(1, (2, 3, 9), dict(norm_type=2, kernel_size=3)),
                                     (2, (2, 6, 7), dict(norm_type=3, kernel_size=2, stride=2, ceil_mode=True)),
                                     (2, (1, 2, 6, 6), dict(norm_type=1.5, kernel_size=(3, 2)))])
def test_lp_pool(n, xs, kw):
    x = rnd(*xs, low=0.1) if kw["norm_type"] != 2 else rnd(*xs)
    check(lambda lib, x: getattr(F(lib), f"lp_pool{n}d")(x, **kw), x, rtol=1e-4)


# ------------------------------------------------------------------------------------ adaptive


@pytest.mark.parametrize("n,xs,size", [(1, (2, 3, 9), 4), (1, (3, 8), 4), (2, (2, 2, 7, 6), (3, 4)),
                                       (2, (2, 5, 5), 1), (2, (1, 2, 5, 6), (None, 4)), (3, (1, 2, 5, 4, 5), (2, 3, 3)),
                                       (2, (1, 2, 3, 3), 5)])
def test_adaptive_pool(n, xs, size):
    check(lambda lib, x: getattr(F(lib), f"adaptive_avg_pool{n}d")(x, size), rnd(*xs))
    check(lambda lib, x: getattr(F(lib), f"adaptive_max_pool{n}d")(x, size, return_indices=True), rnd(*xs))


def test_adaptive_pool_errors():
    check_raises(lambda lib, x: F(lib).adaptive_avg_pool2d(x, 3), rnd(2, 4), exc=RuntimeError,
                 match=r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got \[2, 4\]")


# ------------------------------------------------------------------------------------- unpool


@pytest.mark.parametrize("n,xs,kw", [(1, (2, 3, 8), dict(kernel_size=2)), (2, (1, 2, 6, 7), dict(kernel_size=3, stride=2)),
                                     (3, (1, 1, 4, 4, 4), dict(kernel_size=2))])
def test_max_unpool(n, xs, kw):
    def fn(lib, x):
        y, i = getattr(F(lib), f"max_pool{n}d")(x, return_indices=True, **kw)
        return getattr(F(lib), f"max_unpool{n}d")(y, i, **kw)

    check(fn, rnd(*xs))


def test_max_unpool_output_size():
    def fn(lib, x):
        y, i = F(lib).max_pool2d(x, 2, return_indices=True)
        return F(lib).max_unpool2d(y, i, 2, output_size=(5, 5))

    check(fn, rnd(1, 2, 5, 5))


# ----------------------------------------------------------------------------------------- pad

PAD_CASES = [
    ((2, 3, 4), (1, 2), "constant"), ((2, 3, 4), (1, 2, 0, 1, 1, 0), "constant"), ((2, 5), (-1, 2, 1, -2), "constant"),
    ((2, 3, 4), (3, 2), "reflect"), ((1, 2, 4, 5), (1, 2, 3, 0), "reflect"), ((3, 4, 3, 3), (1, 1, 2, 0, 1, 2), "reflect"),
    ((2, 3, 4), (2, 3), "replicate"), ((1, 2, 3, 4), (2, 0, 1, 3), "replicate"), ((2, 2, 2, 3), (1, 1, 1, 1, 1, 1), "replicate"),
    ((2, 3, 4), (4, 1), "circular"), ((1, 2, 3, 4), (2, 0, 1, 3), "circular"), ((1, 1, 2, 3, 2), (1, 1, 2, 0, 1, 2), "circular"),
    ((1, 2, 5), (-1, 2), "circular"), ((1, 2, 5), (2, -1), "reflect"), ((1, 2, 5), (-2, 3), "replicate"),
]


@pytest.mark.parametrize("xs,p,mode", PAD_CASES)
def test_pad(xs, p, mode):
    check(lambda lib, x: F(lib).pad(x, p, mode=mode), rnd(*xs))


def test_pad_value_and_int():
    check(lambda lib, x: F(lib).pad(x, (1, 1, 2, 0), value=3.5), rnd(2, 3))
    check(lambda lib, x: F(lib).pad(x, (1, 1), value=2), rnd(2, 3, dtype=np.int64), grad=False)


def test_pad_errors():
    check_raises(lambda lib, x: F(lib).pad(x, (1, 2, 3)), rnd(2, 4), exc=RuntimeError,
                 match="Padding length must be divisible by 2")
    check_raises(lambda lib, x: F(lib).pad(x, (4, 4), mode="reflect"), rnd(2, 3, 4), exc=RuntimeError,
                 match="Padding size should be less than the corresponding input dimension")
    check_raises(lambda lib, x: F(lib).pad(x, (5, 5), mode="circular"), rnd(2, 3, 4), exc=RuntimeError,
                 match="wrapping around more than once")
    check_raises(lambda lib, x: F(lib).pad(x, (1, 1, 1, 1, 1, 1), mode="reflect"), rnd(2, 3, 4),
                 exc=NotImplementedError, match="Padding size 6 is not supported for 3D input tensor")
    check_raises(lambda lib, x: F(lib).pad(x, (1, 1), mode="foo"), rnd(2, 3, 4), exc=NotImplementedError,
                 match="Unrecognised padding mode foo")


# --------------------------------------------------------------------------------- interpolate

INTERP_CASES = [
    ((2, 3, 5), dict(size=8, mode="nearest")),
    ((2, 3, 5), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 7), dict(size=3, mode="nearest")),
    ((1, 2, 5, 4), dict(scale_factor=(1.7, 0.6), mode="nearest")),
    ((1, 2, 5, 4), dict(size=(7, 3), mode="nearest-exact")),
    ((1, 2, 3, 4, 5), dict(size=(5, 3, 7), mode="nearest")),
    ((2, 3, 5), dict(size=8, mode="linear")),
    ((2, 3, 5), dict(size=8, mode="linear", align_corners=True)),
    ((1, 2, 5, 4), dict(size=(7, 3), mode="bilinear")),
    ((1, 2, 5, 4), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ((1, 2, 5, 4), dict(scale_factor=(2.3, 0.7), mode="bilinear")),
    ((1, 2, 5, 4), dict(scale_factor=(2.3, 0.7), mode="bilinear", recompute_scale_factor=True)),
    ((1, 2, 5, 4), dict(size=(9, 6), mode="bicubic")),
    ((1, 2, 5, 4), dict(size=(3, 7), mode="bicubic", align_corners=True)),
    ((1, 2, 5, 4), dict(scale_factor=1.3, mode="bicubic")),
    ((1, 1, 3, 4, 3), dict(size=(5, 3, 6), mode="trilinear")),
    ((1, 1, 3, 4, 3), dict(scale_factor=2, mode="trilinear", align_corners=True)),
    ((1, 2, 7, 5), dict(size=(3, 2), mode="area")),
    ((1, 2, 8, 6), dict(scale_factor=0.5, mode="area")),
]


@pytest.mark.parametrize("xs,kw", INTERP_CASES)
def test_interpolate(xs, kw):
    check(lambda lib, x: F(lib).interpolate(x, **kw), rnd(*xs), rtol=1e-5, atol=1e-5)


def test_interpolate_half_and_int():
    check(lambda lib, x: F(lib).interpolate(x.double(), size=(7, 3), mode="bilinear"), rnd(1, 2, 5, 4))


def test_upsample_alias_warns():
    x = torchish.randn(1, 1, 3, 4)
    with pytest.warns(UserWarning, match="upsample` is deprecated"):
        y = torchish.nn.functional.upsample(x, scale_factor=2)
    assert y.shape == (1, 1, 6, 8)


def test_interpolate_errors():
    check_raises(lambda lib, x: F(lib).interpolate(x, size=5, mode="bilinear"), rnd(2, 3, 4),
                 exc=NotImplementedError, match="Got 3D input, but bilinear mode needs 4D input")
    check_raises(lambda lib, x: F(lib).interpolate(x, size=5, scale_factor=2), rnd(2, 3, 4), exc=ValueError,
                 match="only one of size or scale_factor should be defined")
    check_raises(lambda lib, x: F(lib).interpolate(x, size=5, align_corners=True), rnd(2, 3, 4), exc=ValueError,
                 match="align_corners option can only be set with the interpolating modes")
    check_raises(lambda lib, x: F(lib).interpolate(x, size=(5,), mode="bilinear"), rnd(1, 1, 3, 4), exc=ValueError,
                 match="same number of spatial dimensions")


# ------------------------------------------------------------------------------- pixel shuffle


def test_pixel_shuffle():
    check(lambda lib, x: F(lib).pixel_shuffle(x, 2), rnd(2, 8, 3, 2))
    check(lambda lib, x: F(lib).pixel_shuffle(x, 3), rnd(9, 2, 2))
    check(lambda lib, x: F(lib).pixel_unshuffle(x, 2), rnd(2, 2, 4, 6))
    check(lambda lib, x: F(lib).pixel_unshuffle(x, 2), rnd(2, 3, 2, 4, 2))
    check_raises(lambda lib, x: F(lib).pixel_shuffle(x, 2), rnd(1, 5, 2, 2), exc=RuntimeError,
                 match=r"input.size\(-3\)=5 is not divisible by 4")


# ----------------------------------------------------------------------------------- embedding


def _idx(*shape, high=10):
    return np.random.default_rng(sum(shape)).integers(0, high, shape).astype(np.int64)


@pytest.mark.parametrize("kw", [dict(), dict(padding_idx=2), dict(padding_idx=-1), dict(scale_grad_by_freq=True),
                                dict(padding_idx=0, scale_grad_by_freq=True)])
def test_embedding(kw):
    idx = _idx(3, 5)
    idx[0, :2] = 2
    idx[1, 0] = 9
    check(lambda lib, i, w: F(lib).embedding(i, w, **kw), idx, rnd(10, 4))


def test_embedding_max_norm():
    idx = _idx(6)

    def fn(lib, i, w):
        w = w.detach().clone().requires_grad_(True)
        out = F(lib).embedding(i, w, max_norm=1.0)
        return out, w.detach()

    check(fn, idx, rnd(10, 4), grad=False)


def test_embedding_errors():
    check_raises(lambda lib, i, w: F(lib).embedding(i, w), rnd(2), rnd(4, 3), exc=RuntimeError,
                 match="'indices' to have one of the following scalar types: Long, Int")
    with pytest.raises(ValueError, match="Padding_idx must be within num_embeddings"):
        torchish.nn.functional.embedding(torchish.tensor([1]), torchish.randn(4, 3), padding_idx=4)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(mode):
    w = rnd(10, 3)
    check(lambda lib, i, o, w: F(lib).embedding_bag(i, w, o, mode=mode), _idx(8), np.array([0, 3, 3, 5]), w)
    check(lambda lib, i, w: F(lib).embedding_bag(i, w, mode=mode, padding_idx=1), _idx(3, 4), w)
    check(lambda lib, i, o, w: F(lib).embedding_bag(i, w, o, mode=mode, include_last_offset=True), _idx(8),
          np.array([0, 2, 6, 8]), w)


def test_embedding_bag_per_sample_weights():
    check(lambda lib, i, o, w, s: F(lib).embedding_bag(i, w, o, mode="sum", per_sample_weights=s), _idx(8),
          np.array([0, 3, 5]), rnd(10, 3), rnd(8))


def test_one_hot():
    check(lambda lib, i: F(lib).one_hot(i), _idx(2, 3), grad=False)
    check(lambda lib, i: F(lib).one_hot(i, 12), _idx(5), grad=False)
    check_raises(lambda lib, i: F(lib).one_hot(i), rnd(3), exc=RuntimeError, match="LongTensor")


def test_one_hot_traced_needs_num_classes():
    import jax

    def f(a):
        return torchish.nn.functional.one_hot(torchish.Tensor(a))._data

    with pytest.raises(RuntimeError, match="Pass num_classes explicitly"):
        jax.jit(f)(np.array([1, 2], np.int64))
    assert jax.jit(lambda a: torchish.nn.functional.one_hot(torchish.Tensor(a), 4)._data)(np.array([1, 2])).shape == (2, 4)


# ------------------------------------------------------------------------------------ distance


def test_normalize():
    check(lambda lib, x: F(lib).normalize(x), rnd(3, 4))
    check(lambda lib, x: F(lib).normalize(x, p=1, dim=0), rnd(3, 4))
    z = rnd(2, 3)
    z[0] = 0
    check(lambda lib, x: F(lib).normalize(x, dim=-1), z)


def test_cosine_similarity():
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b), rnd(3, 4), rnd(3, 4))
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=-1), rnd(2, 1, 4), rnd(3, 4))
    z = rnd(2, 3)
    z[0] = 1e-10
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, eps=1e-6), z, rnd(2, 3), rtol=1e-4)
    check_raises(lambda lib, a, b: F(lib).cosine_similarity(a, b), rnd(2, 3), rnd(4, 3), exc=RuntimeError,
                 match=r"The size of tensor a \(2\) must match the size of tensor b \(4\)")


def test_pairwise_distance_and_pdist():
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b), rnd(3, 4), rnd(3, 4))
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=1, keepdim=True), rnd(3, 4), rnd(4))
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=3), rnd(4), rnd(4), rtol=1e-4)
    check(lambda lib, a: F(lib).pdist(a), rnd(4, 3))
    check(lambda lib, a: F(lib).pdist(a, p=1), rnd(4, 3))


# ------------------------------------------------------------------------ affine_grid / grid_sample


@pytest.mark.parametrize("size,align", [((2, 3, 4, 5), False), ((2, 3, 4, 5), True), ((1, 2, 3, 4, 2), False),
                                        ((1, 1, 1, 3), True)])
@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid behavior has changed for unit-size grids")
def test_affine_grid(size, align):
    k = len(size) - 2
    check(lambda lib, t: F(lib).affine_grid(t, size, align_corners=align), rnd(size[0], k, k + 1))


GRID_CASES = [("bilinear", "zeros", False), ("bilinear", "border", True), ("bilinear", "reflection", False),
              ("bilinear", "reflection", True), ("nearest", "zeros", False), ("nearest", "border", True),
              ("bicubic", "zeros", False), ("bicubic", "reflection", True), ("bicubic", "border", False)]


@pytest.mark.parametrize("mode,pad,align", GRID_CASES)
def test_grid_sample_2d(mode, pad, align):
    grid = (rnd(2, 3, 4, 2) * 0.8).astype(np.float32)  # some points fall outside [-1, 1]
    check(lambda lib, x, g: F(lib).grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=align),
          rnd(2, 3, 5, 6), grid, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode,pad", [("bilinear", "zeros"), ("bilinear", "reflection"), ("nearest", "border")])
def test_grid_sample_3d(mode, pad):
    check(lambda lib, x, g: F(lib).grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=False),
          rnd(1, 2, 3, 4, 5), rnd(1, 2, 3, 2, 3), rtol=1e-4, atol=1e-5)


def test_grid_sample_errors_and_warning():
    check_raises(lambda lib, x, g: F(lib).grid_sample(x, g, mode="foo", align_corners=False), rnd(1, 1, 3, 3),
                 rnd(1, 2, 2, 2), exc=ValueError, match="expected mode to be 'bilinear', 'nearest' or 'bicubic'")
    check_raises(lambda lib, x, g: F(lib).grid_sample(x, g, align_corners=False), rnd(2, 1, 3, 3), rnd(1, 2, 2, 2),
                 exc=RuntimeError, match="same batch size")
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        torchish.nn.functional.affine_grid(torchish.randn(1, 2, 3), (1, 1, 2, 2))


def test_channel_shuffle():
    check(lambda lib, x: F(lib).channel_shuffle(x, 3), rnd(2, 6, 2, 2))
    check_raises(lambda lib, x: F(lib).channel_shuffle(x, 4), rnd(2, 6, 2), exc=RuntimeError,
                 match="Number of channels must be divisible by groups")


def test_torch_namespace_forms():
    """torch.conv2d, torch.embedding(weight, idx), torch.adaptive_max_pool1d (a tuple), ..."""
    check(lambda lib, x, w: lib.conv2d(x, w, padding=1), rnd(1, 2, 4, 4), rnd(3, 2, 3, 3), rtol=1e-4, atol=1e-5)
    check(lambda lib, w, i: lib.embedding(w, i, padding_idx=1), rnd(5, 3), np.array([1, 2, 4]))
    check(lambda lib, x: lib.adaptive_max_pool1d(x, 3), rnd(2, 3, 7))
    check(lambda lib, x: lib.max_pool2d(x, 2), rnd(1, 2, 4, 4))
    check(lambda lib, x: lib.constant_pad_nd(x, (1, 2), 3.0), rnd(2, 3))
    check(lambda lib, a, b: lib.cosine_similarity(a, b), rnd(2, 3), rnd(2, 3))
    check(lambda lib, x: lib.pixel_shuffle(x, 2), rnd(1, 4, 2, 2))
