"""Attention and transformers: parity with PyTorch (values, input and parameter grads)."""

import warnings

import numpy as np
import pytest

import torchish
import torchish.nn as nn
import torchish.nn.functional as F
from parity import check, check_raises, requires_torch, rnd, torch

pytestmark = requires_torch
# NOTE: torch warns that nested tensors are off for these (seq-first) encoders; not ours.
nested_warning = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")

TOL = dict(rtol=1e-5, atol=1e-5)
GTOL = dict(rtol=1e-4, atol=1e-5)


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def close(a, b, **tol):
    assert tuple(a.shape) == tuple(b.shape), (tuple(a.shape), tuple(b.shape))
    np.testing.assert_allclose(_np(b), _np(a), **(tol or TOL))


# ---------------------------------------------------------------------------------- SDPA
def sdpa(**kw):
    return lambda lib, q, k, v, *m: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, *(m[:1] or [None]), **kw)


@pytest.mark.parametrize("mask,kw", [
    (None, {}),
    (None, dict(is_causal=True)),
    (None, dict(scale=0.3)),
    ("bool", {}),
    ("float", {}),
])
def test_sdpa_parity(mask, kw):
    q, k, v = rnd(2, 2, 3, 4), rnd(2, 2, 5, 4, seed=1), rnd(2, 2, 5, 6, seed=2)
    args = [q, k, v]
    if mask == "bool":
        m = rnd(3, 5, seed=3) > -0.5
        m[1] = False  # a fully masked row gives zeros, with zero gradient
        args.append(m)
    elif mask == "float":
        args.append(rnd(2, 1, 3, 5, seed=4))
    check(sdpa(**kw), *args, **TOL)


def test_sdpa_gqa_and_unbatched_and_float64():
    q, k, v = rnd(2, 4, 3, 4), rnd(2, 2, 5, 4, seed=1), rnd(2, 2, 5, 6, seed=2)
    check(sdpa(enable_gqa=True), q, k, v, **TOL)
    check(sdpa(), rnd(3, 4), rnd(5, 4, seed=1), rnd(5, 2, seed=2), **TOL)
    check(sdpa(is_causal=True), rnd(1, 3, 4, dtype=np.float64), rnd(1, 3, 4, dtype=np.float64, seed=1),
          rnd(1, 3, 2, dtype=np.float64, seed=2), rtol=1e-12, atol=1e-12)


def test_sdpa_dropout_is_random_and_scaled():
    q, k, v = torchish.ones(1, 4, 8), torchish.ones(1, 8, 8), torchish.ones(1, 8, 16)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    # uniform weights 1/8; each kept one is scaled to 1/4, so outputs are multiples of 1/4
    vals = out.numpy().ravel() * 4
    assert out.shape == (1, 4, 16) and np.allclose(vals, np.round(vals), atol=1e-5)
    assert len(set(np.round(vals[::16]))) > 1
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not np.allclose(out.numpy(), again.numpy())


def test_sdpa_errors():
    q, k, v = rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 6)
    check_raises(lambda lib, q, k, v, m: lib.nn.functional.scaled_dot_product_attention(q, k, v, m, is_causal=True),
                 q, k, v, rnd(3, 5) > 0, exc=RuntimeError, match="Explicit attn_mask should not be set when is_causal=True")
    check_raises(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k.double(), v),
                 q, k, v, exc=RuntimeError, match="Expected query, key, and value to have the same dtype")
    check_raises(lambda lib, q, k, v, m: lib.nn.functional.scaled_dot_product_attention(q, k, v, m),
                 q, k, v, rnd(3, 5).astype(np.int64), exc=RuntimeError,
                 match="Expected attn_mask dtype to be bool or float or to match query dtype")
    check_raises(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q[0, 0], k, v),
                 q, k, v, exc=RuntimeError, match="at least 2 dimensional")


# ----------------------------------------------------------------- multi_head_attention_forward
E, H = 4, 2


def _mha_args(seed=0, L=3, S=5, N=2):
    return dict(query=rnd(L, N, E, seed=seed), kv=rnd(S, N, E, seed=seed + 1), w=rnd(3 * E, E, seed=seed + 2),
                b=rnd(3 * E, seed=seed + 3), ow=rnd(E, E, seed=seed + 4), ob=rnd(E, seed=seed + 5))


def _kpm(N=2, S=5):
    m = np.zeros((N, S), bool)
    m[0, -2:] = True
    return m


@pytest.mark.parametrize("need_weights,average,extra", [
    (True, True, "none"), (True, False, "kpm"), (False, True, "kpm"), (True, True, "both"),
    (False, True, "float_mask"), (True, False, "bias_kv"), (False, True, "zero_attn"), (True, True, "causal"),
    (False, True, "causal"),
])
def test_mha_forward_parity(need_weights, average, extra):
    a = _mha_args()
    kw = {}
    arrays = [a["query"], a["kv"], a["w"], a["b"], a["ow"], a["ob"]]
    if extra in ("kpm", "both", "zero_attn"):
        kw["key_padding_mask"] = _kpm()
    if extra in ("float_mask", "both"):
        kw["attn_mask"] = rnd(3, 5, seed=9) if extra == "float_mask" else rnd(3, 5, seed=9) > 1.0
    if extra == "causal":
        kw["attn_mask"] = np.triu(np.full((3, 5), -np.inf, np.float32), 1)
        kw["is_causal"] = True
    bias_kv = extra == "bias_kv"
    if bias_kv:
        arrays += [rnd(1, 1, E, seed=7), rnd(1, 1, E, seed=8)]

    def fn(lib, q, kv, w, b, ow, ob, *bkv):
        kwl = {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch: mismatched mask dtypes deprecation
            out, wts = lib.nn.functional.multi_head_attention_forward(
                q, kv, kv, E, H, w, b, *(bkv or (None, None)), extra == "zero_attn", 0.0, ow, ob,
                need_weights=need_weights, average_attn_weights=average, **kwl)
        return (out, wts) if need_weights else out

    check(fn, *arrays, **GTOL)


def test_mha_fully_masked_rows_match_torch():
    """need_weights=True gives NaN rows (plain softmax), need_weights=False zeros (SDPA), as torch."""
    a = _mha_args()
    kpm = np.zeros((2, 5), bool)
    kpm[0] = True
    for need in (True, False):
        res = []
        for lib in (torch, torchish):
            t = [lib.tensor(a[k]) for k in ("query", "kv", "w", "b", "ow", "ob")]
            out, _ = lib.nn.functional.multi_head_attention_forward(
                t[0], t[1], t[1], E, H, t[2], t[3], None, None, False, 0.0, t[4], t[5],
                key_padding_mask=lib.tensor(kpm), need_weights=need)
            res.append(_np(out))
        np.testing.assert_allclose(res[1], res[0], rtol=1e-5, atol=1e-5, equal_nan=True)
        assert np.isnan(res[1][:, 0]).all() == need


def test_mha_forward_errors():
    a = _mha_args()
    q, kv, w, b, ow, ob = (torchish.tensor(a[k]) for k in ("query", "kv", "w", "b", "ow", "ob"))

    def call(**kw):
        base = dict(query=q, key=kv, value=kv, embed_dim_to_check=E, num_heads=H, in_proj_weight=w, in_proj_bias=b,
                    bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=ow,
                    out_proj_bias=ob)
        base.update(kw)
        return F.multi_head_attention_forward(**base)

    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 4"):
        call(embed_dim_to_check=8)
    with pytest.raises(ValueError, match="For batched \\(3-D\\) `query`, expected `key` and `value` to be 3-D"):
        call(key=kv[0])
    with pytest.raises(RuntimeError, match="The shape of the 2D attn_mask is"):
        call(attn_mask=torchish.zeros(2, 2))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        call(is_causal=True)
    with pytest.raises(AssertionError, match="Expected key_padded_mask.shape\\[1\\] to be 5, but got 4"):
        call(key_padding_mask=torchish.zeros(2, 4, dtype=torchish.bool))
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask is deprecated"):
        call(key_padding_mask=torchish.zeros(2, 5, dtype=torchish.bool), attn_mask=torchish.zeros(3, 5))


# ---------------------------------------------------------------------------------- modules
def make_pair(cls_name, *args, **kwargs):
    """The same module in torch and torchish, torchish weights loaded from torch's state_dict."""
    torch.manual_seed(0)
    t = getattr(torch.nn, cls_name)(*args, **kwargs)
    i = getattr(nn, cls_name)(*args, **{k: _lib_arg(v) for k, v in kwargs.items()})
    assert list(t.state_dict()) == list(i.state_dict())
    i.load_state_dict(t.state_dict())
    return t, i


def _lib_arg(v):
    if v is torch.nn.functional.gelu:
        return F.gelu
    return v


def leaf(lib, a):
    return lib.tensor(a).requires_grad_(True) if a.dtype.kind == "f" else lib.tensor(a)


def run_both(t_mod, i_mod, arrays, call, train=False, grads=True):
    """Run ``call(lib, mod, *tensors)`` in both; compare outputs, input grads and parameter grads."""
    t_mod.train(train), i_mod.train(train)
    t_in = [leaf(torch, a) for a in arrays]
    i_in = [leaf(torchish, a) for a in arrays]
    t_out, i_out = call(torch, t_mod, *t_in), call(torchish, i_mod, *i_in)
    t_out = t_out if isinstance(t_out, tuple) else (t_out,)
    i_out = i_out if isinstance(i_out, tuple) else (i_out,)
    for a, b in zip(t_out, i_out):
        assert (a is None) == (b is None)
        if a is not None:
            close(a, b)
    if not grads:
        return
    t_out, i_out = [o for o in t_out if o is not None], [o for o in i_out if o is not None]
    cts = [rnd(*o.shape, seed=k) for k, o in enumerate(t_out)]
    torch.autograd.backward(t_out, [torch.tensor(c) for c in cts])
    torchish.autograd.backward(i_out, [torchish.tensor(c) for c in cts])
    for a, b in zip(t_in, i_in):
        if a.grad is not None:
            close(a.grad, b.grad, **GTOL)
        elif b.grad is not None:
            assert not _np(b.grad).any()
    ip = dict(i_mod.named_parameters())
    for n, p in t_mod.named_parameters():
        if p.grad is None:
            assert ip[n].grad is None or not _np(ip[n].grad).any(), n
        else:
            close(p.grad, ip[n].grad, **GTOL)


@pytest.mark.parametrize("kw,call_kw,shapes", [
    (dict(), dict(), ((3, 2, 4), (5, 2, 4))),
    (dict(batch_first=True), dict(average_attn_weights=False), ((2, 3, 4), (2, 5, 4))),
    (dict(kdim=3, vdim=6, bias=False), dict(need_weights=False), ((3, 2, 4), (5, 2, 3), (5, 2, 6))),
    (dict(add_bias_kv=True, add_zero_attn=True), dict(kpm=True), ((3, 2, 4), (5, 2, 4))),
    (dict(), dict(mask=True), ((3, 4), (5, 4))),  # unbatched
])
def test_multihead_attention_module_parity(kw, call_kw, shapes):
    t, i = make_pair("MultiheadAttention", 4, 2, **kw)
    q, k = rnd(*shapes[0]), rnd(*shapes[1], seed=1)
    v = rnd(*shapes[2], seed=2) if len(shapes) > 2 else k
    arrays = [q, k, v]
    call_kw = dict(call_kw)
    if call_kw.pop("kpm", False):
        arrays.append(_kpm())
    if call_kw.pop("mask", False):
        arrays.append(rnd(3, 5, seed=5) > 0.5)

    def call(lib, mod, q, k, v, *m):
        extra = {}
        if m and m[0].dim() == 2 and m[0].shape[0] == 2:
            extra["key_padding_mask"] = m[0]
        elif m:
            extra["attn_mask"] = m[0]
        return mod(q, k, v, **extra, **call_kw)

    run_both(t, i, arrays, call, train=False)
    run_both(t, i, arrays, call, train=True)


def test_multihead_attention_init_and_errors():
    torch.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    bound = np.sqrt(6 / (8 + 24))  # xavier_uniform_ on (3E, E)
    w = _np(m.in_proj_weight)
    assert np.abs(w).max() <= bound and w.std() > bound / 3
    assert not _np(m.in_proj_bias).any() and not _np(m.out_proj.bias).any()
    assert tuple(m.bias_k.shape) == (1, 1, 8)
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(m.out_proj, nn.Linear)
    m2 = nn.MultiheadAttention(8, 2, kdim=4)
    assert m2.in_proj_weight is None and tuple(m2.k_proj_weight.shape) == (8, 4)
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 4)


def test_multihead_attention_dropout_in_training_only():
    m = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = torchish.randn(3, 2, 4)
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    assert not np.allclose(_np(a), _np(b))
    m.eval()
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    np.testing.assert_array_equal(_np(a), _np(b))


D_MODEL, NHEAD, FF = 4, 2, 8


@pytest.mark.parametrize("kw", [
    dict(),
    dict(norm_first=True, activation="gelu"),
    dict(batch_first=True, bias=False, activation=torch.nn.functional.gelu, layer_norm_eps=1e-3),
])
def test_transformer_encoder_layer_parity(kw):
    t, i = make_pair("TransformerEncoderLayer", D_MODEL, NHEAD, FF, dropout=0.0, **kw)
    src = rnd(2, 3, D_MODEL) if kw.get("batch_first") else rnd(3, 2, D_MODEL)
    kpm = np.array([[False, False, True], [False, False, False]])
    causal = np.triu(np.ones((3, 3), bool), 1)  # bool like kpm: mixing dtypes is deprecated

    def call(lib, mod, src, kpm, mask):
        return mod(src, src_mask=mask, src_key_padding_mask=kpm)

    for train in (False, True):
        run_both(t, i, [src, kpm, causal], call, train=train)
    run_both(t, i, [src], lambda lib, mod, s: mod(s, is_causal=False), train=False)


@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, batch_first=True)])
def test_transformer_decoder_layer_parity(kw):
    t, i = make_pair("TransformerDecoderLayer", D_MODEL, NHEAD, FF, dropout=0.0, **kw)
    bf = kw.get("batch_first")
    tgt = rnd(2, 3, D_MODEL) if bf else rnd(3, 2, D_MODEL)
    mem = rnd(2, 4, D_MODEL, seed=1) if bf else rnd(4, 2, D_MODEL, seed=1)
    tgt_mask = np.triu(np.full((3, 3), -np.inf, np.float32), 1)
    mem_kpm = np.array([[False, False, False, True], [False] * 4])

    def call(lib, mod, tgt, mem, tgt_mask, mem_kpm):
        return mod(tgt, mem, tgt_mask=tgt_mask, memory_key_padding_mask=mem_kpm, tgt_is_causal=True)

    for train in (False, True):
        run_both(t, i, [tgt, mem, tgt_mask, mem_kpm], call, train=train)


@nested_warning
def test_transformer_encoder_and_decoder_stacks():
    torch.manual_seed(0)
    te = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0), 2,
                                     norm=torch.nn.LayerNorm(D_MODEL))
    ie = nn.TransformerEncoder(nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0), 2,
                               norm=nn.LayerNorm(D_MODEL))
    ie.load_state_dict(te.state_dict())
    src, mask = rnd(3, 2, D_MODEL), np.triu(np.full((3, 3), -np.inf, np.float32), 1)
    run_both(te, ie, [src, mask], lambda lib, m, s, k: m(s, mask=k), train=True)
    td = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D_MODEL, NHEAD, FF, dropout=0.0), 2)
    idec = nn.TransformerDecoder(nn.TransformerDecoderLayer(D_MODEL, NHEAD, FF, dropout=0.0), 2)
    idec.load_state_dict(td.state_dict())
    run_both(td, idec, [src, rnd(4, 2, D_MODEL, seed=2)], lambda lib, m, t, mem: m(t, mem), train=False)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype stage:UserWarning")
def test_transformer_encoder_inference_zeroes_padding_like_nested_tensors():
    """Eval + no_grad + batch_first + key padding mask: PyTorch's nested-tensor path gives 0 at
    padded positions; torchish reproduces it (and matches the regular path with grad on)."""
    torch.manual_seed(0)
    te = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0,
                                                                      batch_first=True), 2)
    ie = nn.TransformerEncoder(nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0, batch_first=True), 2)
    ie.load_state_dict(te.state_dict())
    te.eval(), ie.eval()
    src = rnd(2, 3, D_MODEL)
    for kpm in ([[False, False, True], [False, False, False]], [[False, True, False], [False, False, False]]):
        kpm = np.array(kpm)
        with torch.no_grad(), torchish.no_grad():
            close(te(torch.tensor(src), src_key_padding_mask=torch.tensor(kpm)),
                  ie(torchish.tensor(src), src_key_padding_mask=torchish.tensor(kpm)))
        close(te(torch.tensor(src), src_key_padding_mask=torch.tensor(kpm)),
              ie(torchish.tensor(src), src_key_padding_mask=torchish.tensor(kpm)))


@nested_warning
@pytest.mark.parametrize("kw", [dict(), dict(batch_first=True, norm_first=True, activation="gelu")])
def test_transformer_parity(kw):
    t, i = make_pair("Transformer", D_MODEL, NHEAD, 1, 1, FF, dropout=0.0, **kw)
    bf = kw.get("batch_first")
    src = rnd(2, 4, D_MODEL) if bf else rnd(4, 2, D_MODEL)
    tgt = rnd(2, 3, D_MODEL, seed=1) if bf else rnd(3, 2, D_MODEL, seed=1)
    tgt_mask = _np(torch.nn.Transformer.generate_square_subsequent_mask(3))
    skpm = np.array([[False, False, False, True], [False] * 4])

    def call(lib, mod, src, tgt, tgt_mask, skpm):
        return mod(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=skpm, memory_key_padding_mask=skpm)

    run_both(t, i, [src, tgt, tgt_mask, skpm], call, train=True)
    run_both(t, i, [src, tgt, tgt_mask, skpm], call, train=False)


@nested_warning
def test_transformer_init_mask_and_errors():
    torch.manual_seed(0)
    m = nn.Transformer(D_MODEL, NHEAD, 1, 1, FF)
    bound = np.sqrt(6 / (D_MODEL + FF))
    w = _np(m.encoder.layers[0].linear1.weight)  # xavier_uniform_ over every matrix
    assert np.abs(w).max() <= bound
    assert not _np(m.encoder.layers[0].self_attn.in_proj_bias).any()
    close(torch.nn.Transformer.generate_square_subsequent_mask(4), nn.Transformer.generate_square_subsequent_mask(4))
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=torchish.float64).dtype == torchish.float64
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(torchish.zeros(3, 2, D_MODEL), torchish.zeros(3, 1, D_MODEL))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        m(torchish.zeros(3, 2, 5), torchish.zeros(3, 2, 5))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(D_MODEL, NHEAD, activation="tanh")
    layer = nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout=0.0, activation=torchish.tanh)
    assert layer.activation_relu_or_gelu == 0
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    assert enc.layers[0] is not enc.layers[1] and len(list(enc.parameters())) == 2 * len(list(layer.parameters()))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        enc(torchish.zeros(3, 2, D_MODEL), is_causal=True)
