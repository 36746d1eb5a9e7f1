"""torchish: PyTorch's programming model on JAX/XLA.

The public namespace (``torchish.tensor``, ``torchish.nn``, ``torchish.optim``,
``torchish.compile``, ...).  Everything here is a re-export; implementations live in private
modules.
"""

from . import _malloc  # noqa: F401  (first: before JAX starts its threads; see _malloc.py)
from . import _config  # noqa: F401  (enables 64-bit dtypes before any array is made)
from . import _ops  # noqa: F401
from . import errors as errors
from ._device import device as device
from ._device import get_default_device as get_default_device
from ._device import set_default_device as set_default_device
from ._dtype import (  # noqa: F401
    bfloat16, bool, double, dtype, float, float16, float32, float64, get_default_dtype, half, int, int8,
    int16, int32, int64, long, promote_types, set_default_dtype, short, uint8, uint16, uint32, uint64,
)
from ._tensor import Size as Size
from ._tensor import Tensor as Tensor
from ._random import Generator as Generator
from ._random import default_generator as default_generator
from ._random import get_rng_state as get_rng_state
from ._random import initial_seed as initial_seed
from ._random import manual_seed as manual_seed
from ._random import seed as seed
from ._random import set_rng_state as set_rng_state
from ._autograd.grad_mode import enable_grad as enable_grad
from ._autograd.grad_mode import inference_mode as inference_mode
from ._autograd.grad_mode import is_grad_enabled as is_grad_enabled
from ._autograd.grad_mode import is_inference_mode_enabled as is_inference_mode_enabled
from ._autograd.grad_mode import no_grad as no_grad
from ._autograd.grad_mode import set_grad_enabled as set_grad_enabled

from ._functions import conversion as _conversion  # noqa: F401  (Tensor methods)
from ._functions.creation import (  # noqa: F401
    arange, as_tensor, asarray, empty, empty_like, eye, from_numpy, full, full_like, linspace, logspace,
    ones, ones_like, range, scalar_tensor, tensor, tril_indices, triu_indices, zeros, zeros_like,
)
from ._functions.indexing import (  # noqa: F401
    argwhere, bincount, bucketize, gather, index_add, index_copy, index_fill, index_put, index_select,
    masked_fill, masked_scatter, masked_select, nonzero, scatter, scatter_add, scatter_reduce, searchsorted,
    take, take_along_dim,
)
from ._functions.linalg import (  # noqa: F401
    addbmm, addmm, addmv, addr, baddbmm, bmm, cdist, chain_matmul, cross, dot, einsum, ger, inner, kron,
    matmul, mm, mv, outer, tensordot, trace, vdot,
)
from ._functions.math import *  # noqa: F401,F403  (elementwise functions; see _functions/math.py)
from ._functions.math import (  # noqa: F401
    abs, add, addcdiv, addcmul, allclose, clamp, clamp_max, clamp_min, clip, div, divide, equal, float_power,
    isclose, lerp, logit, mvlgamma, nan_to_num, polygamma, pow, round, sgn, sub, subtract, true_divide, where,
)
from ._functions.random import (  # noqa: F401
    bernoulli, multinomial, normal, poisson, rand, rand_like, randint, randint_like, randn, randn_like, randperm,
)
from ._functions.reduction import (  # noqa: F401
    all, amax, amin, aminmax, any, argmax, argmin, argsort, count_nonzero, cummax, cummin, cumprod, cumsum,
    diff, kthvalue, logcumsumexp, logsumexp, max, mean, median, min, mode, msort, nanmean, nanmedian, nansum,
    norm, prod, quantile, sort, std, std_mean, sum, topk, unique, unique_consecutive, var, var_mean,
)
from ._functions.shape import (  # noqa: F401
    adjoint, atleast_1d, atleast_2d, atleast_3d, broadcast_shapes, broadcast_tensors, broadcast_to,
    cartesian_prod, cat, chunk, clone, column_stack, concat, concatenate, contiguous, diag, diag_embed,
    diagonal, dstack, expand, flatten, flip, fliplr, flipud, hstack, meshgrid, movedim, moveaxis, narrow,
    permute, ravel, repeat_interleave, reshape, roll, rot90, row_stack, select, split, squeeze, stack,
    swapaxes, swapdims, t, tensor_split, tile, transpose, tril, triu, unbind, unflatten, unsqueeze, vstack,
)
from . import autograd as autograd
from . import backends as backends  # noqa: E402
from ._compile import compile as compile  # noqa: E402
from . import func as func  # noqa: E402
from . import cuda as cuda
from . import linalg as linalg

from ._functions.math import _ns as _math_ns  # noqa: E402

del _math_ns

__version__ = "0.1.0"


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(t) -> bool:
    return t.is_floating_point()


def numel(t) -> int:
    return t.numel()


def detach(t):
    return t.detach()


def is_nonzero(t) -> bool:
    if t.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(t)


def get_num_threads() -> int:
    import os

    return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Accepted for compatibility; XLA manages its own thread pool."""


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted for compatibility: XLA programs are deterministic on CPU."""


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    from . import _tensor_str as S

    if profile == "default":
        S.PRECISION, S.THRESHOLD, S.EDGEITEMS, S.LINEWIDTH = 4, 1000, 3, 80
    if precision is not None:
        S.PRECISION = precision
    if threshold is not None:
        S.THRESHOLD = threshold
    if edgeitems is not None:
        S.EDGEITEMS = edgeitems
    if linewidth is not None:
        S.LINEWIDTH = linewidth


from . import nn as nn  # noqa: E402
from . import optim as optim  # noqa: E402
from . import utils as utils  # noqa: E402
from .serialization import load as load  # noqa: E402
from .serialization import save as save  # noqa: E402

# torch.* forms of activation, dropout and normalization functions (torch.softmax(x, dim), ...)
from .nn._functional.activation import _tensor_log_softmax as log_softmax  # noqa: E402
from .nn._functional.activation import _tensor_softmax as softmax  # noqa: E402
from .nn._functional.activation import (  # noqa: E402,F401
    celu, celu_, hardshrink, prelu, relu, relu_, rrelu, rrelu_, selu, selu_, threshold, threshold_,
)
from .nn._functional.dropout import torch_alpha_dropout as alpha_dropout  # noqa: E402
from .nn._functional.dropout import torch_dropout as dropout  # noqa: E402
from .nn._functional.dropout import torch_dropout_ as dropout_  # noqa: E402
from .nn._functional.dropout import torch_feature_alpha_dropout as feature_alpha_dropout  # noqa: E402
from .nn._functional.dropout import torch_feature_dropout as feature_dropout  # noqa: E402
from .nn._functional.normalization import rms_norm  # noqa: E402,F401
from .nn._functional.normalization import torch_batch_norm as batch_norm  # noqa: E402
from .nn._functional.normalization import torch_group_norm as group_norm  # noqa: E402
from .nn._functional.normalization import torch_instance_norm as instance_norm  # noqa: E402
from .nn._functional.normalization import torch_layer_norm as layer_norm  # noqa: E402

# torch.* forms of the conv, pooling, vision, embedding and distance functions (torch.conv2d, ...)
from .nn._functional.conv import (  # noqa: E402,F401
    conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d,
)
from .nn._functional.distance import cosine_similarity, pairwise_distance, pdist  # noqa: E402,F401
from .nn._functional.linear import bilinear  # noqa: E402,F401
from .nn._functional.pooling import (  # noqa: E402,F401
    adaptive_avg_pool1d, avg_pool1d, max_pool1d, max_pool1d_with_indices, max_pool2d, max_pool3d,
)
from .nn._functional.pooling import torch_adaptive_max_pool1d as adaptive_max_pool1d  # noqa: E402
from .nn._functional.sparse import torch_embedding as embedding  # noqa: E402
from .nn._functional.vision import channel_shuffle, pixel_shuffle, pixel_unshuffle  # noqa: E402,F401
from .nn._functional.vision import torch_constant_pad_nd as constant_pad_nd  # noqa: E402
from . import vision as vision  # noqa: E402
from . import text as text  # noqa: E402
from .parallel import pmap as pmap  # noqa: E402
