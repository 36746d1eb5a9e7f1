"""``torchish.func``: composable function transforms (``torch.func`` API on JAX transforms)."""

from ._transforms import functional_call as functional_call
from ._transforms import grad as grad
from ._transforms import grad_and_value as grad_and_value
from ._transforms import hessian as hessian
from ._transforms import jacfwd as jacfwd
from ._transforms import jacrev as jacrev
from ._transforms import jvp as jvp
from ._transforms import stack_module_state as stack_module_state
from ._transforms import vjp as vjp
from ._transforms import vmap as vmap
