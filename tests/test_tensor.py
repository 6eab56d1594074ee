"""Tensor construction, dtypes, conversions and the errors bad input gets."""
import numpy as np
import pytest

import deepmath as dm


def test_dtype_rules():
    assert dm.tensor(3.0).dtype == np.float32          # Python numbers: float32
    assert dm.tensor([1, 2]).dtype == np.float32       # integers converted
    assert dm.tensor(np.arange(3)).dtype == np.float32
    assert dm.tensor(np.ones(2, np.float16)).dtype == np.float32  # lossless, as Keras
    assert dm.tensor(np.ones(2)).dtype == np.float64   # float arrays keep their dtype
    assert dm.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert dm.tensor(1.0, dtype="float64").dtype == np.float64
    assert (dm.tensor(2.0) * 3.5).dtype == np.float32  # a Python scalar keeps float32
    assert (dm.tensor(2.0) + dm.tensor(1.0, dtype=dm.float64)).dtype == np.float64
    assert dm.arange(1, 4, 0.5).dtype == np.float32
    assert dm.linspace(0, 1, 5).shape == (5,)


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a", "b"]), np.array([None]),
                                 np.array([1.0], dtype=np.longdouble)])
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="dtype"):
        dm.tensor(bad)


def test_requested_dtype_must_be_float():
    with pytest.raises(TypeError, match="int32"):
        dm.tensor([1, 2], dtype=np.int32)


def test_tensor_copies_its_input():
    a = np.ones(3)
    t = dm.tensor(a)
    a[0] = 5
    assert t.data[0] == 1


def test_creation_functions():
    assert dm.zeros(2, 3).shape == (2, 3) and dm.zeros((2, 3)).data.sum() == 0
    assert dm.ones(4).data.sum() == 4
    dm.manual_seed(0)
    a = dm.randn(3, 2)
    dm.manual_seed(0)
    np.testing.assert_array_equal(a.data, dm.randn(3, 2).data)
    r = dm.rand(1000)
    assert 0 <= r.data.min() and r.data.max() < 1
    assert dm.zeros_like(a).shape == (3, 2)
    assert dm.full((2,), 7.0).data.tolist() == [7.0, 7.0]
    v = dm.Variable(1.0)
    assert v.requires_grad and v.is_leaf


def test_conversions():
    t = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and len(t) == 2
    assert isinstance(t.numpy(), np.ndarray)
    assert float(dm.tensor(2.5)) == 2.5
    with pytest.raises(ValueError, match="one element"):
        t.item()
    assert [row.tolist() for row in t] == [[1.0, 2.0], [3.0, 4.0]]
    assert "tensor(" in repr(t) and "grad_fn=mul" in repr(dm.tensor(1.0, requires_grad=True) * 2)
    assert np.asarray(t).shape == (2, 2)


def test_comparisons_are_bool_and_outside_the_graph():
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and not m.requires_grad
    assert m.tolist() == [False, True, True]
    assert (x == 2.0).tolist() == [False, True, False]
    assert (x <= 2).tolist() == [True, True, False]
    with pytest.raises(TypeError, match="float"):
        m.requires_grad_()
    assert {x: 1}[x] == 1  # still hashable


def test_broadcast_mismatch_names_both_shapes():
    a, b = dm.tensor(np.ones((2, 3))), dm.tensor(np.ones(4))
    for op in (lambda: a + b, lambda: a * b, lambda: a - b, lambda: a / b, lambda: a ** b):
        with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
            op()
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        a > b


def test_matmul_mismatch_names_both_shapes():
    a, b = dm.tensor(np.ones((2, 3))), dm.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match="at least one dimension"):
        dm.matmul(dm.tensor(2.0), a)
    with pytest.raises(ValueError, match=r"\(2, 2, 3\).*\(3, 3, 1\)"):
        dm.tensor(np.ones((2, 2, 3))) @ dm.tensor(np.ones((3, 3, 1)))


def test_shape_errors():
    t = dm.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match="axis 2"):
        t.sum(axis=2)
    with pytest.raises(ValueError, match="permutation"):
        t.transpose(0, 0)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        t[5]
    with pytest.raises(ValueError, match="one shape"):
        dm.stack([t, dm.tensor(np.ones(3))])
    with pytest.raises(ValueError, match=r"\(2, 3\), \(2, 2\)"):
        dm.concatenate([t, dm.tensor(np.ones((2, 2)))], axis=0)
    with pytest.raises(ValueError, match="empty"):
        dm.tensor(np.ones((0, 3))).max()
    with pytest.raises(ValueError, match="empty"):
        dm.tensor(np.ones((0, 3))).mean()


def test_zero_size_tensors_work():
    x = dm.tensor(np.ones((0, 3)), requires_grad=True)
    y = (x * 2 + 1).sum()
    y.backward()
    assert y.item() == 0.0 and x.grad.shape == (0, 3)
    z = dm.tensor(np.ones((0, 4))) @ dm.tensor(np.ones((4, 2)))
    assert z.shape == (0, 2)


def test_stable_for_large_inputs():
    """No NaN from valid inputs of ±1000."""
    x = dm.tensor([-1000.0, -20.0, 0.0, 20.0, 1000.0], requires_grad=True)
    for f in (dm.sigmoid, dm.softplus, dm.tanh, dm.log_softmax, dm.softmax, dm.gelu,
              lambda t: dm.gelu(t, approximate=True)):
        x.grad = None
        y = f(x)
        assert np.isfinite(y.data).all(), f
        y.sum().backward()
        assert np.isfinite(x.grad.data).all(), f
    np.testing.assert_allclose(dm.sigmoid(x).data, [0, 2.0611537e-09, 0.5, 1 - 2.0611537e-09, 1],
                               atol=1e-12)
    np.testing.assert_allclose(dm.log_softmax(dm.tensor([1000.0, 0.0])).data, [0.0, -1000.0])
    np.testing.assert_allclose(dm.softplus(x).data[[0, 4]], [0.0, 1000.0])
