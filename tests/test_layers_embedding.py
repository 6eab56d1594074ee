"""Embedding: a gather of the table's rows; its gradient a scatter-add into the table."""
import numpy as np
import pytest

import deepmath as dm
from deepmath.layers.base import Input
from deepmath.layers.embedding import Embedding
from deepmath.ops.embedding import embedding, scatter_rows
from gradcheck import check_grad

RNG = np.random.default_rng(11)


def test_embedding_gathers_rows():
    layer = Embedding(10, 4)
    idx = RNG.integers(0, 10, (3, 5))
    y = layer(idx)
    table = layer.get_weights()[0]
    assert y.shape == (3, 5, 4) == layer.compute_output_shape((3, 5)) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data, table[idx])
    np.testing.assert_array_equal(layer(idx.astype(np.float32)).data, table[idx])
    assert layer(np.array([3, 0])).shape == (2, 4)
    assert Embedding(10, 4)(Input(shape=(7,))).shape == (None, 7, 4)


def test_embedding_default_initializer_and_weights():
    layer = Embedding(1000, 8)
    layer(np.array([[1]]))
    (table,) = layer.get_weights()
    assert table.shape == (1000, 8) and layer.count_params() == 8000
    assert layer.weights[0].name.endswith("/embeddings")
    assert -0.05 <= table.min() < -0.04 and 0.04 < table.max() <= 0.05   # RandomUniform
    assert layer.get_config()["embeddings_initializer"]["class_name"] == "RandomUniform"


def test_embedding_gradient_is_scatter_add():
    table = RNG.standard_normal((6, 3))
    idx = np.array([[0, 2, 2], [5, 2, 0]])
    check_grad(lambda t: embedding(idx, t), table)
    t = dm.tensor(table, dtype="float64", requires_grad=True)
    g = RNG.standard_normal((2, 3, 3))
    embedding(idx.astype(np.float64), t).backward(g)
    expected = np.zeros_like(table)
    np.add.at(expected, idx.ravel(), g.reshape(-1, 3))
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-12)
    assert (t.grad.data[[1, 3, 4]] == 0).all()       # rows never looked up get no gradient


def test_scatter_rows_matches_add_at():
    for dtype in (np.float32, np.float64):
        idx = RNG.integers(0, 50, 1000)
        grad = RNG.standard_normal((1000, 16)).astype(dtype)
        expected = np.zeros((50, 16), dtype)
        np.add.at(expected, idx, grad)
        out = scatter_rows(idx, grad, 50)
        assert out.dtype == dtype and out.flags.c_contiguous
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_embedding_layer_trains_its_table():
    layer = Embedding(5, 2, dtype="float64")
    layer(np.array([0]))
    y = layer(np.array([[1, 1, 4]]))
    (y * 2).sum().backward()
    expected = np.zeros((5, 2))
    expected[1], expected[4] = 4, 2
    np.testing.assert_array_equal(layer.embeddings.grad.data, expected)


@pytest.mark.parametrize("bad", [[0, 10], [-1, 2], [[3.0, 12.0]]])
def test_embedding_out_of_range(bad):
    with pytest.raises(IndexError, match=r"Embedding 'emb'.*out of range for a table of 10 "
                                         r"rows"):
        Embedding(10, 3, name="emb")(np.array(bad))


def test_embedding_errors():
    with pytest.raises(ValueError, match="whole numbers"):
        Embedding(10, 3)(np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim"):
        Embedding(3, 2.5)
    with pytest.raises(ValueError, match="2-D"):
        embedding([0], np.zeros(3))


def test_embedding_mask():
    idx = np.array([[3, 0, 1], [0, 0, 2]])
    np.testing.assert_array_equal(Embedding(5, 2, mask_zero=True).compute_mask(idx), idx != 0)
    assert Embedding(5, 2).compute_mask(idx) is None
