"""Keras utilities (to_categorical, set_random_seed, normalize) and `keras.backend` (K)."""
import random

import numpy as np
import pytest

import deepmath as dm
from deepmath.layers import Dense
from deepmath.utils import normalize, set_random_seed, to_categorical


# ---- to_categorical -----------------------------------------------------------------------------
def test_to_categorical_rows_are_one_hot():
    y = np.array([3, 0, 9, 3])
    out = to_categorical(y, num_classes=10)
    np.testing.assert_array_equal(out, np.eye(10)[y])
    assert out.dtype == np.float32


def test_to_categorical_infers_num_classes_from_max_label():
    np.testing.assert_array_equal(to_categorical([1, 0, 2]), np.eye(3)[[1, 0, 2]])


def test_to_categorical_column_input_drops_last_axis_as_keras():
    out = to_categorical(np.array([[1], [0], [2]]), num_classes=4)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, np.eye(4)[[1, 0, 2]])


def test_to_categorical_adds_class_axis_last():
    y = np.array([[0, 1, 2], [2, 2, 0]])
    out = to_categorical(y, 3)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.argmax(-1), y)


def test_to_categorical_accepts_whole_floats_tensors_and_dtype():
    out = to_categorical(np.array([2.0, 1.0]), 3, dtype="float64")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(to_categorical(dm.tensor([1.0, 0.0]), 2), [[0, 1], [1, 0]])


def test_to_categorical_rejects_negative_labels():
    with pytest.raises(ValueError, match="non-negative"):
        to_categorical([0, -1, 2], 3)


def test_to_categorical_rejects_labels_beyond_num_classes():
    with pytest.raises(ValueError, match="label 10 is out of range for num_classes=10"):
        to_categorical([1, 10], num_classes=10)


def test_to_categorical_rejects_fractional_and_text_labels():
    with pytest.raises(ValueError, match="whole numbers"):
        to_categorical([0.5, 1.0], 2)
    with pytest.raises(TypeError, match="integers"):
        to_categorical(["cat", "dog"])
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([0, 1], num_classes=0)


# ---- set_random_seed ----------------------------------------------------------------------------
def test_set_random_seed_seeds_python_numpy_and_deepmath():
    def draw():
        layer = Dense(3)
        layer(np.zeros((1, 2), np.float32))
        return random.random(), np.random.rand(3), dm.randn(4).data, layer.get_weights()[0]

    set_random_seed(7)
    first = draw()
    set_random_seed(7)
    second = draw()
    assert first[0] == second[0]
    for a, b in zip(first[1:], second[1:]):
        np.testing.assert_array_equal(a, b)
    set_random_seed(8)
    assert not np.array_equal(draw()[3], first[3])


def test_set_random_seed_rejects_bad_seeds():
    with pytest.raises(ValueError, match="non-negative integer"):
        set_random_seed(-1)
    with pytest.raises(ValueError, match="non-negative integer"):
        set_random_seed(1.5)


# ---- normalize ----------------------------------------------------------------------------------
def test_normalize_divides_by_the_l2_norm_of_each_row():
    x = np.array([[3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [2 ** -0.5, 2 ** -0.5]])


def test_normalize_other_axis_and_order_and_zero_rows():
    x = np.array([[1.0, -3.0, 0.0], [3.0, 1.0, 0.0]])
    np.testing.assert_allclose(normalize(x, axis=0, order=1),
                               [[0.25, -0.75, 0.0], [0.75, 0.25, 0.0]])
    np.testing.assert_array_equal(normalize(np.zeros((2, 3))), np.zeros((2, 3)))
    np.testing.assert_allclose(normalize([3.0, 4.0]), [0.6, 0.8])


# ---- keras.backend ------------------------------------------------------------------------------
@pytest.fixture
def K():
    try:
        from deepmath.keras import backend
    except ImportError as err:
        pytest.skip(f"deepmath.keras is not importable yet ({err})")
    return backend


X = np.array([[-2.0, -0.5, 0.0], [0.25, 1.5, 4.0]], dtype=np.float32)


def test_backend_elementwise_functions_match_numpy(K):
    x = dm.tensor(X)
    pos = dm.tensor(np.abs(X) + 0.5)
    cases = [(K.abs(x), np.abs(X)), (K.sign(x), np.sign(X)), (K.square(x), X ** 2),
             (K.exp(x), np.exp(X)), (K.sqrt(pos), np.sqrt(np.abs(X) + 0.5)),
             (K.log(pos), np.log(np.abs(X) + 0.5)), (K.maximum(x, 0.1), np.maximum(X, 0.1)),
             (K.minimum(x, X[::-1]), np.minimum(X, X[::-1])),
             (K.clip(x, -1.0, 1.0), np.clip(X, -1, 1)), (K.zeros_like(x), np.zeros_like(X)),
             (K.ones_like(x), np.ones_like(X)), (K.sum(x), X.sum()),
             (K.sum(x, axis=1, keepdims=True), X.sum(1, keepdims=True)),
             (K.mean(x, axis=0), X.mean(0)), (K.max(x, axis=1), X.max(1)),
             (K.min(x), X.min())]
    for got, want in cases:
        assert isinstance(got, dm.Tensor)
        np.testing.assert_allclose(K.eval(got), want, rtol=1e-6)


def test_backend_constants_and_types(K):
    assert K.epsilon() == 1e-7
    assert K.floatx() == "float32"
    assert K.image_data_format() == "channels_last"
    c = K.constant(2.5, shape=(2, 3))
    assert isinstance(c, dm.Tensor) and not c.requires_grad
    np.testing.assert_array_equal(K.eval(c), np.full((2, 3), 2.5, np.float32))
    v = K.variable([1.0, 2.0])
    assert v.requires_grad and v.dtype == np.float32
    assert K.cast(v, "float64").dtype == np.float64
    assert isinstance(K.eval(v), np.ndarray)
    assert K.int_shape(c) == (2, 3)


def test_backend_maximum_routes_the_gradient_to_the_larger_operand(K):
    x = dm.tensor([-1.0, 2.0, 0.0], requires_grad=True)
    y = dm.tensor([0.5, 1.0, 0.0], requires_grad=True)
    (K.maximum(x, y) * dm.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0, 3.0])   # ties go to x, as TF
    np.testing.assert_array_equal(y.grad.data, [1.0, 0.0, 0.0])
    x.grad = None
    K.sum(K.minimum(x, 0.5) + K.square(x)).backward()
    np.testing.assert_allclose(x.grad.data, [1.0 - 2.0, 4.0, 1.0])


def test_backend_sign_and_clip_gradients(K):
    x = dm.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    K.sum(K.clip(x, -1.0, 1.0) + K.sign(x) * 5).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])


def test_book_heaviside_written_with_K_is_the_step_function(K):
    def heaviside(x):              # keras_facile's definition, imports changed only
        z = K.zeros_like(x)
        return 1 - K.maximum(z, K.sign(-x))

    x = np.array([-3.0, -1e-6, 0.0, 1e-6, 2.0], dtype=np.float32)
    out = heaviside(dm.tensor(x))
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 1.0, 1.0, 1.0])   # book: H(0) = 1
    assert out.dtype == np.float32
    layer = Dense(1, activation=heaviside)
    layer(np.zeros((1, 1), np.float32))
    layer.set_weights([np.array([[-0.5]]), np.array([1.0])])           # book: H(-x/2 + 1)
    np.testing.assert_array_equal(layer(np.array([[0.0], [2.0], [2.5]], np.float32)).data,
                                  [[1.0], [1.0], [0.0]])


def test_the_books_scalings_are_in_utils():
    from deepmath import utils
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(utils.normalize_pixels(pixels), [[0, 0.2, 1]])
    np.testing.assert_allclose(utils.min_max_scale([2.0, 4.0, 6.0], -1, 1), [-1, 0, 1])
    heights = np.array([160.0, 170, 180, 190])
    z = utils.z_score(heights)
    np.testing.assert_allclose([z.mean(), z.std()], [0, 1], atol=1e-12)   # σ with 1/n
