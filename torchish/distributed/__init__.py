"""``torchish.distributed``: process groups, collectives and the launcher (``torch.distributed``).

A rank is a process; each process drives all of its local devices.  Multi-device training goes
through ``nn.parallel.DistributedDataParallel`` + ``torchish.compile`` (or ``torchish.pmap``),
whose programs run over the devices of every process; the collectives below work inside those
programs (over devices) and in eager code (over processes).  Launch several processes with
``torchish run --nproc-per-node N script.py`` (or ``python -m torchish.distributed.run``).
"""

from ._collectives import ReduceOp as ReduceOp
from ._collectives import all_gather as all_gather
from ._collectives import all_gather_into_tensor as all_gather_into_tensor
from ._collectives import all_gather_object as all_gather_object
from ._collectives import all_reduce as all_reduce
from ._collectives import broadcast as broadcast
from ._collectives import broadcast_object_list as broadcast_object_list
from ._collectives import reduce as reduce
from ._collectives import reduce_scatter as reduce_scatter
from ._collectives import reduce_scatter_tensor as reduce_scatter_tensor
from ._group import Backend as Backend
from ._group import GroupMember as GroupMember
from ._group import ProcessGroup as ProcessGroup
from ._group import barrier as barrier
from ._group import destroy_process_group as destroy_process_group
from ._group import get_backend as get_backend
from ._group import get_node_local_rank as get_node_local_rank
from ._group import get_process_group_ranks as get_process_group_ranks
from ._group import get_rank as get_rank
from ._group import get_world_size as get_world_size
from ._group import init_process_group as init_process_group
from ._group import is_available as is_available
from ._group import is_initialized as is_initialized
from ._group import is_torchelastic_launched as is_torchelastic_launched
from ._group import new_group as new_group
