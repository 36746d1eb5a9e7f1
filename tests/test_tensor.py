"""Tensor semantics: views and in-place ops, autograd API and errors, interop, printing."""

import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torchish as T
from parity import requires_torch, torch
from torchish.errors import TracedValueError


# ------------------------------------------------------------------------------- views
def test_basic_index_view_writes_through():
    x = T.arange(12.0).reshape(3, 4)
    v = x[1]
    v.add_(100)
    assert x[1].tolist() == [104.0, 105.0, 106.0, 107.0]
    x[1, 0] = -1.0
    assert v[0].item() == -1.0  # the view re-derives after its base changed


def test_chained_views_and_transpose_write_through():
    x = T.zeros(2, 3)
    y = x.t()[1:]          # (2, 2) view of a view
    y.fill_(5.0)
    assert x.tolist() == [[0.0, 5.0, 5.0], [0.0, 5.0, 5.0]]
    x.view(-1)[0] = 7.0
    assert x[0, 0].item() == 7.0 and y.shape == (2, 2)


def test_split_unbind_views_share_version():
    x = T.zeros(4)
    a, b = x.split(2)
    b.add_(1)
    assert x.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert a._version == x._version == b._version


def test_data_and_detach_write_without_autograd():
    w = T.ones(3, requires_grad=True)
    w.data.mul_(2)                        # old-style update, allowed
    d = w.detach()
    d[0] = 10.0
    assert w.tolist() == [10.0, 2.0, 2.0]
    assert w.is_leaf and w.requires_grad and w.grad_fn is None


def test_inplace_on_view_of_nonleaf_keeps_gradient():
    w = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * 1.0
    y[1:].mul_(10)
    y.sum().backward()
    assert w.grad.tolist() == [1.0, 10.0, 10.0]


def test_setitem_gradient_to_value_and_base():
    w = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = T.tensor(5.0, requires_grad=True)
    y = w.clone()
    y[0] = v * 2
    (y * T.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert w.grad.tolist() == [0.0, 2.0, 3.0]
    assert v.grad.item() == 2.0


def test_expand_view_inplace_errors():
    x = T.zeros(1, 3).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element"):
        x.add_(1)


def test_inplace_dtype_and_shape_rules():
    x = T.zeros(3, dtype=T.int64)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.add_(1.5)
    y = T.zeros(3, 1)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        y.add_(T.ones(3, 4))
    z = T.zeros(2, 3)
    z.add_(T.ones(3))
    assert z.sum().item() == 6.0
    x.copy_(T.tensor([1.7, -2.2, 3.9]))  # copy_ converts any dtype
    assert x.tolist() == [1, -2, 3]


# ---------------------------------------------------------------------------- autograd
def test_leaf_inplace_error_and_no_grad():
    w = T.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w[0].add_(1)
    with T.no_grad():
        w.add_(1)
        w[0].mul_(3)
    assert w.tolist() == [6.0, 2.0]


def test_backward_errors():
    x = T.ones(3, requires_grad=True)
    y = (x * x).exp()
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    s = y.sum()
    s.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        s.backward()
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        T.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require grad"):
        T.autograd.grad(x.sum(), T.ones(2))


def test_accumulation_retain_graph_and_gradient_arg():
    x = T.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.backward(T.tensor([1.0, 1.0]), retain_graph=True)
    y.backward(T.tensor([1.0, 0.0]))
    assert x.grad.tolist() == [4.0, 4.0]


def test_backward_inputs_and_autograd_grad_allow_unused():
    a = T.tensor(2.0, requires_grad=True)
    b = T.tensor(3.0, requires_grad=True)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 3.0 and b.grad is None
    c = T.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        T.autograd.grad(a * 2, [a, c])
    ga, gc = T.autograd.grad(a * 2, [a, c], allow_unused=True)
    assert ga.item() == 2.0 and gc is None
    (gm,) = T.autograd.grad(a * 2, [c], allow_unused=True, materialize_grads=True)
    assert gm.item() == 0.0


def test_grad_of_nonleaf_input():
    x = T.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (gh,) = T.autograd.grad((h ** 2).sum(), h)
    assert gh.tolist() == [6.0, 12.0]


def test_hooks_and_retain_grad():
    x = T.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    hx = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert y.grad.tolist() == [10.0, 10.0]           # retain_grad sees the hooked gradient
    assert x.grad.tolist() == [20.0, 20.0] and seen == [[20.0, 20.0]]
    hx.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert seen == [[20.0, 20.0]]
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        T.ones(1).register_hook(lambda g: g)


def test_post_accumulate_grad_hook():
    x = T.ones(2, requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.sum().item()))
    (x * 3).sum().backward()
    assert calls == [6.0]


def test_grad_mode_managers():
    x = T.ones(2, requires_grad=True)
    with T.no_grad():
        assert not (x * 2).requires_grad
        with T.enable_grad():
            assert (x * 2).requires_grad
    with T.set_grad_enabled(False):
        assert not T.is_grad_enabled()
    assert T.is_grad_enabled()
    T.set_grad_enabled(False)
    assert not T.is_grad_enabled()
    T.set_grad_enabled(True)

    @T.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with T.inference_mode():
        assert T.is_inference_mode_enabled() and not (x * 2).requires_grad
    assert not T.is_inference_mode_enabled()


def test_requires_grad_rules():
    y = T.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        T.tensor([1, 2]).requires_grad_()
    assert y.detach().requires_grad is False and y.detach().is_leaf


def test_custom_function():
    class Cube(T.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x ** 3 * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return 3 * x ** 2 * g * ctx.k, None

    x = T.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert "CubeBackward" in repr(y.grad_fn)
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]


def test_custom_function_wrong_grad_count():
    class Bad(T.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return (g,)

    x = T.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned an incorrect number of gradients"):
        Bad.apply(x, x).sum().backward()


def test_custom_function_non_differentiable_output():
    class Sort(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            v, i = x.sort()
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(i)
            return v, i

        @staticmethod
        def backward(ctx, gv, gi):
            (i,) = ctx.saved_tensors
            return T.zeros_like(gv).scatter(0, i, gv)

    x = T.tensor([3.0, 1.0, 2.0], requires_grad=True)
    v, i = Sort.apply(x)
    assert not i.requires_grad
    (v * T.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [3.0, 1.0, 2.0]


def test_multi_output_grad_with_unused_output():
    x = T.tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    vals, idx = x.max(1)
    vals.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    a, b = x.split(1)
    (a * 2).sum().backward()  # b gets no gradient: zeros flow for it
    assert x.grad.tolist() == [[2.0, 3.0], [1.0, 0.0]]


def test_tape_runs_on_tracers():
    def f(arr):
        x = T.Tensor(arr).requires_grad_()
        y = (x.sin() * x).sum()
        y.backward()
        return x.grad._data

    a = jnp.array([0.5, 1.0, 2.0], jnp.float32)
    got = jax.jit(f)(a)
    np.testing.assert_allclose(got, jax.grad(lambda t: (jnp.sin(t) * t).sum())(a), rtol=1e-6)


# ------------------------------------------------------------------------------ interop
def test_item_tolist_numpy_bool_len_iter_format():
    x = T.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x[0, 1].item() == 2.0 and x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(x.numpy(), np.ndarray) and np.asarray(x).shape == (2, 2)
    assert len(x) == 2 and [r.tolist() for r in x] == [[1.0, 2.0], [3.0, 4.0]]
    assert bool(T.tensor(1)) and f"{T.tensor(3.14159):.2f}" == "3.14" and int(T.tensor(7)) == 7
    assert float(T.tensor([2.5])) == 2.5 and [10, 20, 30][T.tensor(1)] == 20
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted to Scalar"):
        x.item()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(T.tensor(1.0))
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        T.ones(1, requires_grad=True).numpy()


def test_traced_value_errors():
    def f(a):
        x = T.Tensor(a)
        if x.sum() > 0:
            return a
        return -a

    with pytest.raises(TracedValueError, match="bool\\(tensor\\)"):
        jax.jit(f)(jnp.ones(2))
    with pytest.raises(TracedValueError, match="Tensor.item\\(\\)"):
        jax.jit(lambda a: T.Tensor(a).sum().item())(jnp.ones(2))


def test_pytree_and_jax_arrays_accepted():
    x = T.ones(2)
    leaves, tree = jax.tree_util.tree_flatten({"a": x})
    assert isinstance(leaves[0], jax.Array)
    y = jax.tree_util.tree_unflatten(tree, leaves)["a"]
    assert isinstance(y, T.Tensor) and y.tolist() == [1.0, 1.0]
    assert (x + jnp.ones(2)).tolist() == [2.0, 2.0]
    assert T.sin(jnp.zeros(2)).tolist() == [0.0, 0.0]
    assert jnp.sum(x) == 2.0  # __jax_array__


def test_pickle_and_deepcopy():
    x = T.tensor([1.0, 2.0], requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    assert y.tolist() == [1.0, 2.0] and y.requires_grad
    z = copy.deepcopy(x)
    z.data.add_(1)
    assert x.tolist() == [1.0, 2.0]


def test_dtypes_devices():
    x = T.ones(2)
    assert x.dtype is T.float32 and x.to(T.float64).dtype is T.float64
    assert x.long().dtype is T.int64 and x.half().dtype is T.float16 and x.bool().dtype is T.bool
    assert x.type_as(T.tensor([1])).dtype is T.int64 and x.type() == "torchish.FloatTensor"
    assert x.to("cpu") is x and x.cpu().device == T.device("cpu") and str(x.device) == "cpu"
    assert T.device("cuda:1").index == 1 and T.device("cuda", 0) == T.device("cuda:0")
    assert T.tensor([1, 2]).dtype is T.int64 and T.tensor([True]).dtype is T.bool
    assert T.tensor(np.ones(2)).dtype is T.float64  # NumPy keeps its dtype
    T.set_default_dtype(T.float64)
    try:
        assert T.tensor([1.0]).dtype is T.float64 and (T.tensor([1]) * 1.5).dtype is T.float64
    finally:
        T.set_default_dtype(T.float32)
    with pytest.raises(RuntimeError, match="Invalid device string|Expected one of cpu"):
        T.device("floppy")
    if not T.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            T.ones(1).cuda()


def test_to_device_keeps_grad():
    x = T.ones(2, requires_grad=True)
    cpu1 = jax.devices("cpu")[-1]
    y = (x * 2).to(T.device("cpu", len(jax.devices("cpu")) - 1))
    assert next(iter(y._data.devices())) == cpu1
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


@requires_torch
@pytest.mark.parametrize("make", [
    lambda L: L.tensor([[1.0, 2.0]], requires_grad=True),
    lambda L: L.tensor([1.5, -2.25, 3.0]),
    lambda L: L.tensor([1e-5, 1.0]),
    lambda L: L.tensor([1e9, 1.0]),
    lambda L: L.tensor([1, -20, 300]),
    lambda L: L.tensor([True, False]),
    lambda L: L.tensor(3.5),
    lambda L: L.tensor([float("nan"), float("inf"), 1.0]),
    lambda L: L.tensor([[1, 2], [3, 4]], dtype=L.float64),
    lambda L: L.tensor([1, 2], dtype=L.int32),
    lambda L: L.zeros(0),
    lambda L: L.zeros(2, 0),
    lambda L: L.arange(2000.0),
    lambda L: L.arange(24.0).reshape(2, 3, 4),
    lambda L: L.ones(2, requires_grad=True) * 2,
    lambda L: L.arange(30.0) / 7,
])
def test_repr_matches_torch(make):
    assert repr(make(T)) == repr(make(torch)).replace("torch.", "torchish.")


def test_size_and_misc():
    x = T.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(-1) == 4 and x.shape.numel() == 24 and x.dim() == 3
    assert repr(x.shape) == "torchish.Size([2, 3, 4])" and x.numel() == 24 and x.element_size() == 4
    assert x.is_floating_point() and not T.tensor([1]).is_floating_point() and x.is_contiguous()
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
        x[0, 5]
    with pytest.raises(RuntimeError, match="shape '\\[5, -1\\]' is invalid for input of size 24"):
        x.view(5, -1)
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied \\(2x3 and 4x5\\)"):
        T.zeros(2, 3) @ T.zeros(4, 5)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        T.cat([T.zeros(2, 3), T.zeros(2, 4)])


def test_lstsq_isreal_and_random_basics():
    a = T.randn(5, 3)
    b = T.randn(5, 2)
    sol = T.linalg.lstsq(a, b).solution
    ref = np.linalg.lstsq(a.numpy(), b.numpy(), rcond=None)[0]
    np.testing.assert_allclose(sol.numpy(), ref, rtol=1e-4, atol=1e-4)
    assert T.isreal(a).all()
