"""LayerNormalization and BatchNormalization: Keras' formulas, Keras 3 values, gradients
against central differences, the moving statistics."""
import numpy as np
import pytest

import deepmath as dm
from deepmath.layers.normalization import BatchNormalization, LayerNormalization
from deepmath.ops.normalization import batch_norm, layer_norm
from gradcheck import check_grad
from test_layers import check_layer_grads, w_of, x_of

RNG = np.random.default_rng(5)


def normalized(x, axes, eps):
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def randomize(layer):
    """Weights away from their trivial initial values (variances stay positive)."""
    layer.set_weights([RNG.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])


# ---- LayerNormalization -------------------------------------------------------------------
@pytest.mark.parametrize("axis,shape", [(-1, (3, 7)), (-1, (2, 3, 5)), ([1, 2], (2, 3, 4)),
                                        (1, (2, 4, 3)), ((-2, -1), (2, 2, 3, 4))])
def test_layer_norm_formula(axis, shape):
    layer = LayerNormalization(axis=axis, epsilon=1e-5)
    x = (RNG.standard_normal(shape) * 3 + 2).astype(np.float32)
    layer(x)
    randomize(layer)
    gamma, beta = layer.get_weights()
    axes = tuple(a % len(shape) for a in np.atleast_1d(axis))
    bshape = [n if i in axes else 1 for i, n in enumerate(shape)]
    expected = normalized(x, axes, 1e-5) * gamma.reshape(bshape) + beta.reshape(bshape)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-5, atol=1e-5)
    assert gamma.shape == tuple(shape[a] for a in axes)


def test_layer_norm_without_center_or_scale():
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    for center, scale in [(False, True), (True, False), (False, False)]:
        layer = LayerNormalization(center=center, scale=scale)
        np.testing.assert_allclose(layer(x).data, normalized(x, (1,), 1e-3), rtol=1e-5,
                                   atol=1e-6)
        assert len(layer.get_weights()) == center + scale


def test_layer_norm_keras_fixture():
    # Keras 3.15.1 (TensorFlow backend): ln = keras.layers.LayerNormalization(),
    # ln.set_weights([w_of((5,)) + 1, w_of((5,), 0.7)]), ln(x_of((2, 5)) * 3 + 1)
    expected = [-1.7855116128921509, -0.5668890476226807, 0.36550211906433105,
                0.9397139549255371, 1.146972894668579, 1.8812038898468018,
                1.2947075366973877, 0.26533031463623047, -0.9979805946350098,
                -2.2448534965515137]
    layer = LayerNormalization()
    x = x_of((2, 5)) * 3 + 1
    layer(x)
    layer.set_weights([w_of((5,)) + 1, w_of((5,), 0.7)])
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma", "beta"]
    np.testing.assert_allclose(layer(x).data.ravel(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs,shape", [(dict(), (3, 5)), (dict(axis=[1, 2]), (2, 3, 4)),
                                          (dict(axis=1), (2, 3, 4)),
                                          (dict(center=False), (2, 4)),
                                          (dict(scale=False), (2, 4))])
def test_layer_norm_gradients(kwargs, shape):
    layer = LayerNormalization(dtype="float64", **kwargs)
    x = RNG.standard_normal(shape)
    layer(x)
    randomize(layer)
    check_layer_grads(layer, x)


def test_layer_norm_op_gradients():
    x, g, b = RNG.standard_normal((4, 6)), RNG.uniform(0.5, 2, 6), RNG.standard_normal(6)
    check_grad(lambda x, g, b: layer_norm(x, g, b, epsilon=1e-5), x, g, b)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln': axis 3 is out of range"):
        LayerNormalization(axis=3, name="ln")(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="axis"):
        LayerNormalization(axis="last")
    layer = LayerNormalization(name="ln2")
    layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"'ln2' was built for inputs of shape \(\?, 4\), got "
                                         r"shape \(2, 5\)"):
        layer(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="must be known"):
        LayerNormalization()(dm.layers.Input(shape=(3, None)))


# ---- BatchNormalization -------------------------------------------------------------------
def test_batch_norm_weights_order_and_trainability():
    layer = BatchNormalization()
    layer(np.zeros((2, 5, 5, 3)))
    names = [w.name.split("/")[-1] for w in layer.weights]
    assert names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name.split("/")[-1] for w in layer.non_trainable_weights] == \
        ["moving_mean", "moving_variance"]
    assert [w.shape for w in layer.get_weights()] == [(3,)] * 4
    np.testing.assert_array_equal(np.stack(layer.get_weights()), [[1] * 3, [0] * 3, [0] * 3,
                                                                  [1] * 3])
    assert layer.count_params() == 12
    layer = BatchNormalization(center=False)
    layer(np.zeros((2, 3)))
    assert [w.name.split("/")[-1] for w in layer.weights] == \
        ["gamma", "moving_mean", "moving_variance"]


def test_batch_norm_training_and_moving_statistics():
    layer = BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = (RNG.standard_normal((8, 4, 4, 3)) * 2 + 1).astype(np.float32)
    layer(x)
    randomize(layer)
    gamma, beta, mm, mv = layer.get_weights()
    y = layer(x, training=True)
    np.testing.assert_allclose(y.data, normalized(x, (0, 1, 2), 1e-3) * gamma + beta,
                               rtol=1e-5, atol=1e-5)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(layer.moving_mean.data, mm * 0.9 + x64.mean((0, 1, 2)) * 0.1,
                               rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.data,   # the biased variance, as Keras
                               mv * 0.9 + x64.var((0, 1, 2)) * 0.1, rtol=1e-5)
    assert layer.moving_mean.grad is None and not layer.moving_mean.requires_grad
    _, _, mm, mv = layer.get_weights()
    y = layer(x, training=False)                                 # the moving statistics
    np.testing.assert_allclose(y.data, (x64 - mm) / np.sqrt(mv + 1e-3) * gamma + beta,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.moving_mean.data, mm)   # inference updates nothing


def test_batch_norm_frozen_layer_runs_in_inference_mode():
    layer = BatchNormalization()
    x = RNG.standard_normal((6, 3)).astype(np.float32) + 4
    layer(x)
    randomize(layer)
    before = layer.get_weights()
    layer.trainable = False
    np.testing.assert_array_equal(layer(x, training=True).data, layer(x).data)
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def test_batch_norm_keras_fixture():
    # Keras 3.15.1 (TensorFlow backend): bn = keras.layers.BatchNormalization(),
    # bn.set_weights([w_of((3,)) + 1, w_of((3,), 0.7), [0.1, 0.2, -0.1], [1.5, 0.5, 2.0]]),
    # x = x_of((4, 3)) * 2 + 0.5; bn(x, training=False); bn(x, training=True); moving stats
    inference = [0.7244367599487305, 2.10614013671875, 1.8317886590957642,
                 2.6252737045288086, 4.432727336883545, 2.3563427925109863,
                 2.4148950576782227, 2.7019553184509277, 0.9294215440750122,
                 0.32696306705474854, -1.1638472080230713, -0.8641260862350464]
    training = [-0.7273629903793335, 0.2850896120071411, 0.8621852993965149,
                1.718421459197998, 1.774731159210205, 1.4159305095672607,
                1.4477295875549316, 0.6665716171264648, -0.09039849042892456,
                -1.2387876510620117, -1.8085815906524658, -1.9837570190429688]
    moving_mean = [0.11152485013008118, 0.20975852012634277, -0.08892253786325455]
    moving_variance = [1.4940563440322876, 0.5072111487388611, 1.9979459047317505]
    layer = BatchNormalization()
    x = x_of((4, 3)) * 2 + 0.5
    layer(x)
    layer.set_weights([w_of((3,)) + 1, w_of((3,), 0.7), np.array([0.1, 0.2, -0.1]),
                       np.array([1.5, 0.5, 2.0])])
    np.testing.assert_allclose(layer(x, training=False).data.ravel(), inference, rtol=1e-5)
    np.testing.assert_allclose(layer(x, training=True).data.ravel(), training, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(layer.moving_mean.data, moving_mean, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.data, moving_variance, rtol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kwargs,shape", [(dict(), (5, 3)), (dict(), (3, 2, 2, 3)),
                                          (dict(axis=1), (3, 4, 2)),
                                          (dict(center=False), (4, 3)),
                                          (dict(scale=False), (4, 3))])
def test_batch_norm_gradients(training, kwargs, shape):
    layer = BatchNormalization(dtype="float64", momentum=0.5, **kwargs)
    x = RNG.standard_normal(shape) * 2
    layer(x)
    randomize(layer)
    check_layer_grads(layer, x, training=training)


def test_batch_norm_op_gradients():
    x, g, b = RNG.standard_normal((5, 3)), RNG.uniform(0.5, 2, 3), RNG.standard_normal(3)
    check_grad(lambda x, g, b: batch_norm(x, gamma=g, beta=b, training=True), x, g, b)
    mean, var = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
    check_grad(lambda x, g, b: batch_norm(x, mean, var, g, b), x, g, b)


def test_batch_norm_errors():
    with pytest.raises(TypeError, match="axis"):
        BatchNormalization(axis=[1, 2])
    assert BatchNormalization(axis=[3]).axis == 3              # Keras 2 configs' form
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        BatchNormalization(axis=-3)(np.zeros((2, 3)))
    layer = BatchNormalization(name="bn")
    layer(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"'bn' was built for inputs of shape \(\?, \?, \?, "
                                         r"3\), got shape \(2, 4, 4, 5\)"):
        layer(np.zeros((2, 4, 4, 5)))
    with pytest.raises(ValueError, match="built for inputs"):
        layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="moving_mean and moving_variance"):
        batch_norm(np.zeros((2, 3)))
