"""2-D pooling on channels-last tensors (N, H, W, C), as Keras' MaxPooling2D / AveragePooling2D.

    y = max_pool2d(x, pool_size=2)                      # (32, 28, 28, 16) -> (32, 14, 14, 16)
    y = avg_pool2d(x, (3, 3), strides=2, padding="same")

`pool_size` and `strides` are an int or a pair (strides None: the pool size); padding 'valid'
(windows inside the input; a pool larger than the input raises ValueError) or 'same'
(out = ceil(in / stride), padded cells ignored: average divides by the cells inside the input).
Max pooling: ties go to the first maximum in row-major window order (its gradient goes there
only), NaN propagates. The kernels are `backend_of(x).max_pool2d_forward` etc. (see
deepmath/backend/pool.py).
"""
from ..backend import backend_of
from ._base import as_tensor, make


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max over each pool_size window of x (N, H, W, C), moved by strides."""
    x = as_tensor(x)
    bk, shape = backend_of(x.data), x.shape
    out, argmax = bk.max_pool2d_forward(x.data, pool_size, strides, padding)

    def backward(g):
        return (bk.max_pool2d_backward(shape, argmax, g, pool_size, strides, padding),)
    return make(out, "max_pool2d", (x,), backward)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Mean over each pool_size window of x (N, H, W, C), moved by strides."""
    x = as_tensor(x)
    bk, shape = backend_of(x.data), x.shape
    out = bk.avg_pool2d_forward(x.data, pool_size, strides, padding)

    def backward(g):
        return (bk.avg_pool2d_backward(shape, g, pool_size, strides, padding),)
    return make(out, "avg_pool2d", (x,), backward)
