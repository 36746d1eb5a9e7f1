"""Module parity for the layers of nn_layers_a (Linear, Conv, pooling, padding, upsampling,
Embedding, ...): build the torch module and the torchish one with the same arguments, copy the
weights with load_state_dict, and compare outputs, input grads and parameter grads in train and
eval mode; plus default-init distributions, reprs and constructor errors."""

import math

import numpy as np
import pytest

import torchish
from parity import assert_close, requires_torch, rnd, to_numpy, torch

pytestmark = [requires_torch, pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")]


def module_parity(ctor, *inputs, rtol=1e-5, atol=1e-6, call=None, seed=0):
    """Compare ``ctor(lib)`` in torch and torchish on NumPy ``inputs`` (float ones require grad)."""
    tm, im = ctor(torch), ctor(torchish)
    im.load_state_dict(tm.state_dict())
    assert list(im.state_dict()) == list(tm.state_dict())
    call = call or (lambda m, *xs: m(*xs))
    for training in (True, False):
        tm.train(training)
        im.train(training)
        t_in = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
        i_in = [torchish.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
        t_out, i_out = call(tm, *t_in), call(im, *i_in)
        assert_close(t_out, i_out, rtol, atol)
        t_o = t_out[0] if isinstance(t_out, tuple) else t_out
        i_o = i_out[0] if isinstance(i_out, tuple) else i_out
        if not t_o.requires_grad:
            continue
        ct = np.random.default_rng(seed).standard_normal(tuple(t_o.shape)).astype(np.float32)
        (t_o * torch.tensor(ct).to(t_o.dtype)).sum().backward()
        (i_o * torchish.tensor(ct).to(i_o.dtype)).sum().backward()
        grads_t = [x.grad for x in t_in if x.requires_grad] + [p.grad for _, p in tm.named_parameters()]
        grads_i = [x.grad for x in i_in if x.requires_grad] + [p.grad for _, p in im.named_parameters()]
        grads_t = [g if g is not None else torch.zeros(()) for g in grads_t]
        grads_i = [g if g is not None else torchish.zeros(()) for g in grads_i]
        assert_close(grads_t, grads_i, rtol * 10, atol * 10, what="grad")
        tm.zero_grad()
        im.zero_grad()


def nn(lib):
    return lib.nn


# --------------------------------------------------------------------------------- linear family


@pytest.mark.parametrize("xs,kw", [((3, 4), dict(in_features=4, out_features=5)),
                                   ((2, 3, 4), dict(in_features=4, out_features=2, bias=False)),
                                   ((4,), dict(in_features=4, out_features=3))])
def test_linear_module(xs, kw):
    module_parity(lambda lib: nn(lib).Linear(**kw), rnd(*xs))


def test_bilinear_identity_flatten_modules():
    module_parity(lambda lib: nn(lib).Bilinear(3, 4, 5), rnd(2, 3), rnd(2, 4))
    module_parity(lambda lib: nn(lib).Bilinear(3, 4, 2, bias=False), rnd(3), rnd(4))
    module_parity(lambda lib: nn(lib).Identity(54, unused=1), rnd(2, 3))
    module_parity(lambda lib: nn(lib).Flatten(), rnd(2, 3, 4))
    module_parity(lambda lib: nn(lib).Flatten(0, 1), rnd(2, 3, 4))
    module_parity(lambda lib: nn(lib).Unflatten(1, (2, 3)), rnd(2, 6, 4))


def test_linear_input_error():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(32x784 and 100x10\)"):
        torchish.nn.Linear(100, 10)(torchish.randn(32, 784))


def test_lazy_linear():
    m = torchish.nn.LazyLinear(4)
    y = m(torchish.randn(2, 5))
    assert type(m) is torchish.nn.Linear and m.in_features == 5 and y.shape == (2, 4)
    assert m.weight.shape == (4, 5) and float(m.weight.abs().max()) <= 1 / math.sqrt(5)


# ------------------------------------------------------------------------------------------ conv

CONV_MODULES = [
    ("Conv1d", (2, 3, 9), dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1)),
    ("Conv1d", (3, 9), dict(in_channels=3, out_channels=3, kernel_size=2, padding="same", groups=3,
                            padding_mode="reflect")),
    ("Conv2d", (2, 2, 6, 5), dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, padding_mode="circular")),
    ("Conv2d", (1, 4, 6, 6), dict(in_channels=4, out_channels=2, kernel_size=(3, 2), dilation=(2, 1), groups=2,
                                  bias=False, padding=(2, 1), padding_mode="replicate")),
    ("Conv2d", (1, 2, 5, 5), dict(in_channels=2, out_channels=3, kernel_size=3, padding="same",
                                  padding_mode="reflect")),
    ("Conv3d", (1, 2, 4, 4, 3), dict(in_channels=2, out_channels=2, kernel_size=2, padding=1)),
    ("ConvTranspose1d", (2, 3, 5), dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, output_padding=1)),
    ("ConvTranspose2d", (1, 4, 3, 4), dict(in_channels=4, out_channels=2, kernel_size=3, stride=2, padding=1,
                                           groups=2, dilation=1)),
    ("ConvTranspose3d", (1, 2, 2, 3, 2), dict(in_channels=2, out_channels=3, kernel_size=2, stride=(1, 2, 1),
                                              bias=False)),
]


@pytest.mark.parametrize("name,xs,kw", CONV_MODULES)
def test_conv_module(name, xs, kw):
    module_parity(lambda lib: getattr(nn(lib), name)(**kw), rnd(*xs), rtol=1e-4, atol=1e-5)


def test_conv_transpose_output_size():
    module_parity(lambda lib: nn(lib).ConvTranspose2d(2, 3, 3, stride=2, padding=1), rnd(1, 2, 4, 4),
                  call=lambda m, x: m(x, output_size=[8, 8]), rtol=1e-4, atol=1e-5)
    module_parity(lambda lib: nn(lib).ConvTranspose1d(2, 3, 3, stride=3), rnd(2, 5),
                  call=lambda m, x: m(x, output_size=(3, 17)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"requested an output size of \[20, 20\], but valid sizes range from"):
        torchish.nn.ConvTranspose2d(4, 4, 3)(torchish.randn(1, 4, 5, 5), output_size=(20, 20))


def test_conv_module_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        torchish.nn.Conv2d(4, 5, 3, groups=3)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        torchish.nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        torchish.nn.Conv2d(4, 6, 3, padding_mode="foo")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        torchish.nn.Conv2d(4, 6, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        torchish.nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"):
        torchish.nn.Conv2d(2, 3, 3)(torchish.randn(2, 3))


# ---------------------------------------------------------------------------------- pooling etc.

SIMPLE_MODULES = [
    ("MaxPool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", (2, 2, 7, 6), dict(kernel_size=2, ceil_mode=True)),
    ("MaxPool2d", (2, 6, 6), dict(kernel_size=3, stride=2, return_indices=True)),
    ("MaxPool3d", (1, 2, 4, 4, 4), dict(kernel_size=2, dilation=(1, 2, 1), padding=(1, 0, 1))),
    ("AvgPool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("AvgPool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("AvgPool3d", (1, 2, 4, 4, 4), dict(kernel_size=2, divisor_override=3)),
    ("LPPool1d", (2, 3, 8), dict(norm_type=2, kernel_size=2)),
    ("LPPool2d", (2, 2, 6, 6), dict(norm_type=2, kernel_size=3, stride=2)),
    ("AdaptiveAvgPool1d", (2, 3, 9), dict(output_size=4)),
    ("AdaptiveAvgPool2d", (2, 2, 7, 6), dict(output_size=(3, None))),
    ("AdaptiveAvgPool3d", (1, 2, 4, 5, 4), dict(output_size=2)),
    ("AdaptiveMaxPool1d", (2, 3, 9), dict(output_size=4)),
    ("AdaptiveMaxPool2d", (2, 2, 7, 6), dict(output_size=(3, 4), return_indices=True)),
    ("ZeroPad1d", (2, 3, 4), dict(padding=(1, 2))),
    ("ZeroPad2d", (2, 3, 4), dict(padding=1)),
    ("ZeroPad3d", (1, 2, 3, 4), dict(padding=(1, 0, 0, 1, 2, 0))),
    ("ConstantPad1d", (2, 3, 4), dict(padding=2, value=1.5)),
    ("ConstantPad2d", (2, 3, 4), dict(padding=(1, 0, 2, 1), value=-1.0)),
    ("ConstantPad3d", (1, 2, 3, 4), dict(padding=1, value=2.0)),
    ("ReflectionPad1d", (2, 3, 4), dict(padding=2)),
    ("ReflectionPad2d", (1, 2, 3, 4), dict(padding=(1, 2, 2, 1))),
    ("ReflectionPad3d", (1, 2, 3, 4, 3), dict(padding=1)),
    ("ReplicationPad1d", (2, 3, 4), dict(padding=(3, 1))),
    ("ReplicationPad2d", (2, 3, 4), dict(padding=2)),
    ("ReplicationPad3d", (1, 2, 3, 4, 3), dict(padding=(1, 0, 2, 0, 0, 1))),
    ("CircularPad1d", (2, 3, 4), dict(padding=2)),
    ("CircularPad2d", (1, 2, 3, 4), dict(padding=(1, 2, 2, 1))),
    ("CircularPad3d", (1, 1, 2, 3, 2), dict(padding=1)),
    ("Upsample", (1, 2, 3, 4), dict(scale_factor=2)),
    ("Upsample", (1, 2, 3, 4), dict(size=(5, 7), mode="bilinear")),
    ("Upsample", (1, 2, 3), dict(scale_factor=2.5, mode="linear", align_corners=True)),
    ("UpsamplingNearest2d", (1, 2, 3, 4), dict(scale_factor=2)),
    ("UpsamplingBilinear2d", (1, 2, 3, 4), dict(size=(5, 6))),
    ("PixelShuffle", (1, 8, 2, 3), dict(upscale_factor=2)),
    ("PixelUnshuffle", (1, 2, 4, 6), dict(downscale_factor=2)),
    ("ChannelShuffle", (1, 6, 2, 3), dict(groups=2)),
    ("Unfold", (2, 3, 5, 5), dict(kernel_size=2, stride=2, padding=1)),
    ("Fold", (2, 12, 20), dict(output_size=(5, 6), kernel_size=2)),
]


@pytest.mark.parametrize("name,xs,kw", SIMPLE_MODULES)
def test_simple_module(name, xs, kw):
    module_parity(lambda lib: getattr(nn(lib), name)(**kw), rnd(*xs), rtol=1e-5, atol=1e-5)
    assert repr(getattr(torchish.nn, name)(**kw)) == repr(getattr(torch.nn, name)(**kw))


def test_max_unpool_module():
    def call(m, x):
        y, i = torch.nn.functional.max_pool2d(x, 2, return_indices=True) if isinstance(x, torch.Tensor) else \
            torchish.nn.functional.max_pool2d(x, 2, return_indices=True)
        return m(y, i)

    module_parity(lambda lib: nn(lib).MaxUnpool2d(2), rnd(1, 2, 4, 6), call=call)
    assert repr(torchish.nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))


def test_distance_modules():
    module_parity(lambda lib: nn(lib).CosineSimilarity(dim=-1), rnd(3, 4), rnd(3, 4))
    module_parity(lambda lib: nn(lib).PairwiseDistance(p=1.0, keepdim=True), rnd(3, 4), rnd(3, 4))


def test_circular_pad_module_dims():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        torchish.nn.CircularPad2d(1)(torchish.randn(2, 3))


# ------------------------------------------------------------------------------------ embedding


def test_embedding_module():
    idx = np.array([[0, 2, 2], [4, 9, 0]], np.int64)
    module_parity(lambda lib: nn(lib).Embedding(10, 3), idx)  # (repeated indices: the grads add up)
    module_parity(lambda lib: nn(lib).Embedding(10, 3, padding_idx=0), idx)
    module_parity(lambda lib: nn(lib).Embedding(10, 3, scale_grad_by_freq=True), idx)
    m = torchish.nn.Embedding(10, 3, padding_idx=2)
    m(torchish.tensor(idx)).sum().backward()
    assert float(m.weight.grad[2].abs().sum()) == 0 and float(m.weight[2].abs().sum()) == 0
    assert float(m.weight.grad[4].abs().sum()) > 0


def test_embedding_bag_module():
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9], np.int64)
    off = np.array([0, 4, 4], np.int64)
    module_parity(lambda lib: nn(lib).EmbeddingBag(10, 3, mode="sum"), idx, off)
    module_parity(lambda lib: nn(lib).EmbeddingBag(10, 3, padding_idx=4), idx.reshape(2, 4))


def test_embedding_from_pretrained():
    w = torchish.randn(4, 3)
    e = torchish.nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad
    np.testing.assert_array_equal(e(torchish.tensor([1, 3])).numpy(), w.numpy()[[1, 3]])
    e2 = torchish.nn.Embedding.from_pretrained(w, freeze=False, padding_idx=1)
    assert e2.weight.requires_grad and e2.padding_idx == 1
    with pytest.raises(ValueError, match="Embeddings parameter is expected to be 2-dimensional"):
        torchish.nn.Embedding.from_pretrained(torchish.randn(3))
    bag = torchish.nn.EmbeddingBag.from_pretrained(w, mode="max")
    assert not bag.weight.requires_grad and bag.mode == "max"


# ----------------------------------------------------------------------------- init and reprs


def test_default_init_distributions():
    torchish.manual_seed(0)
    lin = torchish.nn.Linear(400, 300)
    w, b = to_numpy(lin.weight), to_numpy(lin.bias)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound and abs(w.mean()) < 0.05 * bound
    assert np.std(w) == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    conv = torchish.nn.Conv2d(8, 16, 3, groups=2)
    cb = 1 / math.sqrt(4 * 9)
    assert np.abs(to_numpy(conv.weight)).max() <= cb and np.abs(to_numpy(conv.bias)).max() <= cb
    tconv = torchish.nn.ConvTranspose2d(8, 6, 3)  # fan_in = weight.size(1) * k * k = 6 * 9
    assert np.abs(to_numpy(tconv.weight)).max() <= 1 / math.sqrt(54)
    emb = torchish.nn.Embedding(1000, 20, padding_idx=3)
    e = to_numpy(emb.weight)
    assert np.all(e[3] == 0) and abs(e.mean()) < 0.03 and np.std(e) == pytest.approx(1.0, rel=0.03)
    bil = torchish.nn.Bilinear(100, 7, 5)
    assert np.abs(to_numpy(bil.weight)).max() <= 0.1


@pytest.mark.parametrize("build", [
    lambda nn: nn.Linear(3, 4), lambda nn: nn.Bilinear(2, 3, 4, bias=False), lambda nn: nn.Flatten(),
    lambda nn: nn.Unflatten(1, (2, 3)), lambda nn: nn.Conv2d(2, 4, 3),
    lambda nn: nn.Conv2d(2, 4, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect"),
    lambda nn: nn.Conv1d(2, 4, 3, padding="same"), lambda nn: nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=1),
    lambda nn: nn.Embedding(10, 3, padding_idx=-1, max_norm=1.0), lambda nn: nn.EmbeddingBag(10, 3, mode="sum"),
    lambda nn: nn.CosineSimilarity(), lambda nn: nn.PairwiseDistance(), lambda nn: nn.Identity(),
    lambda nn: nn.MaxPool1d(3, 2, 1, return_indices=True), lambda nn: nn.AdaptiveAvgPool2d((None, 3)),
    lambda nn: nn.LPPool2d(2, 3),
])
def test_repr_matches_torch(build):
    assert repr(build(torchish.nn)) == repr(build(torch.nn))
