"""The graph-free training step of Flatten/Dense chains computes what the graph computes."""
import numpy as np
import pytest

from deepmath.layers import Dense, Dropout, Flatten, Input
from deepmath.models import Model, Sequential
from deepmath.models import chain_step
from deepmath.models.chain_step import DenseChain
from deepmath.utils import set_random_seed


def data(n=96, shape=(4, 3), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    labels = rng.integers(0, classes, n)
    return x, labels, np.eye(classes, dtype=np.float32)[labels]


def train(build, loss, y, monkeypatch, graph, x, optimizer="adam", **fit):
    """Weights and history after fitting with the chain step (graph=False) or the graph."""
    with monkeypatch.context() as m:
        if graph:
            m.setattr(DenseChain, "plan", classmethod(lambda cls, model, variables: None))
        set_random_seed(3)
        model = build()
        model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, **fit)
        return model.get_weights(), history.history


def mlp(last="softmax", hidden="relu", use_bias=True):
    def build():
        return Sequential([Input(shape=(4, 3)), Flatten(),
                           Dense(8, activation=hidden, use_bias=use_bias),
                           Dense(5, activation="tanh"), Dense(3, activation=last)])
    return build


def functional():
    inputs = Input(shape=(4, 3))
    x = Dense(6, activation="sigmoid")(Flatten()(inputs))
    return Model(inputs, Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("build, loss, target", [
    (mlp(), "categorical_crossentropy", "onehot"),              # the fused loss, no node
    (mlp(), "sparse_categorical_crossentropy", "labels"),       # loss on a leaf
    (mlp(hidden="gelu"), "categorical_crossentropy", "onehot"),  # pre-activation saved
    (mlp(use_bias=False), "categorical_crossentropy", "onehot"),
    (mlp(last=None), "mse", "onehot"),                          # linear output
    (mlp(last="sigmoid"), "binary_crossentropy", "onehot"),
    (functional, "categorical_crossentropy", "onehot"),
])
def test_chain_step_equals_the_graph(build, loss, target, monkeypatch):
    x, labels, onehot = data()
    y = onehot if target == "onehot" else labels
    model = _compiled(build, loss)
    assert DenseChain.plan(model, model.trainable_weights) is not None
    fast = train(build, loss, y, monkeypatch, False, x)
    slow = train(build, loss, y, monkeypatch, True, x)
    for a, b in zip(fast[0], slow[0]):
        np.testing.assert_array_equal(a, b)
    assert fast[1] == slow[1]


def _compiled(build, loss):
    model = build()
    model.compile(loss=loss, optimizer="sgd")
    return model


def test_chain_step_with_sample_weights_equals_the_graph(monkeypatch):
    x, labels, onehot = data()
    weights = np.linspace(0.1, 2.0, len(x)).astype(np.float32)
    fast = train(mlp(), "categorical_crossentropy", onehot, monkeypatch, False, x,
                 sample_weight=weights)
    slow = train(mlp(), "categorical_crossentropy", onehot, monkeypatch, True, x,
                 sample_weight=weights)
    for a, b in zip(fast[0], slow[0]):
        np.testing.assert_array_equal(a, b)


def test_plan_is_made_for_chains_only():
    model = mlp()()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    assert DenseChain.plan(model, model.trainable_weights) is not None
    model.layers[1].trainable = False                    # frozen: the graph's business
    assert DenseChain.plan(model, model.trainable_weights) is None

    with_dropout = Sequential([Input(shape=(3,)), Dense(4, activation="relu"), Dropout(0.5),
                               Dense(2, activation="softmax")])
    with_dropout.compile(loss="categorical_crossentropy", optimizer="sgd")
    assert DenseChain.plan(with_dropout, with_dropout.trainable_weights) is None

    python_activation = Sequential([Input(shape=(3,)), Dense(4, activation=lambda t: t * 2),
                                    Dense(2)])
    python_activation.compile(loss="mse", optimizer="sgd")
    assert DenseChain.plan(python_activation, python_activation.trainable_weights) is None

    inputs = Input(shape=(3,))
    branch = Dense(2)(inputs)
    two_outputs = Model(inputs, [Dense(1)(branch), Dense(1)(branch)])
    assert chain_step._chain_layers(two_outputs) is None


def test_fit_uses_the_chain_and_bad_input_is_still_reported(monkeypatch):
    calls = []
    real = DenseChain.train_step

    def spy(self, *args):
        calls.append(1)
        return real(self, *args)
    monkeypatch.setattr(DenseChain, "train_step", spy)
    x, _, onehot = data()
    model = mlp()()
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.fit(x, onehot, batch_size=32, epochs=1, verbose=0)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="incompatible"):
        model.train_on_batch(x[:, :3], onehot)


def test_native_chain_step_is_used_and_equals_the_python_chain(monkeypatch):
    """float32, fused loss: the one-call C step runs, with the Python chain's bits."""
    from deepmath.backend._native_import import kernels
    if kernels is None:
        pytest.skip("deepmath._kernels not built")
    x, labels, onehot = data()
    calls = []
    real = kernels.dense_chain_step
    monkeypatch.setattr(kernels, "dense_chain_step", lambda *a: calls.append(1) or real(*a))
    for build in (mlp(), mlp(hidden="sigmoid", use_bias=False), mlp(hidden=None)):
        fast = train(build, "categorical_crossentropy", onehot, monkeypatch, False, x)
        assert calls
        calls.clear()
        with monkeypatch.context() as m:
            m.setattr(DenseChain, "_native_step", lambda *a: None)
            python = train(build, "categorical_crossentropy", onehot, monkeypatch, False, x)
        assert not calls
        for a, b in zip(fast[0], python[0]):
            np.testing.assert_array_equal(a, b)
        assert fast[1] == python[1]


def test_native_chain_step_rejects_bad_input():
    from deepmath.backend._native_import import kernels
    if kernels is None:
        pytest.skip("deepmath._kernels not built")
    x = np.ones((4, 3), np.float32)
    w1, w2 = np.ones((3, 5), np.float32), np.ones((5, 2), np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    loss, logits, grads = kernels.dense_chain_step(x, [w1, w2], [None, np.zeros(2, np.float32)],
                                                   [1, 0], y)
    assert loss.shape == (4,) and logits.shape == (4, 2)
    assert [g.shape for g in grads] == [(3, 5), (5, 2), (2,)]
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(4, 2\)"):
        kernels.dense_chain_step(x, [w1, np.ones((4, 2), np.float32)], [None, None], [1, 0], y)
    with pytest.raises(ValueError, match="the last one 0"):
        kernels.dense_chain_step(x, [w1, w2], [None, None], [1, 2], y)
    with pytest.raises(ValueError, match="y has shape"):
        kernels.dense_chain_step(x, [w1, w2], [None, None], [1, 0], y[:, :1])
    with pytest.raises(ValueError, match="biases"):
        kernels.dense_chain_step(x, [w1, w2], [np.zeros(4, np.float32), None], [1, 0], y)
    with pytest.raises(ValueError, match="activation code 7"):
        kernels.dense_chain_step(x, [w1, w2], [None, None], [7, 0], y)
    with pytest.raises(TypeError, match="float32"):
        kernels.dense_chain_step(x.astype(np.float64), [w1, w2], [None, None], [1, 0], y)
    with pytest.raises(ValueError, match="empty"):
        kernels.dense_chain_step(x[:0], [w1, w2], [None, None], [1, 0], y[:0])
