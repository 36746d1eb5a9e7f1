"""Dropout: masks cannot equal PyTorch's (different generator), so these tests check the
statistics and contracts: fraction dropped, scaling, the same mask in forward and backward,
eval = identity, fresh masks per call, reproducibility under manual_seed, channel-wise masks,
alpha dropout's moments, errors and warnings (messages from PyTorch), and compiled steps."""

from __future__ import annotations

import numpy as np
import pytest

import torchish
from parity import check_raises, requires_torch, torch

F = torchish.nn.functional


def _ones(*shape, requires_grad=False):
    return torchish.ones(*shape, requires_grad=requires_grad)


@pytest.mark.parametrize("p", [0.2, 0.9])
def test_dropout_fraction_scaling_and_gradient_mask(p):
    x = _ones(100, 100, requires_grad=True)
    y = F.dropout(x, p)
    out = y.detach().numpy()
    kept = out != 0
    assert abs(1 - kept.mean() - p) < 0.02
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    (y * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept * 3 / (1 - p), rtol=1e-6)  # same mask as forward


def test_dropout_eval_identity_and_edge_probabilities():
    x = torchish.randn(4, 5, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros((4, 5)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 5)))
    m = torchish.nn.Dropout(0.5).eval()
    assert m(x) is x


def test_fresh_masks_and_reseeding():
    x = _ones(64, 64)
    torchish.manual_seed(123)
    a, b = F.dropout(x).numpy(), F.dropout(x).numpy()
    assert (a != b).any()
    torchish.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(x).numpy(), a)
    np.testing.assert_array_equal(F.dropout(x).numpy(), b)


def test_inplace_modifies_input():
    x = torchish.ones(50, 50)
    y = F.dropout(x, 0.5, inplace=True)
    assert y is x
    assert set(np.unique(x.numpy())) == {0.0, 2.0}
    z = torchish.ones(8, 6, 4)
    m = torchish.nn.Dropout2d(0.5, inplace=True)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        assert m(z) is z
    assert set(np.unique(z.numpy())) <= {0.0, 2.0}


def _channel_check(y, p, ndim_batch):
    """Every channel slice is all dropped or all kept (scaled)."""
    v = y.detach().numpy()
    flat = v.reshape(v.shape[:ndim_batch] + (-1,))
    first = flat[..., :1]
    assert (flat == first).all(), "mask varies within a channel"
    assert set(np.unique(first)) <= {0.0, np.float32(1 / (1 - p))}
    return first


@pytest.mark.parametrize("fn,shape,nb", [
    (F.dropout1d, (40, 30, 4), 2), (F.dropout1d, (200, 4), 1), (F.dropout2d, (40, 30, 2, 3), 2),
    (F.dropout3d, (40, 30, 2, 2, 2), 2), (F.dropout3d, (200, 2, 2, 2), 1),
])
def test_channel_dropout(fn, shape, nb):
    x = _ones(*shape, requires_grad=True)
    y = fn(x, 0.4)
    first = _channel_check(y, 0.4, nb)
    assert abs((first == 0).mean() - 0.4) < 0.08
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # grad = mask / (1 - p)
    assert fn(x, 0.4, training=False) is x


def test_channel_dropout_dims_warnings_and_errors():
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        F.dropout1d(_ones(2, 3, 4, 5))
    with pytest.warns(UserWarning, match="dropout2d: Received a 2-D input to dropout2d, which is deprecated"):
        F.dropout2d(_ones(4, 5))
    with pytest.warns(UserWarning, match="dropout3d: Received a 3-D input to dropout3d, which is deprecated"):
        F.dropout3d(_ones(4, 5, 6))
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
        F.feature_alpha_dropout(_ones(5), 0.5, True)


@requires_torch
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_validation(p):
    msg = f"dropout probability has to be between 0 and 1, but got {p}"
    for name in ["dropout", "alpha_dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"]:
        check_raises(lambda lib, x: getattr(lib.nn.functional, name)(x, p), np.ones((2, 3, 4), np.float32),
                     exc=ValueError, match=msg)
    for name in ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]:
        with pytest.raises(ValueError, match=msg):
            getattr(torchish.nn, name)(p)
        with pytest.raises(ValueError):
            getattr(torch.nn, name)(p)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_moments_and_values(p):
    torchish.manual_seed(1)
    x = torchish.randn(200, 100)
    y = F.alpha_dropout(x, p, training=True).numpy()
    assert abs(y.mean()) < 0.03 and abs(y.std() - 1) < 0.03  # self-normalizing: N(0, 1) stays N(0, 1)
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    xv = x.numpy()
    kept = np.isclose(y, xv * a + alpha * a * p, rtol=1e-5, atol=1e-6)
    dropped = np.isclose(y, alpha * a * (p - 1), rtol=1e-5)
    assert (kept | dropped).all()
    assert abs(dropped.mean() - p) < 0.02
    np.testing.assert_array_equal(F.alpha_dropout(x, p).numpy(), xv)  # training=False by default


def test_feature_alpha_dropout_is_channelwise():
    x = torchish.zeros(30, 40, 3, requires_grad=True)
    y = F.feature_alpha_dropout(x, 0.5, training=True)
    v = y.detach().numpy()
    assert (v == v[..., :1]).all()
    assert len(np.unique(v)) == 2
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@requires_torch
def test_half_precision_scale_matches_torch():
    for p in [0.1, 0.3]:
        t = torch.nn.functional.dropout(torch.ones(2000, dtype=torch.bfloat16), p)
        i = F.dropout(torchish.ones(2000, dtype=torchish.bfloat16), p)
        assert i.dtype == torchish.bfloat16
        assert set(np.unique(i.float().numpy())) == set(np.unique(t.float().numpy()))


@requires_torch
def test_modules_repr_and_modes():
    for name, args in [("Dropout", (0.2,)), ("Dropout1d", (0.3, True)), ("Dropout2d", ()), ("Dropout3d", (0.1,)),
                       ("AlphaDropout", (0.2,)), ("FeatureAlphaDropout", (0.5,))]:
        tm, im = getattr(torch.nn, name)(*args), getattr(torchish.nn, name)(*args)
        assert repr(tm) == repr(im)
    m = torchish.nn.Dropout(0.5)
    x = _ones(40, 40)
    assert (m(x).numpy() == 0).any()
    m.eval()
    assert m(x) is x
    ad = torchish.nn.AlphaDropout(0.5)
    assert not np.array_equal(ad(x).numpy(), x.numpy())


def test_dropout_inside_compile_fresh_mask_each_step_and_reproducible():
    model = torchish.nn.Dropout(0.5)
    x = _ones(32, 32)
    step = torchish.compile(lambda m, x: m(x))
    torchish.manual_seed(7)
    a, b = step(model, x).numpy(), step(model, x).numpy()
    assert (a != b).any()
    assert set(np.unique(a)) == {0.0, 2.0}
    torchish.manual_seed(7)
    np.testing.assert_array_equal(step(model, x).numpy(), a)

    model.eval()  # the compiled step follows the module's mode (retraces)
    np.testing.assert_array_equal(step(model, x).numpy(), x.numpy())
