"""What every op module shares: turning operands into tensors and building outputs."""
import numbers

from ..backend import _arrays, array_module as xp, device_of, to_device
from ..tensor import Tensor

make = Tensor._make


def as_tensor(x, like=None):
    """`x` as a Tensor; a Python number takes the dtype of `like` (so float32 stays float32),
    and any non-tensor operand is made on `like`'s device (a constant, as in PyTorch)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool) \
            and like.dtype.kind == "f":
        return make(xp(like.data).asarray(x, dtype=like.dtype), "constant", (), None)
    t = Tensor(x)
    if like is not None and _arrays.gpu is not None and t.device != like.device:
        t.data = to_device(t.data, like.device)
    return t


def same_device(op_name, *tensors):
    """Raise when the tensors live on different devices (free while no GPU is loaded)."""
    if _arrays.gpu is None:
        return
    devices = [device_of(t.data) for t in tensors if t is not None]
    if len(set(devices)) > 1:
        raise ValueError(f"{op_name}: operands on different devices ({', '.join(devices)}); "
                         "move them to one device with .to('cpu') or .to('gpu')")


def pair(a, b, op_name):
    """Both operands of the binary op `op_name` as tensors, on one device."""
    if isinstance(a, Tensor):
        b = as_tensor(b, a)
    else:
        b = as_tensor(b)
        a = as_tensor(a, b)
    same_device(op_name, a, b)
    return a, b


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
    return xp(g).broadcast_to(g, shape)
