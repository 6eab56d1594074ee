"""`keras.backend` (imported as `K`): elementwise maths on deepmath tensors, differentiable
where the maths is. The book's `heaviside` (module keras_facile, chapter "Python : tensorflow
avec keras - partie 1") is written with it:

    from deepmath.keras import backend as K
    def heaviside(x):
        z = K.zeros_like(x)
        return 1 - K.maximum(z, K.sign(-x))
"""
import numpy as np

from .. import creation, ops
from ..backend import to_numpy
from ..ops._base import as_tensor, make, pair, xp
from ..tensor import Tensor, get_default_dtype

_epsilon = 1e-7


def epsilon():
    """The small constant added to avoid divisions by zero (1e-7, as Keras)."""
    return _epsilon


def set_epsilon(value):
    global _epsilon
    _epsilon = float(value)


def floatx():
    """The default float type's name: 'float32' (see `deepmath.set_default_dtype`)."""
    return get_default_dtype().name


def image_data_format():
    """deepmath's images are channels-last (N, H, W, C), as Keras' default."""
    return "channels_last"


# ---- building tensors -------------------------------------------------------------------------
def constant(value, dtype=None, shape=None, name=None):
    """A tensor holding `value` (broadcast to `shape` when given), outside any gradient."""
    data = to_numpy(value.data if isinstance(value, Tensor) else value)
    if shape is not None:
        data = np.broadcast_to(data, tuple(shape))
    return creation.tensor(np.array(data), dtype=dtype or floatx(), name=name)


def variable(value, dtype=None, name=None):
    """A trainable tensor (its gradient is computed), as Keras' variable."""
    return creation.Variable(value, dtype=dtype or floatx(), name=name)


def zeros_like(x, dtype=None):
    x = as_tensor(x)
    return Tensor(xp(x.data).zeros(x.shape, dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    x = as_tensor(x)
    return Tensor(xp(x.data).ones(x.shape, dtype=dtype or x.dtype))


def eval(x):
    """The value of a tensor as a NumPy array."""
    return np.array(to_numpy(x.data if isinstance(x, Tensor) else x))


def int_shape(x):
    return tuple(as_tensor(x).shape)


def cast(x, dtype):
    return ops.cast(x, dtype)


# ---- elementwise --------------------------------------------------------------------------
def maximum(x, y):
    """Elementwise max; the gradient goes to x where x ≥ y, to y elsewhere (TensorFlow's)."""
    x, y = pair(x, y, "maximum")
    return ops.where(x.data >= y.data, x, y)


def minimum(x, y):
    """Elementwise min; the gradient goes to x where x ≤ y, to y elsewhere."""
    x, y = pair(x, y, "minimum")
    return ops.where(x.data <= y.data, x, y)


def sign(x):
    """-1, 0 or 1 as x is negative, zero or positive; its derivative is 0."""
    x = as_tensor(x)
    return make(xp(x.data).sign(x.data), "sign", (x,), lambda g: (None,))


def clip(x, min_value=None, max_value=None):
    """x clamped into [min_value, max_value] (a max below the min is raised to it, as Keras)."""
    if min_value is not None and max_value is not None and max_value < min_value:
        max_value = min_value
    if min_value is None and max_value is None:
        return as_tensor(x)
    return ops.clip(x, min_value, max_value)


abs = ops.abs
sqrt = ops.sqrt
exp = ops.exp
log = ops.log
square = ops.square
pow = ops.pow
relu = ops.relu
sigmoid = ops.sigmoid
tanh = ops.tanh
dot = ops.matmul
reshape = ops.reshape


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


# ---- reductions -------------------------------------------------------------------------------
def sum(x, axis=None, keepdims=False):
    return ops.sum(x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return ops.mean(x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    return ops.max(x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return ops.min(x, axis, keepdims)
