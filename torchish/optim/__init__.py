"""torch.optim on JAX: PyTorch's optimizer shell over pure, jitted update rules.

Implementation files: ``optimizer.py`` (the shell), one file per optimizer, ``lr_scheduler.py``,
``optax_shell.py`` (any optax transformation behind the same shell).  See docs/optim.md.
"""

from . import lr_scheduler as lr_scheduler
from .adadelta import Adadelta as Adadelta
from .adagrad import Adagrad as Adagrad
from .adam import Adam as Adam
from .adam import AdamW as AdamW
from .adamax import Adamax as Adamax
from .asgd import ASGD as ASGD
from .lbfgs import LBFGS as LBFGS
from .nadam import NAdam as NAdam
from .optax_shell import Optax as Optax
from .optimizer import Optimizer as Optimizer
from .optimizer import register_optimizer_step_post_hook as register_optimizer_step_post_hook
from .optimizer import register_optimizer_step_pre_hook as register_optimizer_step_pre_hook
from .radam import RAdam as RAdam
from .rmsprop import RMSprop as RMSprop
from .rprop import Rprop as Rprop
from .sgd import SGD as SGD
