"""``torchish.nn.utils``: gradient clipping, parameter/vector conversion, ``rnn`` packing helpers."""

from . import clip_grad as clip_grad
from . import convert_parameters as convert_parameters
from . import rnn as rnn
from .clip_grad import clip_grad_norm as clip_grad_norm
from .clip_grad import clip_grad_norm_ as clip_grad_norm_
from .clip_grad import clip_grad_value_ as clip_grad_value_
from .clip_grad import clip_grads_with_norm_ as clip_grads_with_norm_
from .clip_grad import get_total_norm as get_total_norm
from .convert_parameters import parameters_to_vector as parameters_to_vector
from .convert_parameters import vector_to_parameters as vector_to_parameters


def skip_init(module_cls, *args, **kwargs):
    """Construct ``module_cls(*args, **kwargs)`` (PyTorch skips the init; here parameters are initialized)."""
    return module_cls(*args, **kwargs)
