"""``torchish.backends``: lowering switches, and the ``torch.backends`` flags scripts set.

``set_lowering(op_family, choice)`` picks how an op family is lowered to XLA (see
``torchish/_ops/lowering.py``); ``cudnn``/``cuda``/``mps`` accept PyTorch's common flags
(``torchish.backends.cudnn.benchmark = True``) so scripts run unchanged; they have no effect.
``host_memory_policy()`` / ``release_host_memory()``: whether host memory freed by a step is kept
for the next (``torchish/_malloc.py``), and handing it back to the operating system.
"""

from types import SimpleNamespace

from .._malloc import host_memory_policy as host_memory_policy
from .._malloc import release_host_memory as release_host_memory
from .._ops.lowering import get_lowering as get_lowering
from .._ops.lowering import set_lowering as set_lowering

cudnn = SimpleNamespace(benchmark=False, deterministic=False, enabled=True, allow_tf32=True,
                        is_available=lambda: False, version=lambda: None)
cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True),
                       is_built=lambda: False)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
