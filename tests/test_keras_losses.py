"""Keras loss objects (`deepmath.losses`): values against real Keras and NumPy formulas,
reductions and sample weights, gradients against finite differences, the logits fusion hook,
lookup by name/config/callable, and clear errors for labels that do not fit the loss."""
import numpy as np
import pytest

import deepmath as dm
from deepmath import losses
from gradcheck import numeric_grad

rng = np.random.default_rng(11)

# Fixed inputs of the Keras reference numbers below.
YC = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], "float32")
PC = np.array([[0.1, 0.8, 0.1], [0.0, 0.3, 0.7], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]], "float32")
ZC = np.array([[1., 2., -1.], [0.5, -2., 3.], [0., 0., 0.], [4., -3., 1.]], "float32")
YB = np.array([[1], [0], [1], [0]], "float32")
PB = np.array([[0.9], [0.0], [1.0], [0.3]], "float32")
ZB = np.array([[2.], [-1.], [0.5], [-3.]], "float32")
W = np.array([1., 2., 0.5, 0.], "float32")
YR = np.array([[1., 2.], [3., -1.], [0., 0.5], [2., 2.]], "float32")
PR = np.array([[1.5, 1.], [2., -0.2], [-0.1, 3.], [2., 4.]], "float32")
LABELS = np.array([1, 0, 2, 1])

# Values printed by Keras 3.15.1 (TensorFlow 2.21 backend, float32) on the inputs above, e.g.
# keras.losses.CategoricalCrossentropy()(YC, PC). Zeros and ones in PC/PB exercise Keras'
# clipping of probabilities to [1e-7, 1 - 1e-7].
KERAS = [
    (losses.CategoricalCrossentropy(), YC, PC, None, 8.24254035949707),
    (losses.CategoricalCrossentropy(), YC, PC, W, 8.17868709564209),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), YC, PC, None, 7.9055609703063965),
    (losses.CategoricalCrossentropy(from_logits=True), YC, ZC, None, 2.7705442905426025),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), YC, ZC, None,
     2.6538777351379395),
    (losses.SparseCategoricalCrossentropy(), LABELS[:, None], PC, None, 8.24254035949707),
    (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, ZC, W, 1.5171282291412354),
    (losses.BinaryCrossentropy(), YB, PB, None, 0.11550893634557724),
    (losses.BinaryCrossentropy(label_smoothing=0.2), YB, PB, None, 0.9931339025497437),
    (losses.BinaryCrossentropy(from_logits=True), YB, ZB, W, 0.24762246012687683),
    (losses.MeanSquaredError(), YR, PR, None, 1.6437500715255737),
    (losses.MeanSquaredError(reduction="sum"), YR, PR, None, 6.575000286102295),
    (losses.MeanSquaredError(), YR, PR, W, 0.9575000405311584),
    (losses.MeanSquaredError(reduction="mean_with_sample_weight"), YR, PR, W,
     1.0942857265472412),
    (losses.MeanAbsoluteError(), YR, PR, None, 0.9874999523162842),
    (losses.MeanSquaredLogarithmicError(), YR, PR, None, 0.1899905949831009),
    (losses.MeanAbsolutePercentageError(), YR, PR, None, 12500102.0),
    (losses.Huber(), YR, PR, None, 0.6187500357627869),
    (losses.Huber(delta=0.5), YR, PR, None, 0.3943749964237213),
]


@pytest.mark.parametrize("loss, y, p, w, expected", KERAS,
                         ids=[f"{case[0].name}-{i}" for i, case in enumerate(KERAS)])
def test_values_match_keras(loss, y, p, w, expected):
    out = loss(y, p, sample_weight=w)
    assert isinstance(out, dm.Tensor) and out.shape == () and out.dtype == np.float32
    assert out.item() == pytest.approx(expected, rel=2e-6)


def test_unreduced_and_functions_match_keras():
    # keras.losses.BinaryCrossentropy(reduction=None)(YB, PB): -ln(1 - 1e-7) in float32 for
    # the clipped 0 and 1; keras.losses.mean_squared_error(YR, PR) per sample.
    np.testing.assert_allclose(
        losses.BinaryCrossentropy(reduction=None)(YB, PB).data,
        [0.10536054521799088, 1.1920928955078125e-07, 1.1920928955078125e-07,
         0.3566749691963196], rtol=1e-6)
    np.testing.assert_allclose(losses.mean_squared_error(YR, PR).data,
                               [0.625, 0.8200000524520874, 3.130000114440918, 2.0], rtol=1e-6)


def probs(n, c):
    e = np.exp(rng.normal(size=(n, c)))
    return e / e.sum(-1, keepdims=True)


def test_functions_are_per_sample_numpy_formulas():
    y, p = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    np.testing.assert_allclose(losses.mse(y, p).data, ((p - y) ** 2).mean(-1))
    np.testing.assert_allclose(losses.mae(y, p).data, np.abs(p - y).mean(-1))
    yp, pp = np.abs(y), np.abs(p)
    np.testing.assert_allclose(losses.msle(yp, pp).data,
                               ((np.log1p(pp) - np.log1p(yp)) ** 2).mean(-1))
    np.testing.assert_allclose(losses.mape(y, p).data,
                               100 * (np.abs(y - p) / np.abs(y)).mean(-1))
    e = np.abs(p - y)
    np.testing.assert_allclose(losses.huber(y, p, delta=0.7).data,
                               np.where(e <= 0.7, 0.5 * e ** 2, 0.7 * e - 0.5 * 0.49).mean(-1))
    labels = rng.integers(0, 4, 7)
    q = probs(7, 4)
    np.testing.assert_allclose(losses.categorical_crossentropy(np.eye(4)[labels], q).data,
                               -np.log(q[np.arange(7), labels]))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, q).data,
                               -np.log(q[np.arange(7), labels]))
    t, b = rng.integers(0, 2, (7, 2)), rng.uniform(0.05, 0.95, (7, 2))
    np.testing.assert_allclose(losses.binary_crossentropy(t, b).data,
                               -(t * np.log(b) + (1 - t) * np.log(1 - b)).mean(-1))


def test_label_smoothing_formulas():
    labels, q = rng.integers(0, 5, 6), probs(6, 5)
    smooth = np.eye(5)[labels] * 0.8 + 0.2 / 5
    np.testing.assert_allclose(
        losses.CategoricalCrossentropy(label_smoothing=0.2, reduction="none")(
            np.eye(5)[labels], q).data, -(smooth * np.log(q)).sum(-1))
    t, b = rng.integers(0, 2, (6, 1)), rng.uniform(0.05, 0.95, (6, 1))
    s = t * 0.7 + 0.15
    np.testing.assert_allclose(losses.BinaryCrossentropy(label_smoothing=0.3)(t, b).item(),
                               np.mean(-(s * np.log(b) + (1 - s) * np.log(1 - b))))


def test_targets_take_the_predictions_dtype_and_rank():
    p = rng.uniform(0.1, 0.9, (5, 1)).astype(np.float32)
    y = rng.integers(0, 2, 5)  # (N,) int labels against (N, 1) predictions
    out = losses.BinaryCrossentropy()(y, p)
    assert out.dtype == np.float32
    assert out.item() == pytest.approx(losses.BinaryCrossentropy()(y[:, None], p).item())
    # (N, 1) targets against (N,) predictions
    r = rng.normal(size=5)
    assert losses.mse(r[:, None], p[:, 0]).shape == (5,)
    assert losses.MeanSquaredError()(r[:, None], p[:, 0]).item() == pytest.approx(
        np.mean((p[:, 0] - r) ** 2), rel=1e-6)


# ---- reductions and sample weights ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(6,), (6, 1)])
def test_sample_weight_is_sum_of_weighted_losses_over_batch_size(shape):
    y, p = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    w = rng.uniform(0, 2, 6)
    per = ((p - y) ** 2).mean(-1)
    loss = losses.MeanSquaredError()
    assert loss(y, p, sample_weight=w.reshape(shape)).item() == pytest.approx(
        (w * per).sum() / 6)
    assert losses.MeanSquaredError(reduction="sum")(y, p, w).item() == \
        pytest.approx((w * per).sum())
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(y, p, w).data, w * per)
    assert losses.MeanSquaredError(reduction="mean_with_sample_weight")(y, p, w).item() == \
        pytest.approx((w * per).sum() / w.sum())
    assert loss(y, p, sample_weight=2.0).item() == pytest.approx(2 * per.mean())
    assert loss(y, p, sample_weight=np.ones(6)).item() == pytest.approx(loss(y, p).item())


def test_fused_losses_take_sample_weights():
    labels, z, w = rng.integers(0, 4, 8), rng.normal(size=(8, 4)), rng.uniform(0, 1, 8)
    per = np.log(np.exp(z).sum(-1)) - z[np.arange(8), labels]
    sparse = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert sparse(labels, z, w).item() == pytest.approx((w * per).sum() / 8)
    dense = losses.CategoricalCrossentropy(from_logits=True)
    assert dense(np.eye(4)[labels], z, w).item() == pytest.approx((w * per).sum() / 8)


def test_temporal_losses_and_weights_match_keras():
    # keras.losses.CategoricalCrossentropy(from_logits=True)(y, z, sample_weight=w) with the
    # (2, 4, 3) logits and (2, 4) weights below: 0.9250569343566895; unweighted 1.5242177…
    labels = np.array([[1, 1, 2, 2], [0, 0, 2, 2]])
    z = np.array([[[0.905, 0.446, -0.537], [0.581, 0.365, 0.294], [0.028, 0.547, -0.736],
                   [-0.163, -0.482, 0.599]],
                  [[0.04, -0.292, -0.782], [-0.257, 0.008, -0.276], [1.294, 1.007, -2.711],
                   [-1.889, -0.175, -0.422]]], "float32")
    w = np.array([[0.161, 0.97, 0.516, 0.116], [0.623, 0.777, 0.613, 0.917]], "float32")
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert loss(np.eye(3)[labels], z, w).item() == pytest.approx(0.9250569343566895, rel=1e-6)
    assert loss(np.eye(3)[labels], z).item() == pytest.approx(1.5242177248001099, rel=1e-6)
    # per-sample weights (N,) spread over the time steps
    per = losses.categorical_crossentropy(np.eye(3)[labels], z, from_logits=True).data
    assert loss(np.eye(3)[labels], z, np.array([1.0, 3.0])).item() == pytest.approx(
        (per * [[1.0], [3.0]]).sum() / 8, rel=1e-6)


def test_bad_sample_weight_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(5,\).*\(6,\)"):
        losses.MeanSquaredError()(np.zeros((6, 2)), np.ones((6, 2)), np.ones(5))


def test_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


# ---- gradients -----------------------------------------------------------------------------
def _grad_check(loss, y, p, w=None):
    """d loss / d y_pred (float64) against central differences."""
    t = dm.tensor(p, dtype="float64", requires_grad=True)
    out = loss(y, t, sample_weight=w)
    out.backward()
    expected = numeric_grad(lambda q: loss(y, q, sample_weight=w), [p], 0, 1.0)
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-5, atol=1e-8)


def test_gradients_match_finite_differences():
    y, p = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    w = rng.uniform(0.2, 2, 5)
    _grad_check(losses.Huber(delta=0.6), y, p, w)
    _grad_check(losses.MeanAbsolutePercentageError(), y, p)
    _grad_check(losses.MeanSquaredError(reduction="sum"), y, p, w)
    labels = rng.integers(0, 3, 5)
    _grad_check(losses.CategoricalCrossentropy(label_smoothing=0.1), np.eye(3)[labels],
                probs(5, 3), w)
    _grad_check(losses.SparseCategoricalCrossentropy(from_logits=True), labels, p, w)
    _grad_check(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
                rng.integers(0, 2, (5, 3)), p, w)


# ---- the logits hook -----------------------------------------------------------------------
@pytest.mark.parametrize("loss, activation, y", [
    (losses.CategoricalCrossentropy(), "softmax", np.eye(4)[[0, 3, 1, 1, 2, 0]]),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax",
     np.eye(4)[[0, 3, 1, 1, 2, 0]]),
    ("sparse_categorical_crossentropy", "softmax", np.array([0, 3, 1, 1, 2, 0])),
    (losses.BinaryCrossentropy(), "sigmoid", rng.integers(0, 2, (6, 4))),
    ("binary_crossentropy", "sigmoid", rng.integers(0, 2, (6, 4)).astype(float)),
])
def test_logits_loss_equals_the_loss_of_the_activation(loss, activation, y):
    z = rng.normal(size=(6, 4))
    w = rng.uniform(0.5, 1.5, 6)
    fused = losses.logits_loss(loss, activation)
    loss = losses.get(loss)
    assert fused.get_config()["from_logits"] and not loss.get_config()["from_logits"]
    assert fused.name == loss.name
    act = dm.softmax if activation == "softmax" else dm.sigmoid
    for weights in (None, w):
        zt = dm.tensor(z, dtype="float64", requires_grad=True)
        ref = loss(y, act(zt), sample_weight=weights)
        ref.backward()
        zf = dm.tensor(z, dtype="float64", requires_grad=True)
        out = fused(y, zf, sample_weight=weights)
        out.backward()
        assert out.item() == pytest.approx(ref.item(), rel=1e-10)
        np.testing.assert_allclose(zf.grad.data, zt.grad.data, rtol=1e-8, atol=1e-12)


class MyCrossentropy(losses.CategoricalCrossentropy):
    pass


@pytest.mark.parametrize("loss, activation", [
    ("categorical_crossentropy", "sigmoid"), ("binary_crossentropy", "softmax"),
    ("mse", "softmax"), (losses.CategoricalCrossentropy(from_logits=True), "softmax"),
    (losses.CategoricalCrossentropy(axis=1), "softmax"), (MyCrossentropy(), "softmax"),
    (lambda y, p: dm.mean(p), "softmax"), ("categorical_crossentropy", "relu"),
])
def test_logits_loss_none_when_not_applicable(loss, activation):
    assert losses.logits_loss(loss, activation) is None


# ---- labels that do not fit the loss -------------------------------------------------------
@pytest.mark.parametrize("labels", [np.array([0, 2, 1, 2]), np.array([[0], [2], [1], [2]]),
                                    np.array([0., 2., 1., 2.])])
def test_integer_labels_with_categorical_crossentropy(labels):
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy.*to_categorical"):
        losses.CategoricalCrossentropy()(labels, probs(4, 3))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.get("categorical_crossentropy")(labels, probs(4, 3))


def test_one_hot_labels_with_sparse_categorical_crossentropy():
    with pytest.raises(ValueError, match="one-hot.*'categorical_crossentropy'.*argmax"):
        losses.SparseCategoricalCrossentropy()(np.eye(3)[[0, 2, 1, 2]], probs(4, 3))
    with pytest.raises(ValueError, match="one-hot"):
        losses.get("sparse_categorical_crossentropy")(np.eye(3)[[0, 2, 1, 2]],
                                                      dm.tensor(probs(4, 3)))


@pytest.mark.parametrize("loss, y_shape, p_shape", [
    ("categorical_crossentropy", (4, 2), (4, 3)), ("mse", (4, 2), (4, 3)),
    ("binary_crossentropy", (4, 3), (4, 1)), ("huber", (5, 3), (4, 3)),
    ("mape", (4, 2), (4, 3)), ("sparse_categorical_crossentropy", (5,), (4, 3)),
])
def test_shape_mismatch_names_both_shapes(loss, y_shape, p_shape):
    with pytest.raises(ValueError) as info:
        losses.get(loss)(np.zeros(y_shape), np.full(p_shape, 0.5))
    assert str(y_shape) in str(info.value) and str(p_shape) in str(info.value)


def test_label_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 3]), probs(2, 3))


# ---- lookup and serialization --------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [
    ("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
    ("mean_squared_error", losses.MeanSquaredError), ("MeanSquaredError", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("mean_absolute_error", losses.MeanAbsoluteError),
    ("msle", losses.MeanSquaredLogarithmicError),
    ("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError),
    ("mape", losses.MeanAbsolutePercentageError), ("huber", losses.Huber),
    ("Huber", losses.Huber), ("binary_crossentropy", losses.BinaryCrossentropy),
    ("bce", losses.BinaryCrossentropy), ("categorical_crossentropy",
                                         losses.CategoricalCrossentropy),
    ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
])
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    # Keras' compile names a function's loss after the string; a class keeps its own name
    assert loss.name == (cls().name if name == cls.__name__ else name)


def test_get_functions_classes_instances():
    assert type(losses.get(losses.mean_squared_error)) is losses.MeanSquaredError
    assert type(losses.get(losses.categorical_crossentropy)) is losses.CategoricalCrossentropy
    assert type(losses.get(losses.BinaryCrossentropy)) is losses.BinaryCrossentropy
    loss = losses.CategoricalCrossentropy(label_smoothing=0.3)
    assert losses.get(loss) is loss


def test_user_callable_loss():
    def myLoss(y_true, y_pred):
        return dm.mean(dm.abs(y_pred - y_true) ** 3, axis=-1)
    loss = losses.get(myLoss)
    assert isinstance(loss, losses.Loss) and loss.name == "my_loss"
    y, p, w = rng.normal(size=(6,)), rng.normal(size=(6, 1)), rng.uniform(0, 1, 6)
    per = np.abs(p[:, 0] - y) ** 3  # y (N,) gets p's rank, as Keras' wrapper does
    assert loss(y, p).item() == pytest.approx(per.mean())
    assert loss(y, p, sample_weight=w).item() == pytest.approx((w * per).sum() / 6)
    _grad_check(loss, y, p, w)
    # a user loss returning a scalar: weights enter through their mean (Keras)
    scalar = losses.get(lambda y_true, y_pred: dm.mean((y_pred - y_true) ** 2))
    assert scalar(y, p, sample_weight=w).item() == pytest.approx(
        np.mean((p[:, 0] - y) ** 2) * w.mean())


def test_subclassed_loss():
    class Cubic(losses.Loss):
        def call(self, y_true, y_pred):
            return dm.mean(dm.abs(y_pred - y_true) ** 3, axis=-1)
    y, p = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    loss = Cubic()
    assert loss.name == "cubic"
    assert loss(y, p).item() == pytest.approx((np.abs(p - y) ** 3).mean())
    with pytest.raises(NotImplementedError):
        losses.Loss()(y, p)


def test_unknown_names_and_bad_identifiers():
    with pytest.raises(ValueError, match="unknown loss 'mean_square_error'.*mean_squared_error"):
        losses.get("mean_square_error")
    with pytest.raises(ValueError, match="unknown loss 'Nope'"):
        losses.get({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError):
        losses.get(3)
    with pytest.raises(ValueError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class=0)
    with pytest.raises(ValueError, match="axis"):
        losses.BinaryCrossentropy(axis=0)(np.zeros((2, 3)), np.full((2, 3), 0.5))


def test_serialize_round_trip_and_keras_configs():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, name="cce")
    config = losses.serialize(loss)
    # the layout of keras.losses.serialize(keras.losses.CategoricalCrossentropy(...))
    assert config == {"module": "keras.losses", "class_name": "CategoricalCrossentropy",
                      "config": {"name": "cce", "reduction": "sum_over_batch_size",
                                 "from_logits": True, "label_smoothing": 0.1, "axis": -1},
                      "registered_name": None}
    again = losses.get(config)
    assert type(again) is losses.CategoricalCrossentropy
    assert again.get_config() == loss.get_config()
    # keras.losses.serialize(keras.losses.mean_squared_error)
    fn_config = {"module": "builtins", "class_name": "function",
                 "config": "mean_squared_error", "registered_name": "function"}
    assert losses.serialize(losses.mean_squared_error) == fn_config
    assert type(losses.get(fn_config)) is losses.MeanSquaredError
    assert losses.serialize("mse") == "mse"
    # Keras writes ignore_class in the sparse config
    sparse = losses.get({"class_name": "SparseCategoricalCrossentropy",
                         "config": {"name": "scce", "reduction": "sum_over_batch_size",
                                    "from_logits": True, "ignore_class": None}})
    assert sparse.get_config()["from_logits"] and sparse.name == "scce"
    huber = losses.get(losses.serialize(losses.Huber(delta=2.0)))
    assert huber.get_config()["delta"] == 2.0 and huber.name == "huber_loss"
