"""Keras layers beyond Dense: Conv2D, pooling, Flatten, Reshape, Activation, Dropout.
Values against plain NumPy loops and Keras 3, gradients against central differences."""
import math

import numpy as np
import pytest

import deepmath as dm
from deepmath.layers.base import Input
from deepmath.layers.conv import Conv2D
from deepmath.layers.core import Activation, Dense
from deepmath.layers.dropout import Dropout
from deepmath.layers.embedding import Embedding
from deepmath.layers.normalization import BatchNormalization, LayerNormalization
from deepmath.layers.pooling import (AveragePooling2D, GlobalAveragePooling2D,
                                     GlobalMaxPooling2D, MaxPooling2D)
from deepmath.layers.reshaping import Flatten, Reshape
from deepmath.ops.dropout import dropout
from gradcheck import check_grad, numeric_grad

RNG = np.random.default_rng(0)


def check_layer_grads(layer, x, training=False, rtol=1e-5, atol=1e-7):
    """backward() through a float64 layer against central differences, for the input and
    every trainable weight."""
    x = np.asarray(x, dtype=np.float64)
    xt = dm.tensor(x, dtype="float64", requires_grad=True)
    out = layer(xt, training=training)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, out.shape)
    (out * dm.tensor(weights, dtype="float64")).sum().backward()
    params = layer.trainable_weights
    saved = [p.data for p in params]

    def f(x_t, *values):
        for p, v in zip(params, values):
            p.data = v.data
        return layer(x_t, training=training)
    arrays = [x] + [s.copy() for s in saved]
    analytic = [xt.grad.data] + [p.grad.data for p in params]
    try:
        for i, grad in enumerate(analytic):
            np.testing.assert_allclose(grad, numeric_grad(f, arrays, i, weights), rtol=rtol,
                                       atol=atol, err_msg=f"gradient of operand {i}")
    finally:
        for p, s in zip(params, saved):
            p.data = s


def x_of(shape, a=0.37):
    """The deterministic inputs the Keras fixtures were computed on."""
    return np.sin(np.arange(math.prod(shape)) * a).reshape(shape).astype(np.float32)


def w_of(shape, a=0.11, s=0.3):
    """The deterministic weights of the Keras fixtures."""
    return (s * np.cos(np.arange(math.prod(shape)) * a)).reshape(shape).astype(np.float32)


# ---- plain NumPy references ---------------------------------------------------------------
def same_pads(n, k, s, d=1):
    """TensorFlow's 'same' padding along one axis: (before, after)."""
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def conv_reference(x, k, b, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Correlation by a loop over output pixels (Keras' Conv2D: the kernel is not flipped)."""
    (kh, kw, _, cout), (sh, sw), (dh, dw) = k.shape, strides, dilation
    pads = [same_pads(n, kk, s, d) if padding == "same" else (0, 0)
            for n, kk, s, d in ((x.shape[1], kh, sh, dh), (x.shape[2], kw, sw, dw))]
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1      # the dilated kernel's extent
    ho, wo = (xp.shape[1] - eh) // sh + 1, (xp.shape[2] - ew) // sw + 1
    out = np.zeros((x.shape[0], ho, wo, cout))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * sh:i * sh + eh:dh, j * sw:j * sw + ew:dw]
            out[:, i, j] = np.einsum("nhwc,hwcf->nf", patch, k)
    return out + (0 if b is None else b)


def pool_reference(x, pool, strides, padding, reduce):
    """Max or mean over each window by a loop; padded cells (NaN) are ignored."""
    (ph, pw), (sh, sw) = pool, strides
    pads = [same_pads(n, p, s) if padding == "same" else (0, 0)
            for n, p, s in ((x.shape[1], ph, sh), (x.shape[2], pw, sw))]
    xp = np.pad(x.astype(np.float64), ((0, 0), pads[0], pads[1], (0, 0)),
                constant_values=np.nan)
    ho, wo = (xp.shape[1] - ph) // sh + 1, (xp.shape[2] - pw) // sw + 1
    out = np.zeros((x.shape[0], ho, wo, x.shape[3]))
    for i in range(ho):
        for j in range(wo):
            out[:, i, j] = reduce(xp[:, i * sh:i * sh + ph, j * sw:j * sw + pw], axis=(1, 2))
    return out


# ---- Conv2D -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(padding="same"),
    dict(strides=2, padding="same"),
    dict(strides=(2, 1)),
    dict(dilation_rate=2, padding="same"),
    dict(kernel_size=(2, 3), use_bias=False),
])
def test_conv2d_matches_loop(kwargs):
    kwargs = {"kernel_size": 3, **kwargs}
    layer = Conv2D(4, **kwargs)
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    y = layer(x)
    k, b = layer.kernel.data, (layer.bias.data if layer.use_bias else None)
    expected = conv_reference(x, k, b, layer.strides, layer.padding, layer.dilation_rate)
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-5)
    assert y.dtype == np.float32


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "gelu", "softplus",
                                        "elu"])
def test_conv2d_activation_fused_or_not(activation):
    layer = Conv2D(3, 3, activation=activation, bias_initializer="random_normal")
    x = RNG.standard_normal((2, 5, 5, 2)).astype(np.float32)
    y = layer(x)
    z = conv_reference(x, layer.kernel.data, layer.bias.data)
    expected = dm.activations.get(activation)(dm.tensor(z, dtype="float64")).data
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_keras_fixture():
    # Keras 3.15.1 (TensorFlow 2.21 backend), same inputs and weights:
    #   c = keras.layers.Conv2D(2, 3, strides=2, padding="same", activation="relu")
    #   c.build((1, 5, 5, 3)); c.set_weights([w_of((3, 3, 3, 2)), [0.1, -0.2]])
    #   c(x_of((1, 5, 5, 3))).numpy().ravel()
    expected = [0.0, 0.0, 0.0, 0.0, 0.9743241667747498, 0.6699798107147217,
                0.09494665265083313, 0.0, 0.8162820935249329, 0.4645426273345947, 0.0, 0.0,
                0.7737594246864319, 0.5772146582603455, 0.0, 0.0, 0.0833350345492363, 0.0]
    layer = Conv2D(2, 3, strides=2, padding="same", activation="relu")
    layer(np.zeros((1, 5, 5, 3)))
    layer.set_weights([w_of((3, 3, 3, 2)), np.array([0.1, -0.2])])
    y = layer(x_of((1, 5, 5, 3)))
    assert y.shape == (1, 3, 3, 2)
    np.testing.assert_allclose(y.data.ravel(), expected, rtol=1e-5, atol=1e-6)

    # keras.layers.Conv2D(2, (2, 3), dilation_rate=2), kernel w_of((2, 3, 2, 2)), bias
    # [0.05, 0], on x_of((1, 6, 7, 2))
    expected = [0.3494269549846649, 0.3141760230064392, 0.12532219290733337,
                0.0855083018541336, -0.13818073272705078, -0.18788549304008484,
                0.37797728180885315, 0.335559606552124, 0.4067085385322571,
                0.3708672821521759, 0.24885879456996918, 0.21218806505203247,
                0.046247903257608414, -0.011665580794215202, 0.29625409841537476,
                0.24883215129375458, 0.41745394468307495, 0.3791751265525818,
                -0.28135979175567627, -0.34607625007629395, -0.08470797538757324,
                -0.1465425193309784, 0.18240459263324738, 0.12964226305484772]
    layer = Conv2D(2, (2, 3), dilation_rate=2)
    layer(np.zeros((1, 6, 7, 2)))
    layer.set_weights([w_of((2, 3, 2, 2)), np.array([0.05, 0.0])])
    y = layer(x_of((1, 6, 7, 2)))
    assert y.shape == (1, 4, 3, 2)
    np.testing.assert_allclose(y.data.ravel(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(padding="same", activation="tanh"),
                                    dict(strides=2, activation="relu"),
                                    dict(dilation_rate=(1, 2), activation="softplus")])
def test_conv2d_gradients(kwargs):
    layer = Conv2D(2, 3, dtype="float64", bias_initializer="random_normal", **kwargs)
    check_layer_grads(layer, RNG.standard_normal((2, 6, 7, 2)))


def test_conv2d_weights_and_params():
    layer = Conv2D(8, (3, 2))
    layer(Input(shape=(10, 10, 3)))
    assert [w.shape for w in layer.get_weights()] == [(3, 2, 3, 8), (8,)]
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    assert layer.count_params() == 3 * 2 * 3 * 8 + 8
    np.testing.assert_array_equal(layer.bias.data, 0)
    limit = math.sqrt(6 / (3 * 2 * 3 + 3 * 2 * 8))   # glorot_uniform, Keras' conv fans
    assert np.abs(layer.kernel.data).max() <= limit
    assert Conv2D(8, 3, use_bias=False)(np.zeros((1, 4, 4, 2))).shape == (1, 2, 2, 8)


def test_conv2d_errors():
    with pytest.raises(ValueError, match="filters"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(4, (3, 0))
    with pytest.raises(ValueError, match="padding"):
        Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="channels_last"):
        Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="unknown activation"):
        Conv2D(4, 3, activation="nope")
    layer = Conv2D(4, 3, name="c")
    with pytest.raises(ValueError, match=r"Conv2D 'c' expects inputs of rank 4.*\(2, 5, 5\)"):
        layer(np.zeros((2, 5, 5)))
    layer(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"Conv2D 'c' expects inputs with 3 channels.*"
                                         r"\(1, 5, 5, 2\)"):
        layer(np.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"Conv2D 'c'.*larger than the input"):
        layer(np.zeros((1, 2, 5, 3)))
    with pytest.raises(ValueError, match="channel axis"):
        Conv2D(4, 3).build((None, 5, 5, None))


# ---- pooling ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,reduce", [(MaxPooling2D, np.nanmax),
                                        (AveragePooling2D, np.nanmean)])
@pytest.mark.parametrize("kwargs", [dict(), dict(pool_size=3), dict(pool_size=3, strides=2),
                                    dict(pool_size=(2, 3), padding="same"),
                                    dict(pool_size=3, strides=(2, 1), padding="same")])
def test_pooling_matches_loop(cls, reduce, kwargs):
    layer = cls(**kwargs)
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    y = layer(x)
    expected = pool_reference(x, layer.pool_size, layer.strides, layer.padding, reduce)
    np.testing.assert_allclose(y.data, expected, rtol=1e-6, atol=1e-6)
    assert layer.compute_output_shape((None, 7, 6, 3)) == (None,) + y.shape[1:]


def test_pooling_keras_fixture():
    # Keras 3.15.1 (TensorFlow backend) on x_of((1, 5, 5, 2)):
    #   keras.layers.MaxPooling2D(3, 2, padding="same")(x)
    #   keras.layers.AveragePooling2D(3, 2, padding="same")(x)
    max_expected = [0.6742879152297974, 0.8956986665725708, 0.9958808422088623,
                    0.9612752199172974, 0.7965654730796814, 0.6793046593666077,
                    0.9593748450279236, 0.9964756369590759, 0.9593748450279236,
                    0.9016757607460022, 0.9970241189002991, 0.9574298858642578,
                    0.788252055644989, 0.5123879909515381, 0.6842898726463318,
                    0.9016757607460022, 0.9970241189002991, 0.9574298858642578]
    avg_expected = [-0.204669788479805, -0.1346481442451477, 0.04261699691414833,
                    0.12055885046720505, 0.24746717512607574, 0.2557172477245331,
                    -0.21559958159923553, -0.20757238566875458, -0.09929502755403519,
                    -0.033318087458610535, 0.11588428169488907, 0.17411327362060547,
                    -0.17582166194915771, -0.2316768616437912, -0.21785350143909454,
                    -0.17935879528522491, -0.042953893542289734, 0.05155891180038452]
    x = x_of((1, 5, 5, 2))
    np.testing.assert_allclose(MaxPooling2D(3, 2, padding="same")(x).data.ravel(),
                               max_expected, rtol=1e-6)
    np.testing.assert_allclose(AveragePooling2D(3, 2, padding="same")(x).data.ravel(),
                               avg_expected, rtol=1e-5, atol=1e-7)


def test_pooling_default_strides_are_pool_size():
    layer = MaxPooling2D(pool_size=(2, 2))
    assert layer.strides == (2, 2)
    assert layer(np.zeros((1, 28, 28, 16))).shape == (1, 14, 14, 16)
    assert AveragePooling2D(3).compute_output_shape((None, 10, 7, 4)) == (None, 3, 2, 4)
    assert MaxPooling2D(3, padding="same").compute_output_shape((None, 10, 7, 4)) == \
        (None, 4, 3, 4)


@pytest.mark.parametrize("layer", [MaxPooling2D(pool_size=(2, 3), strides=(1, 2)),
                                   AveragePooling2D(2, padding="same"),
                                   GlobalAveragePooling2D(), GlobalMaxPooling2D(),
                                   GlobalAveragePooling2D(keepdims=True)])
def test_pooling_gradients(layer):
    # distinct values: no ties for the max
    x = RNG.permutation(2 * 5 * 6 * 3).reshape(2, 5, 6, 3) / 7.0
    check_layer_grads(layer, x)


def test_global_pooling_values():
    x = RNG.standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(GlobalAveragePooling2D()(x).data, x.mean(axis=(1, 2)),
                               rtol=1e-6)
    np.testing.assert_array_equal(GlobalMaxPooling2D(keepdims=True)(x).data,
                                  x.max(axis=(1, 2), keepdims=True))


def test_pooling_errors():
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling2D(pool_size=0)
    with pytest.raises(ValueError, match="strides"):
        AveragePooling2D(2, strides=(1, 2, 3))
    with pytest.raises(ValueError, match="padding"):
        MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="channels_last"):
        GlobalMaxPooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match=r"MaxPooling2D 'p' expects inputs of rank 4"):
        MaxPooling2D(name="p")(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"AveragePooling2D 'q'.*larger than the input"):
        AveragePooling2D(3, name="q")(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="rank 4"):
        GlobalAveragePooling2D()(np.zeros((2, 3)))


# ---- Flatten, Reshape, Activation ---------------------------------------------------------
def test_flatten_keeps_channels_last_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y = Flatten()(x)
    np.testing.assert_array_equal(y.data, x.reshape(2, -1))
    assert Flatten()(np.arange(3.0)).shape == (3, 1)
    assert Flatten().compute_output_shape((None, 7, None)) == (None, None)
    with pytest.raises(ValueError, match="channels_last"):
        Flatten(data_format="channels_first")


def test_reshape():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    np.testing.assert_array_equal(Reshape((3, 4))(x).data, x.reshape(2, 3, 4))
    np.testing.assert_array_equal(Reshape((-1, 2))(x).data, x.reshape(2, 6, 2))
    layer = Reshape([2, -1])
    assert layer.target_shape == (2, -1)
    assert layer.compute_output_shape((None, 12)) == (None, 2, 6)
    assert layer.compute_output_shape((None, None)) == (None, 2, None)
    with pytest.raises(ValueError, match=r"Reshape 'r': cannot reshape inputs of shape "
                                         r"\(2, 12\)"):
        Reshape((5, -1), name="r")(x)
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape((5,))(x)
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((0, 3))


def test_reshape_and_flatten_gradients():
    check_layer_grads(Reshape((3, -1), dtype="float64"), RNG.standard_normal((2, 6)))
    check_layer_grads(Flatten(dtype="float64"), RNG.standard_normal((2, 2, 3)))


def test_activation_layer():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(Activation("relu")(x).data, np.maximum(x, 0))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(Activation("softmax")(x).data, e / e.sum(1, keepdims=True),
                               rtol=1e-6)
    layer = Activation("softmax")
    assert layer._head_activation() == "softmax"
    np.testing.assert_array_equal(layer._call_logits(dm.tensor(x)).data, x)
    assert Activation(lambda t: t * 2)(x).data[0, 0] == pytest.approx(2 * x[0, 0])
    check_layer_grads(Activation("tanh", dtype="float64"), RNG.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="unknown activation"):
        Activation("nope")


# ---- Dropout ------------------------------------------------------------------------------
def test_dropout_training_statistics():
    dm.manual_seed(3)
    x = np.ones((200, 500), dtype=np.float32)
    y = Dropout(0.3)(x, training=True).data
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01                     # ~30% dropped
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)      # kept ones scaled
    assert abs(y.mean() - 1) < 0.02                              # mean preserved


def test_dropout_inference_is_identity():
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    layer = Dropout(0.5)
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True).data, x)


def test_dropout_seed_and_noise_shape():
    x = np.ones((4, 3, 3, 8), dtype=np.float32)
    a, b = Dropout(0.5, seed=7), Dropout(0.5, seed=7)
    first = a(x, training=True).data
    np.testing.assert_array_equal(first, b(x, training=True).data)
    assert not np.array_equal(first, a(x, training=True).data)   # a new mask each call
    y = Dropout(0.5, noise_shape=(None, 1, 1, 8), seed=1)(x, training=True).data
    assert (y == y[:, :1, :1, :]).all()                          # whole channels dropped
    assert 0 < (y == 0).mean() < 1
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 8))(x, training=True)


def test_dropout_gradient_with_fixed_mask():
    mask = RNG.random((3, 4)) > 0.4
    check_grad(lambda t: dropout(t, 0.4, mask=mask), RNG.standard_normal((3, 4)))
    x = dm.tensor(np.ones((3, 4)), requires_grad=True)
    dropout(x, 0.4, mask=mask).sum().backward()
    np.testing.assert_allclose(x.grad.data, mask / 0.6, rtol=1e-6)
    with pytest.raises(ValueError, match="does not broadcast"):
        dropout(x, 0.4, mask=np.ones((2, 4), bool))


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, "0.5", True])
def test_dropout_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


# ---- every layer: shapes, configs ---------------------------------------------------------
LAYERS = [
    (lambda: Conv2D(5, 3, strides=2, padding="same", activation="relu"), (2, 9, 8, 3)),
    (lambda: Conv2D(4, (3, 2), dilation_rate=(2, 1), use_bias=False), (1, 9, 8, 2)),
    (lambda: MaxPooling2D((2, 3), strides=(1, 2)), (2, 7, 8, 3)),
    (lambda: AveragePooling2D(3, padding="same"), (2, 7, 8, 3)),
    (lambda: GlobalAveragePooling2D(), (2, 5, 4, 3)),
    (lambda: GlobalMaxPooling2D(keepdims=True), (2, 5, 4, 3)),
    (lambda: Flatten(), (2, 3, 4, 5)),
    (lambda: Reshape((-1, 5)), (2, 3, 4, 5)),
    (lambda: Activation("sigmoid"), (2, 6)),
    (lambda: Dropout(0.25, noise_shape=(None, 1, 4), seed=3), (2, 3, 4)),
    (lambda: Embedding(12, 6, mask_zero=True), (2, 7)),
    (lambda: LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False), (2, 3, 4)),
    (lambda: BatchNormalization(axis=1, momentum=0.9, scale=False), (4, 3, 5)),
]


def _input(shape, layer):
    if isinstance(layer, Embedding):
        return RNG.integers(0, layer.input_dim, shape)
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("make,shape", LAYERS)
def test_output_shape_matches_compute_output_shape(make, shape):
    layer = make()
    for training in (False, True):
        y = layer(_input(shape, layer), training=training)
        expected = layer.compute_output_shape((None,) + shape[1:])
        assert y.shape == (shape[0],) + tuple(expected[1:])
        assert expected[0] is None
    symbolic = make()(Input(shape=shape[1:]))
    assert symbolic.shape == (None,) + y.shape[1:]


@pytest.mark.parametrize("make,shape", LAYERS)
def test_config_round_trip(make, shape):
    layer = make()
    x = _input(shape, layer)
    layer(x)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).data, layer(x).data)


def test_keras_config_keys():
    assert set(Conv2D(3, 3).get_config()) >= {
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
        "activation", "use_bias", "kernel_initializer", "bias_initializer"}
    assert Conv2D(3, 3).get_config()["kernel_size"] == (3, 3)
    assert Conv2D(3, 3).get_config()["activation"] == "linear"
    assert MaxPooling2D().get_config()["strides"] == (2, 2)
    assert Dropout(0.5).get_config()["rate"] == 0.5
    assert Reshape((2, -1)).get_config()["target_shape"] == (2, -1)


# ---- the book's parameter counts ----------------------------------------------------------
def _count(input_shape, layers):
    x = Input(shape=input_shape)
    for layer in layers:
        x = layer(x)
    return sum(layer.count_params() for layer in layers)


def test_book_parameter_counts():
    # chapter "Convolution avec tensorflow/keras", MNIST: "130 394 poids"
    assert _count((28, 28, 1), [Conv2D(32, 3, padding="same", activation="relu"),
                                Conv2D(16, 3, padding="same", activation="relu"), Flatten(),
                                Dense(10, activation="softmax")]) == 130394
    assert _count((28, 28, 1), [Conv2D(32, 3), Conv2D(16, 3), Flatten(), Dense(10)]) == \
        320 + 4624 + 24 * 24 * 16 * 10 + 10

    # CIFAR-10: "153 546 poids ... Sans les deux couches de pooling, 767 946"
    def cifar(pool):
        conv = lambda: Conv2D(64, 3, padding="same", activation="relu")    # noqa: E731
        layers = [conv(), conv(), pool(), conv(), pool(), conv(), Flatten(),
                  Dense(10, activation="softmax")]
        return _count((32, 32, 3), [layer for layer in layers if layer is not None])
    assert cifar(lambda: MaxPooling2D(pool_size=(2, 2))) == 153546
    assert cifar(lambda: None) == 767946

    # cats vs dogs (64x64 images), with dropout: "206 785 poids"
    layers = []
    for _ in range(3):
        layers += [Conv2D(64, 3, padding="same", activation="relu"),
                   MaxPooling2D(pool_size=(2, 2)), Dropout(0.5)]
    layers += [Flatten(), Dense(32, activation="relu"), Dense(1, activation="sigmoid")]
    assert _count((64, 64, 3), layers) == 206785
