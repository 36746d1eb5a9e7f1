"""``torchish.linalg``: norms, solves and decompositions (as ``torch.linalg``)."""

from .._functions.linalg import cholesky as cholesky
from .._functions.linalg import cross_linalg as cross
from .._functions.linalg import det as det
from .._functions.linalg import diagonal_linalg as diagonal
from .._functions.linalg import eigh as eigh
from .._functions.linalg import eigvalsh as eigvalsh
from .._functions.linalg import inv as inv
from .._functions.linalg import lstsq as lstsq
from .._functions.linalg import matmul as matmul
from .._functions.linalg import matrix_norm as matrix_norm
from .._functions.linalg import matrix_power as matrix_power
from .._functions.linalg import matrix_rank as matrix_rank
from .._functions.linalg import multi_dot as multi_dot
from .._functions.linalg import norm as norm
from .._functions.linalg import pinv as pinv
from .._functions.linalg import qr as qr
from .._functions.linalg import slogdet as slogdet
from .._functions.linalg import solve as solve
from .._functions.linalg import solve_triangular as solve_triangular
from .._functions.linalg import svd as svd
from .._functions.linalg import svdvals as svdvals
from .._functions.linalg import vector_norm as vector_norm
