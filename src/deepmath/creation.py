"""Building tensors: from data, filled, random, ranges (PyTorch's names; `Variable` as
TensorFlow's, for the book's chapter "Tenseurs")."""
import numpy as np

from .tensor import Tensor, get_default_dtype

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind `randn` and `rand`."""
    global _rng
    _rng = np.random.default_rng(seed)


def tensor(data, dtype=None, requires_grad=False, name=None):
    """A tensor holding `data` (copied). Python numbers and integers become float32."""
    data = data.data if isinstance(data, Tensor) else data
    data = np.array(data, copy=True) if isinstance(data, (np.ndarray, np.generic)) else data
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def Variable(initial_value, dtype=None, name=None, trainable=True):
    """A trainable tensor, watched by every `GradientTape` (TensorFlow's `tf.Variable`)."""
    return tensor(initial_value, dtype=dtype, requires_grad=trainable, name=name)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and not np.isscalar(shape[0]) else tuple(shape)


def _filled(shape, value, dtype, requires_grad):
    data = np.full(_shape(shape), value, dtype=dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=None, requires_grad=False):
    return _filled(shape, 0, dtype, requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    return _filled(shape, 1, dtype, requires_grad)


def full(shape, value, dtype=None, requires_grad=False):
    return _filled((shape,), value, dtype, requires_grad)


def zeros_like(t, requires_grad=False):
    return zeros(np.shape(t), dtype=np.asarray(t).dtype if _is_float(t) else None,
                 requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    return ones(np.shape(t), dtype=np.asarray(t).dtype if _is_float(t) else None,
                requires_grad=requires_grad)


def _is_float(t):
    return np.asarray(t).dtype.kind == "f"


def randn(*shape, dtype=None, requires_grad=False):
    """Standard normal entries."""
    data = _rng.standard_normal(_shape(shape)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False):
    """Uniform entries in [0, 1)."""
    data = _rng.random(_shape(shape)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Values start, start+step, … below stop (`numpy.arange`; TensorFlow's `tf.range`)."""
    data = np.arange(start, stop, step) if stop is not None else np.arange(start)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or get_default_dtype())


def linspace(start, stop, num=50, dtype=None, requires_grad=False):
    """`num` evenly spaced values from start to stop inclusive."""
    return Tensor(np.linspace(start, stop, num), requires_grad=requires_grad,
                  dtype=dtype or get_default_dtype())
