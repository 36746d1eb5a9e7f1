"""``torchish.save`` / ``torchish.load``: checkpoints without pickle.

A checkpoint holds state dicts and nested dicts/lists/tuples of tensors, numbers, strings, bools
and ``None`` (optimizer state dicts included: integer keys keep their type).  Loading never runs
code from the file.

NOTE [ Checkpoint file format ]
::

    offset 0   b"TORCHISH"                      magic (8 bytes)
    offset 8   uint32 LE  format version (1)
    offset 12  uint64 LE  J = length of the structure JSON
    offset 20  uint64 LE  B = length of the tensor blob
    offset 28  32 bytes   SHA-256 of (JSON bytes + blob bytes)
    offset 60  J bytes    structure JSON (UTF-8)
    60 + J     B bytes    tensor blob: a standard safetensors file (bfloat16 included)

The JSON mirrors the object: ``null``/``true``/numbers/strings stand for themselves; every
container or tensor is an object tagged with ``"$"`` (``list``, ``tuple``, ``dict``, ``odict``,
``tensor``, ``ndarray``, ``dtype``, ``device``, ``size``) whose tensors name an entry of the
safetensors blob (named by their path, e.g. ``fc.weight``).  A tensor that appears twice is
stored once and comes back as one object.  The header lengths detect truncation and the
checksum detects any changed byte, so a damaged file raises a ``RuntimeError`` naming the file
instead of loading half a model.  Writes to a path are atomic: a temporary file in the same
directory is written, flushed, fsync'ed and ``os.replace``'d over the target.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy

from . import _device
from . import _dtype as D
from ._tensor import Size, Tensor, wrap

__all__ = ["save", "load"]

MAGIC = b"TORCHISH"
VERSION = 1
_HEADER = struct.Struct("<8sIQQ32s")  # magic, version, json length, blob length, sha256

_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": D.bfloat16.np, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16,
              "U8": np.uint8, "BOOL": np.bool_}


# ----------------------------------------------------------------------------- save
class _Encoder:
    """Turns an object tree into JSON-able data plus a dict of named NumPy arrays."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.names: dict[int, str] = {}  # id(tensor) -> stored name (sharing)
        self.keep: list = []  # keep encoded objects alive so ids stay unique

    def _name(self, path: str) -> str:
        name = path or "tensor"
        n = 1
        while name in self.arrays:
            n += 1
            name = f"{path}#{n}"
        return name

    def _array(self, obj, path: str, value) -> str:
        name = self.names.get(id(obj))
        if name is None:
            name = self._name(path)
            self.arrays[name] = value if value.flags.c_contiguous else np.ascontiguousarray(value)  # (0-d stays 0-d)
            self.names[id(obj)] = name
            self.keep.append(obj)
        return name

    def encode(self, obj, path: str = ""):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, Tensor):
            from .nn.parameter import Parameter

            arr = np.asarray(obj._concrete("torchish.save"))
            rec = {"$": "tensor", "name": self._array(obj, path, arr), "rg": bool(obj.requires_grad),
                   "device": str(obj.device)}
            if isinstance(obj, Parameter):
                rec["param"] = True
            return rec
        if isinstance(obj, np.ndarray):
            if obj.dtype.name not in {np.dtype(d).name for d in _ST_DTYPES.values()}:
                raise TypeError(f"torchish.save cannot store a NumPy array of dtype {obj.dtype} (at {path or 'the top level'})")
            return {"$": "ndarray", "name": self._array(obj, path, obj)}
        if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
            return {"$": "npscalar", "name": self._array(obj, path, np.asarray(obj))}
        if isinstance(obj, D.dtype):
            return {"$": "dtype", "v": obj.name}
        if isinstance(obj, _device.device):
            return {"$": "device", "v": str(obj)}
        if isinstance(obj, Size):
            return {"$": "size", "v": [int(s) for s in obj]}
        if isinstance(obj, (list, tuple)):
            tag = "list" if isinstance(obj, list) else "tuple"
            return {"$": tag, "v": [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            keys = [self.encode_key(k, path) for k in obj]
            vals = [self.encode(v, _join(path, k)) for k, v in obj.items()]
            rec = {"$": "odict" if isinstance(obj, OrderedDict) else "dict", "k": keys, "v": vals}
            meta = getattr(obj, "_metadata", None)
            if isinstance(meta, dict):
                try:
                    rec["meta"] = self.encode(meta, _join(path, "_metadata"))
                except TypeError:
                    pass  # metadata is informative only
            return rec
        raise TypeError(_unsupported(obj, path))

    def encode_key(self, k, path):
        if k is None or isinstance(k, (bool, str, int, float)):
            return self.encode(k, path)
        if isinstance(k, tuple):
            return {"$": "tuple", "v": [self.encode_key(x, path) for x in k]}
        raise TypeError(f"torchish.save cannot store a dict key of type {type(k).__name__} ({k!r}) at "
                        f"{path or 'the top level'}: keys must be str, int, float, bool, None or tuples of them")


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _unsupported(obj, path: str) -> str:
    where = f" at '{path}'" if path else ""
    hint = ""
    if hasattr(obj, "state_dict") and callable(getattr(obj, "state_dict")):
        hint = f" To save a {type(obj).__name__}, save its state: torchish.save(obj.state_dict(), f), and restore it with obj.load_state_dict(torchish.load(f))."
    return (f"torchish.save cannot store an object of type {type(obj).__module__}.{type(obj).__qualname__}{where}: "
            "checkpoints hold tensors, NumPy arrays, numbers, strings, bools, None, dtypes, devices and "
            "dicts/lists/tuples of them (no pickle, so loading never runs code)." + hint)


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False) -> None:
    """Save ``obj`` (a state dict, or nested dicts/lists/tuples of tensors and plain values) to ``f``.

    ``f`` is a path (written atomically) or a binary file-like object.  The pickle arguments are
    accepted for compatibility and ignored (nothing is pickled).  See NOTE [ Checkpoint file format ].

    Example:
        >>> torchish.save(model.state_dict(), "model.pt")
        >>> model.load_state_dict(torchish.load("model.pt"))
    """
    enc = _Encoder()
    structure = enc.encode(obj)
    js = json.dumps({"format": "torchish", "version": VERSION, "obj": structure}, separators=(",", ":"),
                    allow_nan=True).encode("utf-8")
    blob = safetensors.numpy.save(enc.arrays) if enc.arrays else b""
    digest = hashlib.sha256(js)
    digest.update(blob)
    header = _HEADER.pack(MAGIC, VERSION, len(js), len(blob), digest.digest())
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(os.fspath(f), (header, js, blob))
    elif hasattr(f, "write"):
        for part in (header, js, blob):
            f.write(part)
        if hasattr(f, "flush"):
            f.flush()
    else:
        raise TypeError(f"torchish.save expected a path or a binary file-like object, got {type(f).__name__}")


def _atomic_write(path: str, parts) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                out.write(part)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (best effort: not every platform can fsync a directory)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# ----------------------------------------------------------------------------- load
def _read(f):
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return name, fh.read()
    if hasattr(f, "read"):
        return getattr(f, "name", None) or type(f).__name__, f.read()
    raise TypeError(f"torchish.load expected a path or a binary file-like object, got {type(f).__name__}")


def _check(name: str, data: bytes):
    """The (json, blob) sections of a checkpoint, after validating its header and checksum."""
    if len(data) >= 4 and data[:4] == b"PK\x03\x04":
        raise RuntimeError(f"{name} is a PyTorch (zip/pickle) checkpoint, not a torchish one. torchish never unpickles "
                           "files; convert it once with PyTorch: torchish.save({k: v.numpy() for k, v in "
                           "torch.load(path).items()}, new_path), or pass torch tensors to load_state_dict directly.")
    if data[:8] != MAGIC and not (len(data) < 8 and MAGIC.startswith(data)):
        raise RuntimeError(f"{name} is not a torchish checkpoint (bad header magic {data[:8]!r}); the file is "
                           "corrupt or was written by another program")
    if len(data) < _HEADER.size:
        raise RuntimeError(f"{name}: checkpoint file is truncated: {len(data)} bytes, shorter than its "
                           f"{_HEADER.size}-byte header (the write was interrupted or the copy is incomplete)")
    _, version, jlen, blen, digest = _HEADER.unpack_from(data)
    if version > VERSION:
        raise RuntimeError(f"{name} was written by a newer torchish (checkpoint format {version}; this version reads "
                           f"up to {VERSION}): upgrade torchish to load it")
    expected = _HEADER.size + jlen + blen
    if len(data) < expected:
        raise RuntimeError(f"{name}: checkpoint file is truncated: expected {expected} bytes, found {len(data)} "
                           "(the write was interrupted or the copy is incomplete)")
    if len(data) > expected:
        raise RuntimeError(f"{name}: checkpoint file is corrupt: {len(data) - expected} unexpected bytes after the "
                           "end of the checkpoint")
    body = memoryview(data)[_HEADER.size:]
    if hashlib.sha256(body).digest() != digest:
        raise RuntimeError(f"{name}: checkpoint file is corrupt: checksum mismatch (the file was modified or "
                           "damaged after it was written)")
    return bytes(body[:jlen]), bytes(body[jlen:])


class _Decoder:
    def __init__(self, arrays: dict, map_location):
        self.arrays = arrays
        self.map_location = map_location
        self.cache: dict = {}

    def decode(self, x):
        if not isinstance(x, dict):
            return x
        tag = x["$"]
        if tag == "list":
            return [self.decode(v) for v in x["v"]]
        if tag == "tuple":
            return tuple(self.decode(v) for v in x["v"])
        if tag in ("dict", "odict"):
            keys = [self.decode(k) for k in x["k"]]
            out = (OrderedDict if tag == "odict" else dict)(zip(keys, [self.decode(v) for v in x["v"]]))
            if "meta" in x:
                out._metadata = self.decode(x["meta"])
            return out
        if tag == "tensor":
            return self._tensor(x)
        if tag == "ndarray":
            return np.array(self.arrays[x["name"]])
        if tag == "npscalar":
            return self.arrays[x["name"]].reshape(()).copy()[()]
        if tag == "dtype":
            return D.as_dtype(x["v"])
        if tag == "device":
            return _device.device(x["v"])
        if tag == "size":
            return Size(x["v"])
        raise ValueError(f"unknown entry tag {tag!r}")

    def _tensor(self, x):
        key = x["name"]
        t = self.cache.get(key)
        if t is not None:
            return t
        saved_on = x.get("device", "cpu")
        dev = _target_device(self.map_location, saved_on)
        arr = self.arrays[key]
        t = wrap(jax.device_put(jnp.asarray(arr), dev.to_jax()) if dev is not None else jnp.asarray(arr))
        if callable(self.map_location):
            r = self.map_location(t, saved_on)
            t = r if isinstance(r, Tensor) else t
        if x.get("param"):
            from .nn.parameter import Parameter

            t = Parameter(t, requires_grad=x["rg"])
        elif x["rg"]:
            t.requires_grad_(True)
        self.cache[key] = t
        return t


def _target_device(map_location, saved_on: str):
    if map_location is None or callable(map_location):
        return _device.as_device(_device._default_device) if _device._default_device is not None else None
    if isinstance(map_location, dict):
        target = map_location.get(saved_on, None)
        return _device.as_device(target) if target is not None else _target_device(None, saved_on)
    return _device.as_device(map_location)


def _arrays(name: str, blob: bytes) -> dict:
    if not blob:
        return {}
    out = {}
    for key, view in safetensors.deserialize(blob):
        dt = _ST_DTYPES.get(view["dtype"])
        if dt is None:
            raise RuntimeError(f"{name}: unsupported tensor dtype {view['dtype']} in checkpoint")
        out[key] = np.frombuffer(view["data"], dtype=dt).reshape(view["shape"])
    return out


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Load an object saved with ``torchish.save`` from a path or binary file-like object.

    ``map_location``: ``None`` (the default device), a device or device string (``'cpu'``), a dict
    mapping saved device strings to new ones, or ``fn(tensor, saved_device_str) -> tensor``.
    ``weights_only`` is accepted for compatibility: loading never runs code, whatever its value.
    A truncated or corrupt file raises ``RuntimeError`` naming the file.
    """
    name, data = _read(f)
    js, blob = _check(name, data)
    try:
        doc = json.loads(js.decode("utf-8"))
        arrays = _arrays(name, blob)
        return _Decoder(arrays, map_location).decode(doc["obj"])
    except RuntimeError:
        raise
    except Exception as e:  # noqa: BLE001 - the checksum matched, but the content does not parse
        raise RuntimeError(f"{name}: checkpoint file is corrupt: {type(e).__name__}: {e}") from e

