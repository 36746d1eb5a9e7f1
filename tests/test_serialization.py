"""torchish.save / torchish.load: round trips, key types, sharing, atomicity, corruption detection."""

import io
import os
import struct
from collections import OrderedDict

import numpy as np
import pytest

import torchish
from torchish import nn
from torchish import serialization as S

from parity import requires_torch, torch


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torchish.randn(3, 2))
        self.register_buffer("count", torchish.tensor(4))
        self.register_buffer("mask", torchish.tensor([True, False, True]))


def _eq(a, b):
    assert type(a) is type(b), (type(a), type(b))
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(np.asarray(a.detach().float() if a.dtype == torchish.bfloat16 else a.detach()),
                                  np.asarray(b.detach().float() if b.dtype == torchish.bfloat16 else b.detach()))


def test_state_dict_round_trip(tmp_path):
    m = Small()
    sd = m.state_dict()
    path = tmp_path / "m.pt"
    torchish.save(sd, path)
    out = torchish.load(path)
    assert isinstance(out, OrderedDict) and list(out) == list(sd)
    for k in sd:
        _eq(sd[k], out[k])
    assert not out["weight"].requires_grad
    m2 = Small()
    m2.load_state_dict(torchish.load(str(path)))
    _eq(m2.weight.detach(), m.weight.detach())
    assert out._metadata == sd._metadata


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool"])
def test_dtypes_and_shapes(dtype, tmp_path):
    dt = getattr(torchish, dtype)
    vals = {"scalar": torchish.ones((), dtype=dt), "vec": torchish.arange(5).to(dt),
            "mat": (torchish.arange(6).reshape(2, 3) % 3).to(dt), "empty": torchish.zeros(0, 3, dtype=dt)}
    torchish.save(vals, tmp_path / "d.pt")
    out = torchish.load(tmp_path / "d.pt")
    for k in vals:
        _eq(vals[k], out[k])


def test_nested_structures_keep_types():
    obj = {
        "state": {0: {"step": torchish.tensor(3.0), "exp_avg": torchish.zeros(2)}, 1: {}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False, "foreach": None,
                          "name": "g0", "eps": float("inf"), "neg": float("-inf")}],
        (1, "a"): "tuple key", 2.5: "float key", None: "none key", True: "bool key",
        "nested": [[1, (2, [3])], ()],
        "big": 2**70,
        "np": np.arange(3, dtype=np.int16),
        "npscalar": np.float32(1.5),
        "dtype": torchish.bfloat16, "device": torchish.device("cpu"), "size": torchish.Size([2, 3]),
    }
    buf = io.BytesIO()
    torchish.save(obj, buf)
    buf.seek(0)
    out = torchish.load(buf)
    assert list(out["state"]) == [0, 1] and isinstance(list(out["state"])[0], int)
    assert out["param_groups"] == obj["param_groups"]
    assert isinstance(out["param_groups"][0]["betas"], tuple)
    assert out[(1, "a")] == "tuple key" and out[2.5] == "float key" and out[None] == "none key" and out[True] == "bool key"
    assert out["nested"] == [[1, (2, [3])], ()]
    assert out["big"] == 2**70
    assert out["np"].dtype == np.int16 and out["np"].tolist() == [0, 1, 2]
    assert out["npscalar"] == np.float32(1.5) and isinstance(out["npscalar"], np.float32)
    assert out["dtype"] is torchish.bfloat16 and out["device"] == torchish.device("cpu")
    assert isinstance(out["size"], torchish.Size) and out["size"] == (2, 3)
    _eq(out["state"][0]["step"], obj["state"][0]["step"])
    nan = torchish.load(_saved({"x": float("nan")}))["x"]
    assert nan != nan


def _saved(obj):
    buf = io.BytesIO()
    torchish.save(obj, buf)
    buf.seek(0)
    return buf


def test_parameters_sharing_and_requires_grad():
    p = nn.Parameter(torchish.randn(2))
    t = torchish.randn(2, requires_grad=True)
    out = torchish.load(_saved({"a": p, "b": p, "c": [t, t], "d": t.detach()}))
    assert isinstance(out["a"], nn.Parameter) and out["a"].requires_grad and out["a"] is out["b"]
    assert out["c"][0] is out["c"][1] and out["c"][0].requires_grad and type(out["c"][0]) is torchish.Tensor
    assert not out["d"].requires_grad and out["d"] is not out["c"][0]
    views = torchish.arange(6.0).reshape(2, 3)
    out = torchish.load(_saved({"row": views[1], "t": views.t()}))
    assert out["row"].tolist() == [3.0, 4.0, 5.0] and out["t"].shape == (3, 2)
    assert torchish.load(_saved(torchish.ones(2))).tolist() == [1.0, 1.0]
    assert torchish.load(_saved(None)) is None


def test_unsupported_objects_raise_helpful_type_error():
    with pytest.raises(TypeError, match=r"save its state: torchish.save\(obj.state_dict\(\), f\)"):
        torchish.save(Small(), io.BytesIO())
    with pytest.raises(TypeError, match=r"cannot store an object of type builtins.set at 'a.b'"):
        torchish.save({"a": {"b": {1, 2}}}, io.BytesIO())
    with pytest.raises(TypeError, match="dict key of type frozenset"):
        torchish.save({frozenset(): 1}, io.BytesIO())
    with pytest.raises(TypeError, match="expected a path or a binary file-like object"):
        torchish.save({}, 3)


def test_map_location():
    sd = {"w": torchish.ones(2)}
    for loc in ("cpu", torchish.device("cpu"), {"cpu": "cpu"}, None):
        out = torchish.load(_saved(sd), map_location=loc)
        assert out["w"].device.type == "cpu"
    seen = []
    out = torchish.load(_saved(sd), map_location=lambda t, where: seen.append(where) or t * 2)
    assert seen == ["cpu"] and out["w"].tolist() == [2.0, 2.0]
    assert torchish.load(_saved(sd), weights_only=False)["w"].tolist() == [1.0, 1.0]


# --------------------------------------------------------------------------- integrity
def test_truncated_file_is_detected(tmp_path):
    path = tmp_path / "t.pt"
    torchish.save(Small().state_dict(), path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 40, 5, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(RuntimeError, match=rf"{path}: checkpoint file is truncated"):
            torchish.load(path)


def test_flipped_byte_is_detected(tmp_path):
    path = tmp_path / "c.pt"
    torchish.save(Small().state_dict(), path)
    data = path.read_bytes()
    for pos in (S._HEADER.size + 3, len(data) - 2, len(data) // 2, 30):  # JSON, tensor data, middle, checksum
        bad = bytearray(data)
        bad[pos] ^= 0x10
        path.write_bytes(bytes(bad))
        with pytest.raises(RuntimeError, match=rf"{path}: checkpoint file is corrupt: checksum mismatch"):
            torchish.load(path)
    path.write_bytes(data + b"xx")
    with pytest.raises(RuntimeError, match="corrupt: 2 unexpected bytes"):
        torchish.load(path)
    path.write_bytes(b"NOTMAGIC" + data[8:])
    with pytest.raises(RuntimeError, match="is not a torchish checkpoint"):
        torchish.load(path)
    path.write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(RuntimeError, match="is a PyTorch"):
        torchish.load(path)


def test_valid_checksum_but_bad_content_is_reported(tmp_path):
    import hashlib

    js, blob = b"{not json", b""
    header = S._HEADER.pack(S.MAGIC, 1, len(js), len(blob), hashlib.sha256(js + blob).digest())
    path = tmp_path / "bad.pt"
    path.write_bytes(header + js + blob)
    with pytest.raises(RuntimeError, match="checkpoint file is corrupt: JSONDecodeError"):
        torchish.load(path)
    header = S._HEADER.pack(S.MAGIC, 99, 0, 0, hashlib.sha256(b"").digest())
    path.write_bytes(header)
    with pytest.raises(RuntimeError, match="newer torchish"):
        torchish.load(path)
    assert struct.calcsize("<8sIQQ32s") == S._HEADER.size


def test_blob_is_standard_safetensors(tmp_path):
    import safetensors

    path = tmp_path / "s.pt"
    sd = OrderedDict([("fc.weight", torchish.ones(2, 2).bfloat16()), ("fc.bias", torchish.zeros(2))])
    torchish.save(sd, path)
    data = path.read_bytes()
    _, _, jlen, blen, _ = S._HEADER.unpack_from(data)
    blob = data[S._HEADER.size + jlen:]
    names = dict(safetensors.deserialize(blob))
    assert names["fc.weight"]["dtype"] == "BF16" and names["fc.bias"]["shape"] == [2]


# --------------------------------------------------------------------------- atomicity
def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    torchish.save({"v": torchish.ones(1)}, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        torchish.save({"v": torchish.zeros(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temporary file left behind
    torchish.save({"v": torchish.zeros(3)}, path)
    assert torchish.load(path)["v"].tolist() == [0.0, 0.0, 0.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_unserializable_value_does_not_touch_existing_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    torchish.save({"v": torchish.ones(1)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        torchish.save({"v": object()}, path)
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- interop
@requires_torch
def test_torch_state_dict_loads_into_torchish_module_and_back():
    t = torch.nn.Linear(3, 2)

    class Lin(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torchish.zeros(2, 3))
            self.bias = nn.Parameter(torchish.zeros(2))

    m = Lin()
    m.load_state_dict(t.state_dict())
    out = torchish.load(_saved(m.state_dict()))
    np.testing.assert_array_equal(out["weight"].numpy(), t.weight.detach().numpy())
