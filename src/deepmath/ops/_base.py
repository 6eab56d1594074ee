"""What every op module shares: turning operands into tensors and building outputs."""
import numbers

import numpy as np

from ..backend import get_backend
from ..tensor import Tensor

make = Tensor._make


def xp():
    """The array module of the current backend."""
    return get_backend().xp


def as_tensor(x, like=None):
    """`x` as a Tensor; a Python number takes the dtype of `like` (so float32 stays float32)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool) \
            and like.dtype.kind == "f":
        return make(np.asarray(x, dtype=like.dtype), "constant", (), None)
    return Tensor(x)


def pair(a, b):
    """Both operands of a binary op as tensors."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, a)
    b = as_tensor(b)
    return as_tensor(a, b), b


def binary_data(op_name, func, a, b):
    """Apply `func` to the arrays of a and b, naming both shapes if they do not broadcast."""
    try:
        return func(a.data, b.data)
    except ValueError as err:
        if a.shape != b.shape and "broadcast" in str(err):
            raise ValueError(f"{op_name}: shapes {a.shape} and {b.shape} do not broadcast "
                             "together") from None
        raise


def normalize_axis(axis, ndim):
    """Axis argument as a sorted tuple of non-negative ints (None meaning all axes)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
    if ndim == 0:  # as PyTorch: axis 0 or -1 of a scalar is the scalar itself
        return ()
    return tuple(sorted({a % ndim for a in axes}))


def expand_reduced(g, shape, axes, keepdims):
    """Broadcast a reduction's gradient `g` back to the input `shape`."""
    if not keepdims and axes:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return xp().broadcast_to(g, shape)
