"""Keras metrics (`deepmath.metrics`): values against NumPy on random data (ties included) and
against real Keras, weighted running means over batches, reset, and `get` (the 'accuracy'
resolution of Keras 3 and the names Keras writes in `history.history`)."""
import numpy as np
import pytest

import deepmath as dm
from deepmath import losses, metrics

rng = np.random.default_rng(5)


def batches(n, size):
    return [slice(i, i + size) for i in range(0, n, size)]


def accumulate(metric, y, p, w=None, size=7):
    """Feed the data in batches of `size`; the result must equal one update on everything."""
    metric.reset_state()
    for s in batches(len(y), size):
        metric.update_state(y[s], p[s], sample_weight=None if w is None else w[s])
    by_batches = metric.result()
    metric.reset_state()
    metric.update_state(y, p, sample_weight=w)
    assert isinstance(by_batches, float)
    assert by_batches == pytest.approx(metric.result(), rel=1e-12, abs=1e-15)
    return by_batches


def tied_scores(n, c):
    """Scores on a coarse grid, so that rows hold ties (equal maxima) often."""
    return rng.integers(0, 4, (n, c)) / 4.0


def weighted_mean(values, w):
    return (values * w).sum() / w.sum()


# ---- accuracies ---------------------------------------------------------------------------
def test_categorical_and_sparse_accuracy_with_ties():
    p, labels, w = tied_scores(50, 4), rng.integers(0, 4, 50), rng.uniform(0, 2, 50)
    assert (np.sort(p, 1)[:, -1] == np.sort(p, 1)[:, -2]).sum() > 5  # the data has tied maxima
    hits = (np.argmax(p, 1) == labels).astype(float)  # the first maximum wins, as tf.argmax
    for w_ in (None, w):
        expected = hits.mean() if w_ is None else weighted_mean(hits, w_)
        assert accumulate(metrics.CategoricalAccuracy(), np.eye(4)[labels], p, w_) == \
            pytest.approx(expected)
        assert accumulate(metrics.SparseCategoricalAccuracy(), labels, p, w_) == \
            pytest.approx(expected)
        assert accumulate(metrics.SparseCategoricalAccuracy(), labels[:, None], p, w_) == \
            pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_counts_ties_in(k):
    p, labels = tied_scores(60, 5), rng.integers(0, 5, 60)
    above = (p > p[np.arange(60), labels][:, None]).sum(1)
    expected = (above < k).mean()
    assert accumulate(metrics.SparseTopKCategoricalAccuracy(k=k), labels, p) == \
        pytest.approx(expected)
    assert accumulate(metrics.TopKCategoricalAccuracy(k=k), np.eye(5)[labels], p) == \
        pytest.approx(expected)


def test_keras_reference_numbers():
    # Printed by Keras 3.15.1 (TensorFlow backend) on these inputs.
    ties = np.array([[0.2, 0.2, 0.2, 0.4], [0.1, 0.3, 0.3, 0.3], [0.5, 0.1, 0.2, 0.2],
                     [0.25, 0.25, 0.25, 0.25]])
    labels = np.array([0, 0, 3, 2])
    for k, expected in ((1, 0.25), (2, 0.75)):
        assert metrics.SparseTopKCategoricalAccuracy(k=k)(labels, ties) == expected
        assert metrics.TopKCategoricalAccuracy(k=k)(np.eye(4)[labels], ties) == expected
    assert metrics.SparseCategoricalAccuracy()(labels, ties) == 0.0
    yt = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    yp = np.array([0.7, 0.2, 0.5, 0.9, 0.6, 0.1, 0.51, 0.0], "float32")
    sw = np.array([1, 2, 1, 0.5, 1, 3, 1, 1], "float32")
    for cls, plain, weighted in ((metrics.Precision, 0.5, 0.4285714328289032),
                                 (metrics.Recall, 0.5, 0.27272728085517883),
                                 (metrics.BinaryAccuracy, 0.5, 0.4285714328289032)):
        assert cls()(yt, yp) == pytest.approx(plain)
        assert cls()(yt, yp, sample_weight=sw) == pytest.approx(weighted, rel=1e-6)
    assert metrics.Precision(thresholds=0.3)(yt, yp) == pytest.approx(0.6)
    assert metrics.BinaryAccuracy(threshold=0.6)(yt, yp) == 0.75
    yr = np.array([[1., 2.], [3., -1.], [0., 0.5], [2., 2.]], "float32")
    pr = np.array([[1.5, 1.], [2., -0.2], [-0.1, 3.], [2., 4.]], "float32")
    w = np.array([1., 2., 0.5, 0.], "float32")
    assert metrics.RootMeanSquaredError()(yr, pr, sample_weight=w) == \
        pytest.approx(1.0460811853408813, rel=1e-6)
    assert metrics.MeanSquaredError()(yr, pr, sample_weight=w) == \
        pytest.approx(1.0942857265472412, rel=1e-6)
    assert metrics.MeanAbsoluteError()(yr, pr) == pytest.approx(0.9874999523162842, rel=1e-6)
    assert metrics.Accuracy()([[1], [2], [3], [4]], [[0], [2], [3], [4]]) == 0.75
    assert metrics.Mean()([1, 3, 5, 7], sample_weight=[1, 1, 0, 0]) == 2.0
    # multi-label precision / recall with top_k and class_id
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], "float32")
    p = np.array([[0.9, 0.8, 0.3], [0.6, 0.7, 0.1], [0.2, 0.4, 0.35], [0.5, 0.55, 0.6]])
    w4 = np.array([1., 2., 0.5, 3.])
    assert metrics.Precision(top_k=2)(y, p) == 0.5
    assert metrics.Recall(top_k=1)(y, p, sample_weight=w4) == pytest.approx(0.8125)
    assert metrics.Recall(class_id=1)(y, p, sample_weight=w4) == pytest.approx(0.8)
    assert metrics.Precision(class_id=2)(y, p) == 1.0


def test_temporal_weights_match_keras():
    # keras.metrics.CategoricalAccuracy / MeanSquaredError on (2, 4, 3) data: 0.15746858…
    # with (2, 4) weights, 1.7092094… with per-sample weights [1, 3].
    labels = np.array([[1, 1, 2, 2], [0, 0, 2, 2]])
    z = np.array([[[0.905, 0.446, -0.537], [0.581, 0.365, 0.294], [0.028, 0.547, -0.736],
                   [-0.163, -0.482, 0.599]],
                  [[0.04, -0.292, -0.782], [-0.257, 0.008, -0.276], [1.294, 1.007, -2.711],
                   [-1.889, -0.175, -0.422]]], "float32")
    w = np.array([[0.161, 0.97, 0.516, 0.116], [0.623, 0.777, 0.613, 0.917]], "float32")
    y = np.eye(3, dtype="float32")[labels]
    assert metrics.CategoricalAccuracy()(y, z, sample_weight=w) == \
        pytest.approx(0.15746858716011047, rel=1e-6)
    assert metrics.MeanSquaredError()(y, z, sample_weight=np.array([1., 3.])) == \
        pytest.approx(1.7092094421386719, rel=1e-6)


def test_binary_accuracy_and_accuracy():
    p, y = rng.uniform(size=(40, 1)), rng.integers(0, 2, 40)
    w = rng.uniform(0, 1, 40)
    hits = ((p[:, 0] > 0.5) == y).astype(float)
    assert accumulate(metrics.BinaryAccuracy(), y, p) == pytest.approx(hits.mean())
    assert accumulate(metrics.BinaryAccuracy(), y[:, None], p, w) == \
        pytest.approx(weighted_mean(hits, w))
    p[:5, 0] = 0.5  # exactly at the threshold: not positive (y_pred > threshold)
    assert metrics.BinaryAccuracy()(np.zeros(5), p[:5]) == 1.0
    a, b = rng.integers(0, 3, (30, 2)), rng.integers(0, 3, (30, 2))
    assert accumulate(metrics.Accuracy(), a, b) == pytest.approx((a == b).mean())


# ---- regression and cross-entropy metrics ------------------------------------------------
def test_regression_metrics_against_numpy():
    y, p, w = rng.normal(size=(45, 3)), rng.normal(size=(45, 3)), rng.uniform(0, 2, 45)
    se, ae = ((p - y) ** 2).mean(1), np.abs(p - y).mean(1)
    assert accumulate(metrics.MeanSquaredError(), y, p, w) == pytest.approx(weighted_mean(se, w))
    assert accumulate(metrics.MeanAbsoluteError(), y, p) == pytest.approx(ae.mean())
    assert accumulate(metrics.RootMeanSquaredError(), y, p, w) == \
        pytest.approx(np.sqrt(weighted_mean(se, w)))
    assert accumulate(metrics.MeanAbsolutePercentageError(), y, p) == \
        pytest.approx((100 * np.abs(p - y) / np.abs(y)).mean(1).mean())
    yp, pp = np.abs(y), np.abs(p)
    assert accumulate(metrics.MeanSquaredLogarithmicError(), yp, pp) == \
        pytest.approx(((np.log1p(pp) - np.log1p(yp)) ** 2).mean())


def test_crossentropy_metrics_equal_the_losses():
    labels, z = rng.integers(0, 4, 30), rng.normal(size=(30, 4))
    q = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    expected = -np.log(q[np.arange(30), labels]).mean()
    assert accumulate(metrics.SparseCategoricalCrossentropy(), labels, q) == \
        pytest.approx(expected)
    assert accumulate(metrics.CategoricalCrossentropy(from_logits=True), np.eye(4)[labels],
                      z) == pytest.approx(expected)
    t, b = rng.integers(0, 2, (30, 1)), rng.uniform(0.05, 0.95, (30, 1))
    assert accumulate(metrics.BinaryCrossentropy(), t, b) == pytest.approx(
        losses.BinaryCrossentropy()(t, b).item())


def test_precision_recall_against_numpy():
    y, p, w = rng.integers(0, 2, (40, 3)), tied_scores(40, 3), rng.uniform(0, 2, 40)
    pred, true = p > 0.5, y.astype(bool)
    ww = np.broadcast_to(w[:, None], y.shape)
    tp, fp, fn = ((ww * (pred & true)).sum(), (ww * (pred & ~true)).sum(),
                  (ww * (~pred & true)).sum())
    assert accumulate(metrics.Precision(), y, p, w) == pytest.approx(tp / (tp + fp))
    assert accumulate(metrics.Recall(), y, p, w) == pytest.approx(tp / (tp + fn))
    assert metrics.Precision()(np.ones(3), np.zeros(3)) == 0.0  # nothing predicted: 0, as Keras
    assert metrics.Recall()(np.zeros(3), np.zeros(3)) == 0.0


def test_reset_state_and_tensor_predictions():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(np.array([0, 1]), dm.tensor(np.array([[0.9, 0.1], [0.8, 0.2]])))
    assert m.result() == 0.5
    m.reset_state()
    assert m.result() == 0.0
    m.update_state(np.array([1]), np.array([[0.1, 0.9]]))
    assert m.result() == 1.0
    r = metrics.Recall()
    r.update_state([1, 1], [0.9, 0.1])
    r.reset_state()
    assert r.result() == 0.0


def test_metric_errors():
    with pytest.raises(ValueError, match="out of range"):
        metrics.SparseTopKCategoricalAccuracy(k=2)(np.array([0, 4]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        metrics.Mean()(np.ones(4), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        metrics.Precision()(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="one threshold"):
        metrics.Precision(thresholds=[0.3, 0.6])


# ---- get: 'accuracy' and the names of history.history --------------------------------------
# Keras 3.15.1: keras.src.trainers.compile_utils.get_metric('accuracy', y_true, y_pred)
ACCURACY_CASES = [
    ((4,), (4, 3), metrics.SparseCategoricalAccuracy),
    ((4, 1), (4, 3), metrics.SparseCategoricalAccuracy),
    ((4, 3), (4, 3), metrics.CategoricalAccuracy),
    ((4, 1), (4, 1), metrics.BinaryAccuracy),
    ((4,), (4, 1), metrics.BinaryAccuracy),
    ((4, 5), (4, 5), metrics.CategoricalAccuracy),  # multi-label sigmoid: categorical in Keras 3
    ((4, 6), (4, 6, 3), metrics.SparseCategoricalAccuracy),
    ((4,), (4,), metrics.CategoricalAccuracy),
]


@pytest.mark.parametrize("true_shape, pred_shape, cls", ACCURACY_CASES)
@pytest.mark.parametrize("name", ["accuracy", "acc", "Accuracy"])
def test_accuracy_resolution_like_keras3(true_shape, pred_shape, cls, name):
    m = metrics.get(name, loss="mse", y_true=np.zeros(true_shape), y_pred=np.zeros(pred_shape))
    assert type(m) is cls and m.name == name


@pytest.mark.parametrize("loss, cls", [
    ("binary_crossentropy", metrics.BinaryAccuracy),
    (losses.BinaryCrossentropy(from_logits=True), metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalAccuracy),
])
def test_accuracy_from_the_loss_without_data(loss, cls):
    assert type(metrics.get("accuracy", loss=loss)) is cls
    with pytest.raises(ValueError, match="y_true and y_pred"):
        metrics.get("accuracy")


def myMetric(y_true, y_pred):
    return np.mean(y_pred, axis=-1)


# history.history keys of a Keras 3.15.1 model compiled with these metrics
NAMES = [
    ("mae", metrics.MeanAbsoluteError, "mae"), ("mse", metrics.MeanSquaredError, "mse"),
    ("mean_absolute_error", metrics.MeanAbsoluteError, "mean_absolute_error"),
    ("MeanAbsoluteError", metrics.MeanAbsoluteError, "MeanAbsoluteError"),
    ("RootMeanSquaredError", metrics.RootMeanSquaredError, "RootMeanSquaredError"),
    ("msle", metrics.MeanSquaredLogarithmicError, "msle"),
    ("mape", metrics.MeanAbsolutePercentageError, "mape"),
    ("categorical_accuracy", metrics.CategoricalAccuracy, "categorical_accuracy"),
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy,
     "top_k_categorical_accuracy"),
    ("binary_crossentropy", metrics.BinaryCrossentropy, "binary_crossentropy"),
    ("categorical_crossentropy", metrics.CategoricalCrossentropy, "categorical_crossentropy"),
    ("Precision", metrics.Precision, "Precision"),
    (metrics.Recall, metrics.Recall, "recall"),
    (metrics.Precision(), metrics.Precision, "precision"),
    (losses.mean_squared_error, metrics.MeanMetricWrapper, "mean_squared_error"),
    (myMetric, metrics.MeanMetricWrapper, "my_metric"),
]


@pytest.mark.parametrize("identifier, cls, name", NAMES)
def test_get_names_like_keras_history(identifier, cls, name):
    y, p = np.eye(3)[[0, 1, 2, 1]], np.full((4, 3), 0.3)
    m = metrics.get(identifier, loss="categorical_crossentropy", y_true=y, y_pred=p)
    assert type(m) is cls and m.name == name
    m.update_state(y, p)
    assert isinstance(m.result(), float)


def test_callable_metric_is_a_weighted_mean():
    y, p, w = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), rng.uniform(0, 1, 20)
    m = metrics.get(myMetric)
    assert accumulate(m, y, p, w) == pytest.approx(weighted_mean(p.mean(1), w))
    m = metrics.get(losses.mean_absolute_error)  # a loss function as a metric (Tensor values)
    assert accumulate(m, y, p) == pytest.approx(np.abs(p - y).mean())


def test_get_instances_configs_and_errors():
    m = metrics.BinaryAccuracy(threshold=0.7)
    assert metrics.get(m) is m
    config = metrics.serialize(m)
    assert config["class_name"] == "BinaryAccuracy"
    again = metrics.get(config)
    assert type(again) is metrics.BinaryAccuracy and again.get_config() == m.get_config()
    assert metrics.serialize("accuracy") == "accuracy"
    with pytest.raises(ValueError, match="unknown metric 'rmse'.*root_mean_squared_error"):
        metrics.get("rmse")
    with pytest.raises(ValueError, match="None"):
        metrics.get(None)
    with pytest.raises(TypeError):
        metrics.get(3)
