"""Sequential and functional models: structure, weights, summary, configs, sub-models."""
import numpy as np
import pytest

import deepmath as dm
from deepmath.layers import Dense, Input, InputLayer
from deepmath.models import Model, Sequential


def book_mlp():
    """The book's MNIST MLP 784-8-8-10 (chapter "Python : tensorflow avec keras", part 2)."""
    model = Sequential()
    model.add(Input(shape=(784,)))
    model.add(Dense(8, activation="sigmoid"))
    model.add(Dense(8, activation="sigmoid"))
    model.add(Dense(10, activation="softmax"))
    return model


def numpy_mlp(weights, x):
    w1, b1, w2, b2, w3, b3 = weights
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    z = sig(sig(x @ w1 + b1) @ w2 + b2) @ w3 + b3
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_sequential_forward_matches_numpy():
    model = book_mlp()
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    expected = numpy_mlp([w.astype(np.float64) for w in model.get_weights()], x)
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-5, atol=1e-6)
    assert model(x).dtype == np.float32


def test_weights_shapes_order_and_counts():
    model = book_mlp()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(784, 8), (8,), (8, 8), (8,), (8, 10), (10,)]
    assert model.count_params() == 784 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10 == 6442
    assert [layer.name.split("_")[0] for layer in model.layers] == ["dense"] * 3
    # Keras: glorot-uniform kernels within the limit, zero biases
    w1 = model.get_weights()[0]
    assert np.abs(w1).max() <= np.sqrt(6 / (784 + 8)) and w1.std() > 0
    assert not model.get_weights()[1].any()


def test_set_weights_round_trip_and_errors():
    model = book_mlp()
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        model.layers[0].set_weights([np.zeros((3, 8)), np.zeros(8)])
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        model.layers[0].set_weights([np.zeros((784, 8))])
    # get_weights returns copies
    model.get_weights()[0][...] = 99
    assert model.get_weights()[0].max() == 0


def test_summary_table(capsys):
    model = book_mlp()
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "' in out and "Layer (type)" in out and "Param #" in out
    assert "(None, 8)" in out and "6,280" in out
    assert "Total params: 6,442 (25.16 KB)" in out
    assert "Trainable params: 6,442" in out and "Non-trainable params: 0 (0.00 B)" in out


def test_build_on_first_call_without_input():
    model = Sequential([Dense(4, activation="relu"), Dense(1)])
    assert not model.built
    out = model(np.ones((2, 5)))
    assert out.shape == (2, 1) and model.count_params() == 5 * 4 + 4 + 4 + 1
    assert model.inputs[0].shape == (None, 5)


def test_input_shape_keyword_on_first_layer():
    model = Sequential([Dense(3, input_shape=(6,)), Dense(2)])
    assert model.built and model.outputs[0].shape == (None, 2)
    model2 = Sequential([Dense(3, input_dim=6)])
    assert model2.inputs[0].shape == (None, 6)


def test_wrong_input_shape_is_a_clear_error():
    model = book_mlp()
    with pytest.raises(ValueError, match=r"expected shape \(None, 784\), got \(2, 28, 28\)"):
        model(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        model(np.zeros((2, 783), np.float32))


def test_bad_add_leaves_model_usable():
    model = Sequential([Input(shape=(3,)), Dense(2)])
    with pytest.raises(TypeError):
        model.add("dense")
    with pytest.raises(ValueError, match="Input can only come first"):
        model.add(InputLayer(shape=(2,)))
    dense = Dense(4, name="same")
    model.add(dense)
    with pytest.raises(ValueError, match="already in"):
        model.add(Dense(4, name="same"))
    assert model(np.ones((1, 3))).shape == (1, 4)
    assert model.pop() is dense and model(np.ones((1, 3))).shape == (1, 2)


def test_book_submodel_trick_gives_hidden_layer_values():
    """Model(inputs=m.inputs, outputs=m.layers[i].output): the values of layer i."""
    model = book_mlp()
    sub = Model(inputs=model.inputs, outputs=model.layers[1].output)
    x = np.random.default_rng(1).random((3, 784)).astype(np.float32)
    w1, b1, w2, b2 = [w.astype(np.float64) for w in model.get_weights()[:4]]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    np.testing.assert_allclose(sub.predict(x, verbose=0), sig(sig(x @ w1 + b1) @ w2 + b2),
                               rtol=1e-5)
    assert sub.layers[1] is model.layers[0]       # shared layers, shared weights


def test_functional_model_graph_and_shared_layer():
    inp = Input(shape=(3,))
    shared = Dense(3, activation="tanh")
    h = shared(shared(inp))                      # the same layer twice
    out = Dense(2)(h)
    model = Model(inp, out)
    assert len(model.layers) == 3                # InputLayer, shared, out
    x = np.random.default_rng(2).random((4, 3))
    w, b, w2, b2 = [a.astype(np.float64) for a in model.get_weights()]
    expected = np.tanh(np.tanh(x @ w + b) @ w + b) @ w2 + b2
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-5, atol=1e-6)


def test_functional_errors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    out = Dense(1)(b)
    with pytest.raises(ValueError, match="not among the model's inputs"):
        Model(a, out)
    with pytest.raises(TypeError, match="symbolic"):
        Model(np.zeros(3), out)
    with pytest.raises(ValueError, match="expects 1 input"):
        Model(b, out)([np.zeros((1, 3)), np.zeros((1, 3))])


def test_multi_input_model():
    a, b = Input(shape=(2,)), Input(shape=(3,))
    out = Dense(1)(b)
    ha = Dense(1)(a)
    model = Model([a, b], [ha, out])
    ya, yb = model([np.ones((4, 2)), np.ones((4, 3))])
    assert ya.shape == (4, 1) and yb.shape == (4, 1)
    pa, pb = model.predict([np.ones((5, 2)), np.ones((5, 3))], batch_size=2, verbose=0)
    assert pa.shape == (5, 1) and pb.shape == (5, 1)


def test_config_round_trips():
    model = book_mlp()
    clone = Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(3).random((2, 784)).astype(np.float32)
    np.testing.assert_array_equal(clone(x).data, model(x).data)
    assert [type(layer) for layer in clone.layers] == [Dense] * 3

    inp = Input(shape=(4,))
    shared = Dense(4, activation="relu")
    model = Model(inp, Dense(2)(shared(shared(inp))))
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(4).random((3, 4))
    np.testing.assert_allclose(clone(x).data, model(x).data, rtol=1e-6)


def test_trainable_flag_moves_weights():
    model = book_mlp()
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    assert not model.layers[0].kernel.requires_grad
    model.layers[0].trainable = True
    assert len(model.trainable_weights) == 6


def test_count_params_unbuilt_layer_errors():
    with pytest.raises(ValueError, match="not built"):
        Dense(3).count_params()
    with pytest.raises(ValueError, match="positive integer"):
        Dense(0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        Dense(3, unknown=1)


def test_float64_model():
    model = Sequential([Input(shape=(2,), dtype="float64"), Dense(3, dtype="float64")])
    assert model(np.ones((1, 2))).dtype == np.float64


def test_deep_sequential_does_not_recurse():
    model = Sequential([Input(shape=(2,))] + [Dense(2) for _ in range(300)])
    assert model(np.ones((1, 2))).shape == (1, 2)
    assert len(Model(model.inputs, model.outputs).layers) == 301
    dm.no_grad  # keeps the import used


def test_build_called_directly_marks_the_layer_built():
    layer = Dense(3)
    layer.build((None, 4))
    assert layer.built and len(layer.weights) == 2
    layer.set_weights([np.ones((4, 3)), np.zeros(3)])
    np.testing.assert_allclose(layer(np.ones((1, 4))).data, [[4, 4, 4]])
    assert len(layer.weights) == 2                # not rebuilt by the call
