"""``torchish.autograd``: ``backward``, ``grad``, ``Function`` and grad-mode managers."""

from .._autograd.grad_mode import enable_grad as enable_grad
from .._autograd.grad_mode import inference_mode as inference_mode
from .._autograd.grad_mode import is_grad_enabled as is_grad_enabled
from .._autograd.grad_mode import is_inference_mode_enabled as is_inference_mode_enabled
from .._autograd.grad_mode import no_grad as no_grad
from .._autograd.grad_mode import set_grad_enabled as set_grad_enabled
from ._engine import backward as backward
from ._engine import grad as grad
from ._function import Function as Function
from ._function import FunctionCtx as FunctionCtx
from ._function import once_differentiable as once_differentiable
from . import graph as graph
from . import functional as functional
