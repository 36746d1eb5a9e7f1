"""torchish.utils.data in the main process: datasets, samplers, collate, DataLoader, prefetching.

PyTorch is the oracle wherever the behaviour is deterministic (orders, batch structure, dtypes,
error messages); random orders are checked for coverage and reproducibility instead.
"""

import collections
import math

import jax
import numpy as np
import pytest

import torchish
from torchish.utils import data as D
from parity import requires_torch, torch

if torch is not None:
    import torch.utils.data as TD

Point = collections.namedtuple("Point", ["x", "y"])


def same_batch(t_out, i_out, path="batch"):
    """torch and torchish batches have the same structure, types, shapes, dtypes and values."""
    if isinstance(t_out, torch.Tensor):
        assert isinstance(i_out, torchish.Tensor), f"{path}: {type(i_out).__name__} is not a Tensor"
        assert tuple(t_out.shape) == tuple(i_out.shape), f"{path}: shape {tuple(i_out.shape)} != {tuple(t_out.shape)}"
        assert str(t_out.dtype).split(".")[-1] == str(i_out.dtype).split(".")[-1], f"{path}: {i_out.dtype} != {t_out.dtype}"
        np.testing.assert_array_equal(i_out.numpy(), t_out.numpy(), err_msg=path)
        return
    assert type(i_out) is type(t_out), f"{path}: {type(i_out).__name__} != torch's {type(t_out).__name__}"
    if isinstance(t_out, dict):
        assert list(t_out) == list(i_out), path
        for k in t_out:
            same_batch(t_out[k], i_out[k], f"{path}[{k!r}]")
    elif isinstance(t_out, (list, tuple)):
        assert len(t_out) == len(i_out), path
        for k, (a, b) in enumerate(zip(t_out, i_out)):
            same_batch(a, b, f"{path}[{k}]")
    elif isinstance(t_out, np.ndarray):
        np.testing.assert_array_equal(i_out, t_out)
    else:
        assert t_out == i_out, path


def both(make):
    """``make(lib)`` with lib = torch and torchish (NumPy/Python data is shared)."""
    return make(torch), make(torchish)


# ------------------------------------------------------------------------------ collate
COLLATE_CASES = {
    "floats": lambda lib: [1.5, 2.0, -3.25],
    "ints": lambda lib: [1, 2, 3],
    "bools": lambda lib: [True, False],
    "ints_then_floats": lambda lib: [1, 2.5],
    "strings": lambda lib: ["a", "bc"],
    "bytes": lambda lib: [b"a", b"bc"],
    "np_float32": lambda lib: [np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)],
    "np_uint8": lambda lib: [np.arange(4, dtype=np.uint8), np.arange(4, dtype=np.uint8)],
    "np_bool": lambda lib: [np.array([True, False]), np.array([False, False])],
    "np_scalars": lambda lib: [np.float32(1.5), np.float32(2.5)],
    "np_int_scalars": lambda lib: [np.int32(1), np.int32(7)],
    "np_float64_scalars": lambda lib: [np.float64(0.5), np.float64(1)],
    "tensors": lambda lib: [lib.arange(6).view(2, 3), lib.arange(6, 12).view(2, 3)],
    "float_tensors": lambda lib: [lib.ones(3), lib.zeros(3)],
    "tuples": lambda lib: [(np.ones(2, np.float32), 1, "a"), (np.zeros(2, np.float32), 2, "b")],
    "lists": lambda lib: [[1.0, 2], [3.0, 4]],
    "dicts": lambda lib: [{"img": lib.ones(2, 2), "label": 3, "name": "x"},
                          {"img": lib.zeros(2, 2), "label": 4, "name": "y"}],
    "namedtuples": lambda lib: [Point(1.0, np.int64(2)), Point(3.0, np.int64(4))],
    "nested": lambda lib: [{"a": [(1, 2.0), {"b": np.ones(1, np.float64)}]}, {"a": [(3, 4.0), {"b": np.zeros(1, np.float64)}]}],
    "ordered_dict": lambda lib: [collections.OrderedDict(a=1, b=2.0), collections.OrderedDict(a=3, b=4.0)],
}


@requires_torch
@pytest.mark.parametrize("case", list(COLLATE_CASES))
def test_default_collate_matches_torch(case):
    t_in, i_in = both(COLLATE_CASES[case])
    same_batch(TD.default_collate(t_in), D.default_collate(i_in))


@requires_torch
@pytest.mark.parametrize("case", ["floats", "np_float32", "np_scalars", "tuples", "dicts", "namedtuples", "nested", "tensors"])
def test_default_convert_matches_torch(case):
    t_in, i_in = both(COLLATE_CASES[case])
    for t_s, i_s in zip(t_in, i_in):
        same_batch(TD.default_convert(t_s), D.default_convert(i_s))


@requires_torch
def test_default_collate_errors_match_torch():
    bad = [np.array(["a"]), np.array(["b"])]
    with pytest.raises(TypeError):
        TD.default_collate(bad)
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers"):
        D.default_collate(bad)
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        D.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        D.default_collate([object(), object()])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1"):
        D.default_collate([np.ones(2), np.ones(3)])


def test_default_collate_keeps_device_tensor_grads():
    a = torchish.ones(3, requires_grad=True)
    out = D.default_collate([a, a * 2])
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0, 3.0])


# ------------------------------------------------------------------------------ datasets
def test_tensor_dataset_items_and_errors():
    x, y = torchish.arange(12).view(6, 2).float(), torchish.arange(6)
    ds = D.TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), [8.0, 9.0])
    assert yi.item() == 4 and xi.dtype == torchish.float32
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        D.TensorDataset(x, torchish.arange(5))


def test_tensor_dataset_batch_path_sees_inplace_updates():
    x = torchish.zeros(4, 2)
    ds = D.TensorDataset(x)
    (b0,) = next(iter(D.DataLoader(ds, batch_size=4)))
    x.add_(1)
    (b1,) = next(iter(D.DataLoader(ds, batch_size=4)))
    assert b0.sum().item() == 0 and b1.sum().item() == 8


@requires_torch
def test_stack_concat_chain_subset_match_torch():
    a, b = np.arange(5), np.arange(10, 15)
    for lib, M in ((torch, TD), (torchish, D)):
        A = M.TensorDataset(lib.tensor(a))
        B = M.TensorDataset(lib.tensor(b))
        assert len(M.ConcatDataset([A, B])) == 10
    t_cat = TD.ConcatDataset([TD.TensorDataset(torch.tensor(a)), TD.TensorDataset(torch.tensor(b))])
    i_cat = D.ConcatDataset([D.TensorDataset(torchish.tensor(a)), D.TensorDataset(torchish.tensor(b))])
    for i in (0, 4, 5, 9, -1, -10):
        assert t_cat[i][0].item() == i_cat[i][0].item()
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        i_cat[-11]
    assert i_cat.cumulative_sizes == t_cat.cumulative_sizes == [5, 10]
    stacked = D.StackDataset(D.TensorDataset(torchish.tensor(a)), list("abcde"))
    assert stacked[1][1] == "b" and stacked[1][0][0].item() == 1
    kw = D.StackDataset(x=list(range(3)), y=list("abc"))
    assert kw[2] == {"x": 2, "y": "c"} and kw.__getitems__([0, 1]) == [{"x": 0, "y": "a"}, {"x": 1, "y": "b"}]
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        D.StackDataset([1, 2], [1])
    with pytest.raises(ValueError, match="At least one dataset should be passed"):
        D.StackDataset()
    sub = D.Subset(list(range(10, 20)), [3, 1])
    assert len(sub) == 2 and sub[0] == 13 and sub.__getitems__([1, 0]) == [11, 13]


def test_iterable_dataset_add_chains_and_concat_rejects_it():
    class It(D.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    chained = It(2) + It(3)
    assert isinstance(chained, D.ChainDataset) and list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        D.ConcatDataset([It(2)])
    ds = D.TensorDataset(torchish.arange(3))
    assert isinstance(ds + ds, D.ConcatDataset)


def test_subset_override_needs_getitems():
    class Bad(D.Subset):
        def __getitem__(self, idx):
            return 0

    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        Bad([1, 2], [0])


@requires_torch
@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.33, 0.33, 0.34], [1, 1, 8]])
def test_random_split_sizes_match_torch(lengths):
    t = TD.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    i = D.random_split(range(10), lengths, generator=torchish.Generator().manual_seed(0))
    assert [len(s) for s in i] == [len(s) for s in t]
    assert sorted(v for s in i for v in s) == list(range(10))


def test_random_split_generator_and_errors():
    a = D.random_split(range(20), [0.5, 0.5], generator=torchish.Generator().manual_seed(3))
    b = D.random_split(range(20), [0.5, 0.5], generator=torchish.Generator().manual_seed(3))
    assert list(a[0]) == list(b[0]) and list(a[0]) != list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        D.random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        D.random_split(range(10), [0.5, 1.5, -1.0])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        D.random_split(range(2), [0.9, 0.1])


# ------------------------------------------------------------------------------ samplers
@requires_torch
@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True)])
def test_sequential_and_batch_sampler_match_torch(n, bs, drop):
    t = TD.BatchSampler(TD.SequentialSampler(range(n)), bs, drop)
    i = D.BatchSampler(D.SequentialSampler(range(n)), bs, drop)
    assert list(i) == list(t) and len(i) == len(t)


@requires_torch
@pytest.mark.parametrize("make,err,msg", [
    (lambda M: M.BatchSampler([], 0, False), ValueError, "batch_size should be a positive integer value, but got batch_size=0"),
    (lambda M: M.BatchSampler([], True, False), ValueError, "batch_size should be a positive integer value"),
    (lambda M: M.BatchSampler([], 2, 1), ValueError, "drop_last should be a boolean value, but got drop_last=1"),
    (lambda M: M.RandomSampler(range(3), replacement=1), TypeError, "replacement should be a boolean value"),
    (lambda M: M.RandomSampler(range(3), num_samples=0), ValueError, "num_samples should be a positive integer value, but got num_samples=0"),
    (lambda M: M.WeightedRandomSampler([1.0], 0), ValueError, "num_samples should be a positive integer value"),
    (lambda M: M.WeightedRandomSampler([1.0], 1, replacement=0), ValueError, "replacement should be a boolean value"),
    (lambda M: M.WeightedRandomSampler([[1.0]], 1), ValueError, r"weights should be a 1d sequence but given weights have shape \(1, 1\)"),
])
def test_sampler_errors_match_torch(make, err, msg):
    with pytest.raises(err):
        make(TD)
    with pytest.raises(err, match=msg):
        make(D)


def test_random_sampler_permutation_replacement_and_generator():
    order = list(D.RandomSampler(range(50), generator=torchish.Generator().manual_seed(1)))
    assert sorted(order) == list(range(50)) and order != list(range(50))
    again = list(D.RandomSampler(range(50), generator=torchish.Generator().manual_seed(1)))
    assert order == again
    s = D.RandomSampler(range(7), num_samples=17)
    drawn = list(s)
    assert len(s) == 17 and len(drawn) == 17 and sorted(drawn[:14]) == sorted(list(range(7)) * 2)
    rep = list(D.RandomSampler(range(4), replacement=True, num_samples=70))
    assert len(rep) == 70 and set(rep) <= set(range(4))
    torchish.manual_seed(5)
    a = list(D.RandomSampler(range(20)))
    torchish.manual_seed(5)
    assert list(D.RandomSampler(range(20))) == a


def test_subset_random_and_weighted_samplers():
    idx = [10, 20, 30, 40]
    assert sorted(D.SubsetRandomSampler(idx)) == idx and len(D.SubsetRandomSampler(idx)) == 4
    w = D.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200, generator=torchish.Generator().manual_seed(0))
    drawn = list(w)
    assert len(drawn) == 200 and set(drawn) == {1, 3} and drawn.count(3) > drawn.count(1)
    no_rep = list(D.WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False))
    assert sorted(no_rep) == [0, 1, 2, 3]


@requires_torch
@pytest.mark.parametrize("n,replicas,drop", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 4, False), (11, 4, True), (1, 3, False)])
def test_distributed_sampler_partition_matches_torch(n, replicas, drop):
    for rank in range(replicas):
        t = TD.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop)
        i = D.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop)
        assert list(i) == list(t) and len(i) == len(t) and i.total_size == t.total_size


def test_distributed_sampler_shuffle_covers_and_reseeds():
    n, replicas = 23, 4
    parts = [list(D.DistributedSampler(range(n), replicas, r, seed=7)) for r in range(replicas)]
    assert all(len(p) == math.ceil(n / replicas) for p in parts)
    assert set().union(*parts) == set(range(n))
    s = D.DistributedSampler(range(n), replicas, 0, seed=7)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0 and sorted(list(s)) != []
    assert list(D.DistributedSampler(range(n), replicas, 0, seed=7)) == e0
    default = D.DistributedSampler(range(5))
    assert (default.num_replicas, default.rank) == (1, 0)
    with pytest.raises(ValueError, match=r"Invalid rank 4, rank should be in the interval \[0, 3\]"):
        D.DistributedSampler(range(5), num_replicas=4, rank=4)


# ------------------------------------------------------------------------------ DataLoader (main process)
@requires_torch
@pytest.mark.parametrize("kwargs,msg", [
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(num_workers=1, prefetch_factor=-1), "prefetch_factor option should be non-negative"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive with batch_size"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(multiprocessing_context="fork"), r"multiprocessing_context can only be used with multi-process loading \(num_workers > 0\), but got num_workers=0"),
    (dict(num_workers=1, multiprocessing_context="nope"), "multiprocessing_context option should specify a valid start method in"),
    (dict(num_workers=1, multiprocessing_context=3), "multiprocessing_context option should be a valid context object"),
])
def test_dataloader_validation_matches_torch(kwargs, msg):
    with pytest.raises((ValueError, TypeError)) as t_err:
        TD.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(t_err.type, match=msg):
        D.DataLoader(list(range(4)), **kwargs)


def test_dataloader_iterable_validation_and_setattr():
    class It(D.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle=True"):
        D.DataLoader(It(), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        D.DataLoader(It(), sampler=[0])
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        D.DataLoader(It(), batch_sampler=[[0]])
    dl = D.DataLoader(It(), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        dl.batch_size = 3
    assert [b.tolist() for b in dl] == [[0, 1], [2]]


@requires_torch
@pytest.mark.parametrize("bs,drop", [(4, False), (4, True), (5, False), (None, False), (1, False)])
def test_dataloader_batches_match_torch(bs, drop):
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    t_ds = TD.TensorDataset(torch.tensor(x), torch.tensor(y))
    i_ds = D.TensorDataset(torchish.tensor(x), torchish.tensor(y))
    t_batches = list(TD.DataLoader(t_ds, batch_size=bs, drop_last=drop))
    i_batches = list(D.DataLoader(i_ds, batch_size=bs, drop_last=drop))
    assert len(D.DataLoader(i_ds, batch_size=bs, drop_last=drop)) == len(t_batches) == len(i_batches)
    for t, i in zip(t_batches, i_batches):
        same_batch(t, i)


@requires_torch
def test_dataloader_python_samples_match_torch():
    samples = [{"x": np.full((2,), k, np.float32), "y": k, "w": 0.5 * k, "name": f"s{k}"} for k in range(7)]
    t = list(TD.DataLoader(samples, batch_size=3))
    i = list(D.DataLoader(samples, batch_size=3))
    same_batch(t, i)
    t = list(TD.DataLoader(samples, batch_size=None))  # no auto-collation: default_convert per sample
    i = list(D.DataLoader(samples, batch_size=None))
    same_batch(t, i)


def test_dataloader_shuffle_generator_reproducible():
    ds = D.TensorDataset(torchish.arange(40))
    order = lambda seed: torchish.cat([b for (b,) in D.DataLoader(ds, batch_size=8, shuffle=True,  # noqa: E731
                                                                   generator=torchish.Generator().manual_seed(seed))]).tolist()
    assert order(0) == order(0) and order(0) != order(1) and sorted(order(0)) == list(range(40))
    dl = D.DataLoader(ds, batch_size=8, shuffle=True)
    torchish.manual_seed(3)
    first = [b.tolist() for (b,) in dl]
    torchish.manual_seed(3)
    assert [b.tolist() for (b,) in dl] == first


def test_dataloader_subset_of_tensor_dataset_and_custom_sampler():
    ds = D.TensorDataset(torchish.arange(10) * 10)
    train, _ = D.random_split(ds, [6, 4], generator=torchish.Generator().manual_seed(0))
    got = sorted(torchish.cat([b for (b,) in D.DataLoader(train, batch_size=4)]).tolist())
    assert got == sorted(10 * i for i in train.indices)
    dl = D.DataLoader(ds, batch_sampler=[[9, 0], [5]])
    assert [b.tolist() for (b,) in dl] == [[90, 0], [50]]


def test_iterable_dataset_len_warning():
    class It(D.IterableDataset):
        def __iter__(self):
            return iter(range(5))

        def __len__(self):
            return 3

    dl = D.DataLoader(It(), batch_size=None)
    assert len(dl) == 3
    with pytest.warns(UserWarning, match="Length of IterableDataset .* was reported to be 3"):
        list(dl)


# ------------------------------------------------------------------------------ device prefetch
def test_device_prefetcher_keeps_structure_and_stages_ahead():
    batches = [{"x": torchish.ones(2) * k, "meta": ("a", [torchish.tensor(k)])} for k in range(5)]
    pulled = []

    def source():
        for b in batches:
            pulled.append(1)
            yield b

    pf = D.DevicePrefetcher(source(), "cpu", size=2)
    first = next(pf)
    assert len(pulled) == 3  # the current batch plus two staged ahead
    out = [first, *pf]
    assert len(out) == 5 and out[3]["meta"][0] == "a"
    assert out[4]["x"].tolist() == [4.0, 4.0] and out[2]["meta"][1][0].item() == 2
    with pytest.raises(ValueError, match="size should be non-negative"):
        D.DevicePrefetcher([], size=-1)


def test_device_prefetcher_shards_batches_across_devices():
    devices = jax.devices()
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    n = len(devices)
    ds = D.TensorDataset(torchish.arange(4 * n * 2).view(4 * n, 2).float(), torchish.arange(4 * n))
    dl = D.DataLoader(ds, batch_size=2 * n, device=sharding)
    assert len(list(dl)) == 2 and len(dl) == 2
    x, y = next(iter(dl))
    assert x._value().sharding == sharding and len(x._value().addressable_shards) == n
    np.testing.assert_array_equal(y.numpy(), np.arange(2 * n))


# ------------------------------------------------------------------------------ host random stream
def test_host_rng_follows_manual_seed():
    from torchish.utils.data._utils.host import host_rng

    torchish.manual_seed(11)
    a = host_rng().random(3)
    torchish.manual_seed(11)
    b = host_rng().random(3)
    c = host_rng().random(3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    g = torchish.Generator().manual_seed(11)
    np.testing.assert_array_equal(host_rng(g).random(3), a)


def test_dataloader_device_option_keeps_batches_on_host_until_staged():
    ds = D.TensorDataset(torchish.arange(12).view(6, 2).float(), torchish.arange(6))
    seen = []
    dl = D.DataLoader(ds, batch_size=4, device="cpu", collate_fn=lambda b: seen.append(D.default_collate(b)) or seen[-1])
    out = list(dl)
    assert isinstance(seen[0][0]._value(), np.ndarray)  # collated on the host ...
    assert all(not isinstance(t._value(), np.ndarray) for b in out for t in b)  # ... staged onto the device
    np.testing.assert_array_equal(out[1][0].numpy(), [[8.0, 9.0], [10.0, 11.0]])
