"""compile / fit / evaluate / predict / *_on_batch on small problems with known answers."""
import numpy as np
import pytest

import deepmath as dm
from deepmath import callbacks, optimizers
from deepmath.layers import Dense, Input
from deepmath.models import Model, Sequential
from deepmath.utils import set_random_seed


def regression_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    y = (3 * x[:, :1] - 2 * x[:, 1:] + 0.5).astype(np.float32)
    return x, y


def classification_data(n=300, seed=0):
    """Three Gaussian blobs in the plane, integer labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[2, 0], [-2, 0], [0, 2.5]], np.float32)
    labels = rng.integers(0, 3, n)
    x = centers[labels] + rng.normal(0, 0.5, (n, 2)).astype(np.float32)
    return x.astype(np.float32), labels


def linear_model(seed=0):
    dm.manual_seed(seed)
    return Sequential([Input(shape=(2,)), Dense(1)])


def classifier(seed=0, activation="softmax"):
    dm.manual_seed(seed)
    return Sequential([Input(shape=(2,)), Dense(16, activation="relu"),
                       Dense(3, activation=activation)])


def test_fit_learns_a_linear_function():
    x, y = regression_data()
    model = linear_model()
    model.compile(loss="mse", optimizer=optimizers.SGD(learning_rate=0.1))
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 30 and losses[-1] < 1e-3 < losses[0]
    w, b = model.get_weights()
    np.testing.assert_allclose(w.ravel(), [3, -2], atol=0.05)
    np.testing.assert_allclose(b, [0.5], atol=0.05)
    assert history.epoch == list(range(30))
    assert model.history is history


def test_one_sgd_step_matches_hand_computation():
    """Full-batch SGD on MSE: w ← w - lr·(2/N)·xᵀ(xw + b - y), as the book derives."""
    x, y = regression_data(32)
    model = linear_model()
    w0, b0 = [a.astype(np.float64) for a in model.get_weights()]
    model.compile(loss="mse", optimizer=optimizers.SGD(learning_rate=0.05))
    loss_before = model.train_on_batch(x, y)
    residual = x @ w0 + b0 - y
    np.testing.assert_allclose(loss_before, np.mean(residual ** 2), rtol=1e-5)
    w1, b1 = model.get_weights()
    np.testing.assert_allclose(w1, w0 - 0.05 * 2 / 32 * x.T @ residual, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b1, b0 - 0.05 * 2 / 32 * residual.sum(0), rtol=1e-5, atol=1e-7)


def test_history_is_the_size_weighted_mean_of_batch_losses():
    x, y = regression_data(40)
    model = linear_model()
    model.compile(loss="mse", optimizer=optimizers.SGD(learning_rate=0.0))
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    expected = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(expected, np.mean((pred - y) ** 2), rtol=1e-5)


def test_classifier_reaches_high_accuracy_and_logs_metrics():
    x, labels = classification_data()
    y = np.eye(3, dtype=np.float32)[labels]
    model = classifier()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=40, batch_size=32, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["accuracy"][-1] > 0.95
    assert history.history["val_accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, y, verbose=0)
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(1) == labels), rtol=1e-6)
    expected_loss = -np.mean(np.log(np.clip(probs[np.arange(len(y)), labels], 1e-7, 1)))
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-4)


def test_sparse_labels_and_validation_data():
    x, labels = classification_data()
    model = classifier()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    history = model.fit(x, labels, epochs=20, batch_size=32, verbose=0,
                        validation_data=(x[:50], labels[:50]))
    assert history.history["val_accuracy"][-1] > 0.9


def test_fused_softmax_path_gives_the_unfused_gradients():
    """The fused logits path (softmax + cross-entropy in one kernel) changes no number beyond
    rounding: compare one step with a model ending in a separate softmax op."""
    x, labels = classification_data(64)
    y = np.eye(3, dtype=np.float32)[labels]
    fused = classifier(seed=3)
    plain = classifier(seed=3)
    plain.layers[-1].activation = lambda t: dm.softmax(t)   # not recognised: no fusion
    plain.layers[-1]._fused = False
    plain.layers[-1]._head_activation = lambda: None
    for model in (fused, plain):
        model.compile(loss="categorical_crossentropy", optimizer=optimizers.SGD(0.5))
    assert fused._fused_loss is not None and plain._fused_loss is None
    loss_fused = fused.train_on_batch(x, y)
    loss_plain = plain.train_on_batch(x, y)
    np.testing.assert_allclose(loss_fused, loss_plain, rtol=1e-5)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_binary_classification_with_sigmoid():
    x, labels = classification_data()
    yb = (labels == 0).astype(np.float32)[:, None]
    dm.manual_seed(0)
    model = Sequential([Input(shape=(2,)), Dense(8, activation="tanh"),
                        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=optimizers.Adam(0.01),
                  metrics=["accuracy"])
    history = model.fit(x, yb, epochs=40, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert 0 <= model.predict(x, verbose=0).min() and model.predict(x, verbose=0).max() <= 1


def test_train_on_batch_returns_loss_before_update():
    x, y = regression_data(16)
    model = linear_model()
    model.compile(loss="mse", optimizer="sgd")
    before = model.evaluate(x, y, verbose=0)
    first = model.train_on_batch(x, y)
    np.testing.assert_allclose(first, before, rtol=1e-6)
    second = model.test_on_batch(x, y)
    assert second < first
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0))


def test_fit_on_a_generator_with_steps_per_epoch():
    x, y = regression_data(64)

    def batches():
        while True:
            for i in range(0, 64, 16):
                yield x[i:i + 16], y[i:i + 16]

    model = linear_model()
    model.compile(loss="mse", optimizer=optimizers.SGD(0.1))
    history = model.fit(batches(), steps_per_epoch=4, epochs=20, verbose=0)
    assert len(history.history["loss"]) == 20 and history.history["loss"][-1] < 0.01


def test_class_weight_and_sample_weight():
    x, y = regression_data(32)
    a, b = linear_model(1), linear_model(1)
    for m in (a, b):
        m.compile(loss="mse", optimizer=optimizers.SGD(0.1))
    weights = np.where(np.arange(32) < 16, 2.0, 0.0).astype(np.float32)
    a.train_on_batch(x, y, sample_weight=weights)
    b.train_on_batch(x[:16], y[:16])
    # sum(w·l)/N with w = 2 on the first half equals the plain mean over that half
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)


def test_callbacks_early_stopping_and_terminate_on_nan():
    x, y = regression_data(64)
    model = linear_model()
    model.compile(loss="mse", optimizer=optimizers.SGD(0.0))    # loss never improves
    history = model.fit(x, y, epochs=50, verbose=0, shuffle=False, callbacks=[
        callbacks.EarlyStopping(monitor="loss", patience=2)])
    assert len(history.history["loss"]) == 3
    bad = y.copy()
    bad[5] = np.nan
    model.compile(loss="mse", optimizer=optimizers.SGD(0.1))
    history = model.fit(x, bad, epochs=5, batch_size=8, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and model.stop_training


def test_verbose_progress_output(capsys):
    x, y = regression_data(64)
    model = linear_model()
    model.compile(loss="mse", optimizer="sgd")
    model.fit(x, y, epochs=2, batch_size=32, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_errors_are_clear():
    x, labels = classification_data(32)
    model = classifier()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, labels, verbose=0)
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy|to_categorical"):
        model.fit(x, labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expected shape \(None, 2\)"):
        model.predict(np.zeros((4, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match="samples"):
        model.fit(x, np.eye(3)[labels][:10], verbose=0)
    with pytest.raises(ValueError):
        model.compile(loss="no_such_loss", optimizer="adam")
    with pytest.raises(ValueError):
        model.compile(loss="mse", optimizer="no_such_optimizer")
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, np.eye(3)[labels], validation_split=1.5, verbose=0)


def test_functional_model_trains():
    x, y = regression_data()
    inp = Input(shape=(2,))
    out = Dense(1)(Dense(8, activation="tanh")(inp))
    model = Model(inp, out)
    model.compile(loss="mae", optimizer=optimizers.Adam(0.01))
    history = model.fit(x, y, epochs=30, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 4


def test_frozen_layer_is_not_updated():
    x, y = regression_data(32)
    model = Sequential([Input(shape=(2,)), Dense(4, activation="tanh"), Dense(1)])
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_random_seed_makes_a_shuffled_fit_reproducible():
    x, labels = classification_data()

    def run():
        set_random_seed(7)
        model = Sequential([Input(shape=(2,)), Dense(8, activation="relu"),
                            Dense(3, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(x, labels, batch_size=16, epochs=2, shuffle=True, verbose=0)
        return model.get_weights()

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


class IndexedIterator:
    """A Sequence that is also an iterator (as `flow_from_directory`'s): batches by index."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def __next__(self):
        raise AssertionError("fit must read a Sequence by index")

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_sequence_that_is_also_an_iterator_is_read_by_index():
    x, y = regression_data(n=64)
    model = linear_model()
    model.compile(loss="mse", optimizer="sgd")
    data = IndexedIterator(x, y, batch_size=16)
    history = model.fit(data, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert data.epochs_ended == 3


def test_predict_on_a_generator_of_bare_arrays():
    x, _ = regression_data(n=40)
    model = linear_model()
    expected = model.predict(x, verbose=0)
    batches = (x[i:i + 16] for i in range(0, 40, 16))
    np.testing.assert_allclose(model.predict(batches, verbose=0), expected, rtol=1e-6)
