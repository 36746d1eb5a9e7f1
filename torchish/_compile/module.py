"""``torchish.compile(module)``: a Module whose forward runs as one XLA program."""

from __future__ import annotations

from .compiled import Compiled


class CompiledModule:
    """Calls go through ``torchish.compile``; every other attribute is the wrapped module's.

    Like ``torch.compile(model)``: the original module is ``_orig_mod``; outputs participate in
    eager autograd (the compiled forward is one node on the tape), so
    ``loss_fn(compiled(x), y).backward()`` fills the parameters' ``.grad``.
    """

    def __init__(self, module, *, fullgraph=False, donate=True):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", Compiled(module, fullgraph=fullgraph, donate=donate))

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def cache_info(self):
        return self._compiled.cache_info()

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"

    def __getitem__(self, idx):
        return self._orig_mod[idx]

    def __len__(self):
        return len(self._orig_mod)

    def __iter__(self):
        return iter(self._orig_mod)

    def train(self, mode: bool = True):
        self._orig_mod.train(mode)
        return self

    def eval(self):
        return self.train(False)
