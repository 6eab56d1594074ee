"""Every differentiable op against central finite differences (float64), on shapes that
include 0-d tensors and broadcasting."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepmath as dm
from gradcheck import check_grad

rng = np.random.default_rng(1234)


def away_from_zero(*shape, low=0.2, high=2.0):
    """Random values with |x| in [low, high]: no kink of abs/relu/clip within eps."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


BINARY_SHAPES = [((), ()), ((3,), ()), ((), (4,)), ((2, 3), (2, 3)), ((2, 3), (3,)),
                 ((4, 1), (1, 5)), ((2, 1, 3), (4, 1)), ((1,), (2, 2))]


@pytest.mark.parametrize("shapes", BINARY_SHAPES)
@pytest.mark.parametrize("op", [dm.add, dm.sub, dm.mul, dm.div,
                                lambda a, b: a + b, lambda a, b: a - b,
                                lambda a, b: a * b, lambda a, b: a / b])
def test_binary_ops(op, shapes):
    check_grad(op, away_from_zero(*shapes[0]), away_from_zero(*shapes[1]))


@pytest.mark.parametrize("shapes", BINARY_SHAPES)
def test_pow_both_operands(shapes):
    check_grad(lambda a, b: a ** b, positive(*shapes[0]), away_from_zero(*shapes[1]))


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.5])
def test_pow_constant_exponent(exponent):
    check_grad(lambda a: a ** exponent, positive(3, 2))


def test_rpow_and_rsub_rdiv():
    check_grad(lambda a: 2.0 ** a - 1 / a + (3 - a), away_from_zero(4))


UNARY = {
    "neg": (dm.neg, away_from_zero), "exp": (dm.exp, away_from_zero),
    "log": (dm.log, positive), "sqrt": (dm.sqrt, positive), "abs": (dm.abs, away_from_zero),
    "sin": (dm.sin, away_from_zero), "cos": (dm.cos, away_from_zero),
    "tan": (dm.tan, lambda *s: rng.uniform(-1.2, 1.2, s)),
    "tanh": (dm.tanh, away_from_zero), "sigmoid": (dm.sigmoid, away_from_zero),
    "relu": (dm.relu, away_from_zero), "leaky_relu": (dm.leaky_relu, away_from_zero),
    "leaky_relu_0.2": (lambda x: dm.leaky_relu(x, 0.2), away_from_zero),
    "gelu": (dm.gelu, away_from_zero),
    "gelu_tanh": (lambda x: dm.gelu(x, approximate=True), away_from_zero),
    "softplus": (dm.softplus, away_from_zero), "square": (dm.square, away_from_zero),
}


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 2)])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(name, shape):
    op, sample = UNARY[name]
    check_grad(op, sample(*shape))


def test_unary_values_match_numpy():
    x = rng.normal(size=(4, 5))
    t = dm.tensor(x, dtype="float64")
    from scipy.special import erf
    np.testing.assert_allclose(dm.gelu(t).data, x * 0.5 * (1 + erf(x / np.sqrt(2))))
    approx = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(dm.gelu(t, approximate="tanh").data, approx)
    np.testing.assert_allclose(dm.softplus(t).data, np.log1p(np.exp(x)))
    np.testing.assert_allclose(dm.sigmoid(t).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(dm.leaky_relu(t).data, np.where(x > 0, x, 0.01 * x))


def test_heaviside_book_convention_and_zero_gradient():
    x = dm.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    h = dm.heaviside(x)
    np.testing.assert_array_equal(h.data, [0, 1, 1])  # H(0) = 1 in the book
    (h * x).sum().backward()  # d/dx (H(x)·x) = H(x) since H' = 0
    np.testing.assert_array_equal(x.grad.data, [0, 1, 1])
    y = dm.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    dm.heaviside(y, straight_through=True).sum().backward()  # the book's H̃' = 1
    np.testing.assert_array_equal(y.grad.data, [1, 1, 1])


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False),
                                           (-1, True), ((), False)])
@pytest.mark.parametrize("op", [dm.sum, dm.mean, dm.max, dm.min])
def test_reductions(op, axis, keepdims):
    x = rng.permutation(24).reshape(2, 3, 4) / 7.0  # distinct values: no ties
    check_grad(lambda t: op(t, axis=axis, keepdims=keepdims), x)
    expected = {dm.sum: np.sum, dm.mean: np.mean, dm.max: np.max, dm.min: np.min}[op]
    axis_np = axis if axis != () else ()
    np.testing.assert_allclose(op(dm.tensor(x, dtype="float64"), axis, keepdims).data,
                               expected(x, axis=axis_np, keepdims=keepdims))


@pytest.mark.parametrize("op", [dm.sum, dm.mean, dm.max, dm.min])
def test_reductions_of_scalars(op):
    check_grad(op, np.array(1.5))
    check_grad(lambda t: op(t, axis=0), np.array(-0.5))


def test_max_ties_share_the_gradient():
    x = dm.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0.5, 0.5, 0])


SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(3, 4), (2, 6)),
    "reshape_infer": (lambda t: dm.reshape(t, (-1, 2)), (2, 3, 2)),
    "transpose": (lambda t: t.T, (2, 5)),
    "permute": (lambda t: t.permute(2, 0, 1), (2, 3, 4)),
    "transpose_axes": (lambda t: dm.transpose(t, (1, 0, 2)), (2, 3, 4)),
    "flatten": (lambda t: t.flatten(), (2, 3, 2)),
    "flatten_keep_batch": (lambda t: dm.flatten(t, 1), (2, 3, 2)),
    "squeeze": (lambda t: dm.squeeze(t), (3, 1, 2)),
    "expand_dims": (lambda t: dm.expand_dims(t, 1), (3, 2)),
    "pad": (lambda t: dm.pad(t, ((1, 2), (0, 1))), (2, 3)),
    "pad_scalar_width": (lambda t: dm.pad(t, 1, constant_values=5.0), (2, 2)),
    "index_int": (lambda t: t[1], (3, 4)),
    "index_slice": (lambda t: t[:, 1:3], (3, 4)),
    "index_step_negative": (lambda t: t[::-2, ::2], (5, 4)),
    "index_fancy_repeated": (lambda t: t[[0, 2, 0, 0]], (3, 4)),
    "index_bool": (lambda t: t[t.data > 0], (3, 4)),
    "index_ellipsis_newaxis": (lambda t: t[..., None, 1], (2, 3)),
    "index_tensor": (lambda t: t[dm.tensor([1, 0]).data.astype(int)], (3, 2)),
    "clip": (lambda t: dm.clip(t, -1.0, 1.0), (4, 5)),
    "clip_low": (lambda t: t.clip(low=0.5), (4, 5)),
    "softmax": (lambda t: dm.softmax(t), (3, 4)),
    "softmax_axis0": (lambda t: dm.softmax(t, axis=0), (3, 4)),
    "log_softmax": (lambda t: dm.log_softmax(t), (3, 4)),
    "log_softmax_3d": (lambda t: dm.log_softmax(t, axis=1), (2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_ops(name):
    op, shape = SHAPE_OPS[name]
    check_grad(op, away_from_zero(*shape) * 1.5)


def test_shape_op_values():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = dm.tensor(x)
    np.testing.assert_array_equal(t.permute(2, 0, 1).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(dm.flatten(t, 1).data, x.reshape(2, 12))
    np.testing.assert_array_equal(dm.pad(t, 1).data, np.pad(x, 1))
    np.testing.assert_array_equal(t[[1, 0], :, 2].data, x[[1, 0], :, 2])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b, c = away_from_zero(2, 3), away_from_zero(2, 3), away_from_zero(2, 3)
    check_grad(lambda x, y, z: dm.concatenate([x, y, z], axis=axis), a, b, c)
    check_grad(lambda x, y, z: dm.stack([x, y, z], axis=axis), a, b, c)
    np.testing.assert_array_equal(dm.concatenate([a, b], axis).data, np.concatenate([a, b], axis))
    np.testing.assert_array_equal(dm.stack([a, b], axis).data, np.stack([a, b], axis))


def test_concatenate_uneven_sizes():
    check_grad(lambda x, y: dm.concatenate([x, y], axis=1), away_from_zero(2, 1),
               away_from_zero(2, 4))


def test_where():
    cond = np.array([[True, False, True], [False, False, True]])
    check_grad(lambda a, b: dm.where(cond, a, b), away_from_zero(2, 3), away_from_zero(3))
    check_grad(lambda a: dm.where(a > 0, a, 0.0), away_from_zero(2, 3))


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
                 ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul(shapes):
    a, b = away_from_zero(*shapes[0]), away_from_zero(*shapes[1])
    check_grad(lambda x, y: x @ y, a, b)
    np.testing.assert_allclose(dm.matmul(dm.tensor(a, dtype="float64"),
                                         dm.tensor(b, dtype="float64")).data, a @ b)


def test_cast_between_float_dtypes():
    x = dm.tensor([1.5, -2.0], dtype="float64", requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, [3.0, -4.0])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_broadcast_binary_ops_hypothesis(data):
    """Random broadcast-compatible shapes: the gradient of each operand keeps its shape and
    equals finite differences."""
    ndim = data.draw(st.integers(0, 3))
    full = data.draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))
    def sub_shape():
        keep = data.draw(st.integers(0, ndim))
        dims = full[ndim - keep:]
        return tuple(d if data.draw(st.booleans()) else 1 for d in dims)
    sa, sb = sub_shape(), sub_shape()
    op = data.draw(st.sampled_from([lambda a, b: a * b + a, lambda a, b: a / b - b,
                                    lambda a, b: a ** 2 * b]))
    check_grad(op, away_from_zero(*sa), away_from_zero(*sb))


def test_gelu_tanh_form_and_the_books_erratum():
    """Book l.9968 prints GELU ≈ x/2(1 + th(√(2/π) + 0.44715x³)); the tanh form is
    x/2(1 + th(√(2/π)(x + 0.044715x³))), within 5e-4 of x·Φ(x). So is x·σ(1.702x) to 2.1e-2."""
    from scipy.special import erf
    x = np.linspace(-5, 5, 2001)
    exact = x / 2 * (1 + erf(x / np.sqrt(2)))
    np.testing.assert_allclose(dm.gelu(dm.tensor(x, dtype="float64")).data, exact,
                               atol=1e-12)
    tanh_form = dm.gelu(dm.tensor(x, dtype="float64"), approximate=True).data
    assert np.abs(tanh_form - exact).max() < 5e-4
    printed = x / 2 * (1 + np.tanh(np.sqrt(2 / np.pi) + 0.44715 * x**3))
    assert np.abs(printed - exact).max() > 0.5
    assert np.abs(x / (1 + np.exp(-1.702 * x)) - exact).max() < 2.1e-2


def test_self_attention_equals_the_split_heads_composition():
    """ops.self_attention(qkv, H) = the split/transpose/attention/merge composition, values
    and gradients, and finite differences in float64."""
    rng = np.random.default_rng(11)
    b, t, h, d = 2, 5, 3, 4
    qkv = rng.standard_normal((b, t, 3 * h * d))

    def composed(x):
        heads = dm.ops.transpose(dm.ops.reshape(x, (b, t, 3, h, d)), (2, 0, 3, 1, 4))
        y = dm.ops.scaled_dot_product_attention(heads[0], heads[1], heads[2], causal=True)
        return dm.ops.reshape(dm.ops.transpose(y, (0, 2, 1, 3)), (b, t, h * d))
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        x1 = dm.tensor(qkv, dtype=dtype, requires_grad=True)
        x2 = dm.tensor(qkv, dtype=dtype, requires_grad=True)
        y1, y2 = dm.ops.self_attention(x1, h), composed(x2)
        np.testing.assert_allclose(y1.data, y2.data, rtol=tol, atol=tol)
        w = dm.tensor(rng.standard_normal(y1.shape), dtype=dtype)
        (y1 * w).sum().backward()
        (y2 * w).sum().backward()
        np.testing.assert_allclose(x1.grad.data, x2.grad.data, rtol=tol, atol=tol)
    check_grad(lambda x: dm.ops.self_attention(x, h), qkv)
    check_grad(lambda x: dm.ops.self_attention(x, h, causal=False), qkv[:, :3, :])
    with pytest.raises(ValueError, match="multiple of n_head=5"):
        dm.ops.self_attention(dm.tensor(qkv), 5)
