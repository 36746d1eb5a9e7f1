"""``torchish.autograd.graph``: the Node type of ``grad_fn`` objects."""

from .._autograd.graph import Node as Node
