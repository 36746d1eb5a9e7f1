"""Device objects (``torchish.device('cuda:1')``) and their mapping to JAX devices.

``'cpu'`` is JAX's CPU platform; ``'cuda'`` (alias ``'gpu'``) is JAX's GPU platform; ``'tpu'``
is accepted too.  Tensors are created on JAX's default device (the accelerator when there is
one) unless a ``device=`` is given.
"""

from __future__ import annotations

import functools

import jax

_JAX_PLATFORM = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "tpu": "tpu"}
_TORCH_TYPE = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "cuda", "tpu": "tpu"}


class device:
    """A device, as ``torch.device``: a type (``'cpu'``, ``'cuda'``, ``'tpu'``) and an optional index."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - PyTorch's signature
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and index is None:
            type, index = default_accelerator_type(), type
        if not isinstance(type, str):
            raise TypeError(f"device() expected a string like 'cpu' or 'cuda:0', got {type!r}")
        text = type.strip()
        if ":" in text:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {text}")
            text, idx = text.split(":", 1)
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f"Invalid device string: '{type}'") from None
        if text == "gpu":
            text = "cuda"
        if text not in _JAX_PLATFORM:
            raise RuntimeError(
                f"Expected one of cpu, cuda, tpu device type at start of device string: {type}"
            )
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type, self.index = text, index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))

    def to_jax(self) -> jax.Device:
        """The JAX device this names (index ``None`` means the first local one)."""
        return _jax_device(self.type, self.index or 0)


@functools.lru_cache(maxsize=None)
def _jax_device(type_: str, index: int) -> jax.Device:
    platform = _JAX_PLATFORM[type_]
    try:
        devs = jax.local_devices(backend=platform)
    except RuntimeError:
        devs = []
    if not devs:
        if type_ == "cuda":
            raise RuntimeError(
                "Torchish found no CUDA device: this JAX installation has no GPU backend or no GPU is "
                "visible. Use device='cpu', or install jax[cuda] (check torchish.cuda.is_available())."
            )
        raise RuntimeError(f"no JAX devices of type {type_!r} are available")
    if index >= len(devs):
        raise RuntimeError(
            f"device index {index} is out of range: there are {len(devs)} {type_} devices"
        )
    return devs[index]


@functools.lru_cache(maxsize=None)
def default_accelerator_type() -> str:
    return _TORCH_TYPE.get(jax.default_backend(), jax.default_backend())


@functools.lru_cache(maxsize=None)
def from_jax(d: jax.Device) -> device:
    """The torchish device naming a JAX device (index among local devices of its platform)."""
    t = _TORCH_TYPE.get(d.platform, d.platform)
    if t == "cpu":
        return device("cpu")  # as PyTorch, CPU tensors report no index
    local = [x for x in jax.local_devices(backend=d.platform)] if d.process_index == jax.process_index() else [d]
    idx = local.index(d) if d in local else d.id
    return device(t, idx)


def as_device(d) -> device | None:
    if d is None or isinstance(d, device):
        return d
    if isinstance(d, jax.Device):
        return from_jax(d)
    return device(d)


_default_device: device | None = None


def set_default_device(d) -> None:
    """Create new tensors on ``d`` (``None``: JAX's default device)."""
    global _default_device
    _default_device = as_device(d)


def get_default_device() -> device:
    if _default_device is not None:
        return _default_device
    return from_jax(jax.devices()[0])


def jax_device_or_none(d):
    """The JAX device for a ``device=`` argument, or None to use JAX's default placement."""
    if d is None:
        d = _default_device
        if d is None:
            return None
    return as_device(d).to_jax()
