"""Recurrent layers and nn.utils.rnn: parity with PyTorch (values, input/state/parameter grads)."""

import numpy as np
import pytest

import torchish
import torchish.nn as nn
from torchish.nn.utils import rnn as R
from parity import requires_torch, rnd, torch

pytestmark = requires_torch
# NOTE: torch warns (once per process) that LSTM projections fall back from oneDNN; not ours.
proj_warning = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported:UserWarning")

TOL = dict(rtol=1e-5, atol=1e-5)
GTOL = dict(rtol=1e-4, atol=1e-5)


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def close(a, b, **tol):
    np.testing.assert_allclose(_np(b), _np(a), **(tol or TOL))


def make_pair(cls_name, *args, **kwargs):
    """The same layer in torch and torchish, torchish weights loaded from torch's state_dict."""
    torch.manual_seed(0)
    t = getattr(torch.nn, cls_name)(*args, **kwargs)
    i = getattr(nn, cls_name)(*args, **kwargs)
    i.load_state_dict(t.state_dict())
    return t, i


def leaf(lib, a):
    return lib.tensor(a).requires_grad_(True)


def flat(x):
    if isinstance(x, (R.PackedSequence, torch.nn.utils.rnn.PackedSequence)):
        return [x.data]
    if isinstance(x, (tuple, list)):
        return [y for v in x for y in flat(v)]
    return [x]


def compare_grads(t_mod, i_mod, t_outs, i_outs, t_ins, i_ins):
    """Backprop the same random cotangents; compare input and parameter grads."""
    t_outs, i_outs = flat(t_outs), flat(i_outs)
    assert len(t_outs) == len(i_outs)
    cts = [rnd(*o.shape, seed=k) for k, o in enumerate(t_outs)]
    torch.autograd.backward(t_outs, [torch.tensor(c) for c in cts])
    torchish.autograd.backward(i_outs, [torchish.tensor(c) for c in cts])
    for a, b in zip(t_ins, i_ins):
        close(a.grad, b.grad, **GTOL)
    ip = dict(i_mod.named_parameters())
    for n, p in t_mod.named_parameters():
        assert ip[n].grad is not None, n
        close(p.grad, ip[n].grad, **GTOL)


# --------------------------------------------------------------------------------- RNN stacks
CONFIGS = [  # (layer, kwargs, pass an initial state)
    ("LSTM", dict(), False),
    ("LSTM", dict(num_layers=2, bidirectional=True), True),
    ("LSTM", dict(batch_first=True, bias=False), True),
    ("LSTM", dict(proj_size=2, num_layers=2, bidirectional=True), True),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True, bias=False), False),
    ("RNN", dict(nonlinearity="relu", num_layers=2), True),
    ("RNN", dict(bidirectional=True), True),
]


def _states(name, kw, batch, with_state, seed=1):
    if not with_state:
        return [], None
    D = (2 if kw.get("bidirectional") else 1) * kw.get("num_layers", 1)
    H = kw.get("proj_size") or 5
    bs = (batch,) if batch else ()
    h = rnd(D, *bs, H, seed=seed)
    if name == "LSTM":
        return [h, rnd(D, *bs, 5, seed=seed + 1)], "tuple"
    return [h], "single"


def _call(lib, mod, x, states, kind):
    if kind is None:
        return mod(x)
    if kind == "tuple":
        return mod(x, tuple(states))
    return mod(x, states[0])


@proj_warning
@pytest.mark.parametrize("name,kw,with_state", CONFIGS)
def test_rnn_stack_parity(name, kw, with_state):
    t, i = make_pair(name, 3, 5, **kw)
    x = rnd(2, 4, 3) if kw.get("batch_first") else rnd(4, 2, 3)
    st, kind = _states(name, kw, 2, with_state)
    t_in = [leaf(torch, x)] + [leaf(torch, s) for s in st]
    i_in = [leaf(torchish, x)] + [leaf(torchish, s) for s in st]
    t_out = _call(torch, t, t_in[0], t_in[1:], kind)
    i_out = _call(torchish, i, i_in[0], i_in[1:], kind)
    for a, b in zip(flat(t_out), flat(i_out)):
        assert tuple(a.shape) == tuple(b.shape)
        close(a, b)
    compare_grads(t, i, t_out, i_out, t_in, i_in)


@proj_warning
@pytest.mark.parametrize("name,kw", [("LSTM", dict(num_layers=2)), ("GRU", dict(bidirectional=True)),
                                     ("RNN", dict(batch_first=True))])
def test_rnn_unbatched(name, kw):
    t, i = make_pair(name, 3, 5, **kw)
    x = rnd(4, 3)
    st, kind = _states(name, kw, None, True)
    t_out = _call(torch, t, torch.tensor(x), [torch.tensor(s) for s in st], kind)
    i_out = _call(torchish, i, torchish.tensor(x), [torchish.tensor(s) for s in st], kind)
    for a, b in zip(flat(t_out), flat(i_out)):
        assert tuple(a.shape) == tuple(b.shape)
        close(a, b)


def test_rnn_train_mode_dropout_zero_matches_and_dropout_changes_output():
    t, i = make_pair("LSTM", 3, 5, num_layers=2)
    t.train(), i.train()
    x = rnd(4, 2, 3)
    close(t(torch.tensor(x))[0], i(torchish.tensor(x))[0])
    i.dropout = 0.5
    out_a = i(torchish.tensor(x))[0]
    out_b = i(torchish.tensor(x))[0]
    assert not np.allclose(_np(out_a), _np(out_b)), "dropout between layers should draw fresh masks"
    i.eval()
    close(t(torch.tensor(x))[0], i(torchish.tensor(x))[0])


def test_rnn_parameter_names_shapes_and_init():
    t = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2)
    i = nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2)
    assert [(n, tuple(p.shape)) for n, p in t.named_parameters()] == [(n, tuple(p.shape)) for n, p in i.named_parameters()]
    assert i._flat_weights_names == t._flat_weights_names
    bound = 1 / np.sqrt(6)
    for p in i.parameters():
        v = _np(p)
        assert v.min() >= -bound and v.max() <= bound and v.std() > bound / 4
    i.flatten_parameters()  # no-op
    assert len(i.all_weights) == 4 and len(i.all_weights[0]) == 5
    assert repr(i) == "LSTM(3, 6, proj_size=2, num_layers=2, bidirectional=True)"


def test_rnn_float64():
    torch.manual_seed(0)
    t = torch.nn.GRU(3, 4).double()
    i = nn.GRU(3, 4).double()
    i.load_state_dict(t.state_dict())
    x = rnd(3, 2, 3, dtype=np.float64)
    a, b = t(torch.tensor(x)), i(torchish.tensor(x))
    assert b[0].dtype == torchish.float64
    close(a[0], b[0], rtol=1e-12, atol=1e-12)


def test_rnn_errors():
    m = nn.LSTM(3, 5)
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        m(torchish.zeros(1, 2, 3, 3))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 4"):
        m(torchish.zeros(2, 2, 4))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 5\), got \[1, 3, 5\]"):
        m(torchish.zeros(2, 2, 3), (torchish.zeros(1, 3, 5), torchish.zeros(1, 2, 5)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx and cx should also be 3-D"):
        m(torchish.zeros(2, 2, 3), (torchish.zeros(1, 5), torchish.zeros(1, 5)))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        m(torchish.zeros(2, 2, 3, dtype=torchish.float64))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"):
        nn.GRU(3, 5)(torchish.zeros(2, 3), torchish.zeros(1, 1, 5))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 5, nonlinearity="gelu")
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(3, 5, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 5, proj_size=5)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(3, 5, dropout=2)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 5, dropout=0.5)


# --------------------------------------------------------------------------------- cells
@pytest.mark.parametrize("name,kw,batched", [("LSTMCell", {}, True), ("RNNCell", {}, True),
                                             ("RNNCell", dict(nonlinearity="relu", bias=False), False),
                                             ("GRUCell", {}, False)])
def test_cell_parity(name, kw, batched):
    t, i = make_pair(name, 3, 4, **kw)
    shp = (2,) if batched else ()
    x = rnd(*shp, 3)
    st = [rnd(*shp, 4, seed=1)] + ([rnd(*shp, 4, seed=2)] if name == "LSTMCell" else [])
    t_in = [leaf(torch, x)] + [leaf(torch, s) for s in st]
    i_in = [leaf(torchish, x)] + [leaf(torchish, s) for s in st]
    hx = (lambda s: tuple(s)) if name == "LSTMCell" else (lambda s: s[0])
    t_out, i_out = t(t_in[0], hx(t_in[1:])), i(i_in[0], hx(i_in[1:]))
    for a, b in zip(flat(t_out), flat(i_out)):
        assert tuple(a.shape) == tuple(b.shape)
        close(a, b)
    compare_grads(t, i, t_out, i_out, t_in, i_in)
    for a, b in zip(flat(t(torch.tensor(x))), flat(i(torchish.tensor(x)))):  # zero initial state
        close(a, b)


def test_cell_errors():
    c = nn.GRUCell(3, 4)
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D instead"):
        c(torchish.zeros(1, 2, 3))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 2 expected 3"):
        c(torchish.zeros(2, 2))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        c(torchish.zeros(2, 3), torchish.zeros(3, 4))


# --------------------------------------------------------------------------------- packing
def _seqs(lib, lens, feat=2):
    return [lib.tensor(rnd(n, feat, seed=k)) for k, n in enumerate(lens)]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lens,enforce_sorted", [([4, 3, 1], True), ([2, 4, 1], False), ([2, 2, 3, 2], False)])
def test_pack_pad_roundtrip_parity(batch_first, lens, enforce_sorted):
    TR = torch.nn.utils.rnn
    x = rnd(len(lens), 4, 2) if batch_first else rnd(4, len(lens), 2)
    tp = TR.pack_padded_sequence(leaf(torch, x), lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
    xi = leaf(torchish, x)
    ip = R.pack_padded_sequence(xi, lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
    assert isinstance(ip, R.PackedSequence) and isinstance(ip, tuple)
    for a, b in zip(tp, ip):
        assert (a is None) == (b is None)
        if a is not None:
            assert str(a.dtype)[6:] == str(b.dtype)[9:]
            close(a, b)
    tpad, tl = TR.pad_packed_sequence(tp, batch_first=batch_first, padding_value=-1.0, total_length=5)
    ipad, il = R.pad_packed_sequence(ip, batch_first=batch_first, padding_value=-1.0, total_length=5)
    close(tpad, ipad)
    assert il.dtype == torchish.int64 and il.tolist() == tl.tolist()
    # gradient flows back through pack and pad
    ct = rnd(*tpad.shape, seed=3)
    (tpad * torch.tensor(ct)).sum().backward()
    (ipad * torchish.tensor(ct)).sum().backward()


def test_pad_sequence_and_pack_sequence():
    TR = torch.nn.utils.rnn
    for bf in (False, True):
        for side in ("right", "left"):
            a = TR.pad_sequence(_seqs(torch, [3, 1, 2]), batch_first=bf, padding_value=7.0, padding_side=side)
            b = R.pad_sequence(_seqs(torchish, [3, 1, 2]), batch_first=bf, padding_value=7.0, padding_side=side)
            close(a, b)
    ints = [torchish.tensor([1, 2, 3]), torchish.tensor([4])]
    assert R.pad_sequence(ints, batch_first=True).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert R.pad_sequence(ints, batch_first=True).dtype == torchish.int64
    tp = TR.pack_sequence(_seqs(torch, [1, 3, 2]), enforce_sorted=False)
    ip = R.pack_sequence(_seqs(torchish, [1, 3, 2]), enforce_sorted=False)
    close(tp.data, ip.data)
    assert ip.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert ip.sorted_indices.tolist() == tp.sorted_indices.tolist()
    assert ip.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    for a, b in zip(TR.unpack_sequence(tp), R.unpack_sequence(ip)):
        close(a, b)
    padded = R.pad_sequence(_seqs(torchish, [1, 3, 2]))
    for a, b in zip(R.unpad_sequence(padded, torchish.tensor([1, 3, 2])), _seqs(torchish, [1, 3, 2])):
        close(b, a)
    assert tuple(padded.shape) == (3, 3, 2)  # not transposed in place (unlike PyTorch)


def test_packing_errors():
    x = torchish.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        R.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        R.pack_padded_sequence(x, [3, 1, 0])
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size, but got 2"):
        R.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="exceeds the padded sequence length 4"):
        R.pack_padded_sequence(x, [5, 2, 1])
    p = R.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        R.pad_packed_sequence(p, total_length=2)
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        R.pad_sequence([])
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right"):
        R.pad_sequence([torchish.zeros(2)], padding_side="mid")


def test_pack_padded_sequence_traced_lengths_error():
    import jax

    from torchish.errors import TracedValueError

    def f(lens):
        R.pack_padded_sequence(torchish.zeros(3, 2, 1), torchish.Tensor(lens))
        return lens

    with pytest.raises(TracedValueError, match="needs concrete values"):
        jax.jit(f)(jax.numpy.array([3, 2]))


@proj_warning
@pytest.mark.parametrize("name,kw,enforce_sorted", [("LSTM", dict(num_layers=2, bidirectional=True), False),
                                                    ("GRU", dict(bidirectional=True), True),
                                                    ("RNN", dict(num_layers=2), False),
                                                    ("LSTM", dict(proj_size=2, bidirectional=True), True)])
def test_rnn_packed_parity(name, kw, enforce_sorted):
    TR = torch.nn.utils.rnn
    t, i = make_pair(name, 3, 5, **kw)
    lens = [4, 3, 1] if enforce_sorted else [2, 4, 1]
    x = rnd(4, 3, 3)
    st, kind = _states(name, kw, 3, True)
    t_in = [leaf(torch, x)] + [leaf(torch, s) for s in st]
    i_in = [leaf(torchish, x)] + [leaf(torchish, s) for s in st]
    tp = TR.pack_padded_sequence(t_in[0], lens, enforce_sorted=enforce_sorted)
    ip = R.pack_padded_sequence(i_in[0], lens, enforce_sorted=enforce_sorted)
    t_out = _call(torch, t, tp, t_in[1:], kind)
    i_out = _call(torchish, i, ip, i_in[1:], kind)
    assert isinstance(i_out[0], R.PackedSequence)
    assert i_out[0].batch_sizes.tolist() == t_out[0].batch_sizes.tolist()
    for a, b in zip(flat(t_out), flat(i_out)):
        close(a, b)
    ta, _ = TR.pad_packed_sequence(t_out[0], batch_first=True)
    ia, _ = R.pad_packed_sequence(i_out[0], batch_first=True)
    close(ta, ia)
    compare_grads(t, i, t_out, i_out, t_in, i_in)


def test_rnn_one_dispatch_forward(monkeypatch):
    """An LSTM forward is one op dispatch (the whole stack is one registered op)."""
    from torchish import _tensor

    calls = []
    orig = _tensor.apply_op
    import torchish.nn._functional.rnn as FR

    monkeypatch.setattr(FR, "apply_op", lambda op, *a: calls.append(op.name) or orig(op, *a))
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    m(torchish.zeros(3, 2, 3))
    assert calls == ["rnn"]


def test_packed_lstm_inside_compile_matches_eager():
    """pack -> LSTM -> pad traces into one program (lengths from a Python list stay concrete)."""
    torchish.manual_seed(0)
    m = nn.LSTM(3, 4, bidirectional=True)
    x = torchish.randn(4, 2, 3)

    def step(x):
        out, (h, _) = m(R.pack_padded_sequence(x, [4, 2]))
        y, lengths = R.pad_packed_sequence(out)
        return y.sum() + h.sum(), lengths

    eager = step(x)
    compiled = torchish.compile(step, fullgraph=True)(x)
    close(eager[0], compiled[0])
    assert compiled[1].tolist() == [4, 2]
