"""Building tensors: from data, filled, random, ranges (PyTorch's names; `Variable` as
TensorFlow's, for the book's chapter "Tenseurs"). `device` ('cpu' or 'gpu') says where the
tensor lives; by default where the selected backend creates tensors. Random numbers are drawn
on the host, so a seed gives the same values on either device."""
import numpy as np

from .backend import device_of, is_device_array
from .tensor import Tensor, get_default_dtype

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind `randn` and `rand`."""
    global _rng
    _rng = np.random.default_rng(seed)


def tensor(data, dtype=None, requires_grad=False, name=None, device=None):
    """A tensor holding `data` (copied). Python numbers and integers become float32."""
    data = data.data if isinstance(data, Tensor) else data
    if is_device_array(data):
        data = data.copy()
    elif isinstance(data, (np.ndarray, np.generic)):
        data = np.array(data, copy=True)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name, device=device)


def Variable(initial_value, dtype=None, name=None, trainable=True):
    """A trainable tensor, watched by every `GradientTape` (TensorFlow's `tf.Variable`)."""
    return tensor(initial_value, dtype=dtype, requires_grad=trainable, name=name)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and not np.isscalar(shape[0]) else tuple(shape)


def _filled(shape, value, dtype, requires_grad, device):
    data = np.full(_shape(shape), value, dtype=dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def zeros(*shape, dtype=None, requires_grad=False, device=None):
    return _filled(shape, 0, dtype, requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None):
    return _filled(shape, 1, dtype, requires_grad, device)


def full(shape, value, dtype=None, requires_grad=False, device=None):
    return _filled((shape,), value, dtype, requires_grad, device)


def _like(t):
    """Shape, float dtype (None for other data) and device of a tensor or array-like."""
    data = t.data if isinstance(t, Tensor) else t
    data = data if is_device_array(data) else np.asarray(data)
    return data.shape, data.dtype if data.dtype.kind == "f" else None, device_of(data)


def zeros_like(t, requires_grad=False):
    shape, dtype, device = _like(t)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def ones_like(t, requires_grad=False):
    shape, dtype, device = _like(t)
    return ones(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def randn(*shape, dtype=None, requires_grad=False, device=None):
    """Standard normal entries."""
    data = _rng.standard_normal(_shape(shape)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad, device=device)


def rand(*shape, dtype=None, requires_grad=False, device=None):
    """Uniform entries in [0, 1)."""
    data = _rng.random(_shape(shape)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad=requires_grad, device=device)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False, device=None):
    """Values start, start+step, … below stop (`numpy.arange`; TensorFlow's `tf.range`)."""
    data = np.arange(start, stop, step) if stop is not None else np.arange(start)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype or get_default_dtype(),
                  device=device)


def linspace(start, stop, num=50, dtype=None, requires_grad=False, device=None):
    """`num` evenly spaced values from start to stop inclusive."""
    return Tensor(np.linspace(start, stop, num), requires_grad=requires_grad,
                  dtype=dtype or get_default_dtype(), device=device)
