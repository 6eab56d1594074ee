"""Operations that move, select or combine entries: reshape, transpose, flatten, concatenate,
stack, pad, indexing, where, clip, and comparisons (book, chapter "Tenseurs")."""
import numbers

import numpy as np

from ..backend import device_of, to_device
from ..backend._arrays import index_add
from ._base import as_tensor, make, normalize_axis, pair, same_device, xp
from ..tensor import Tensor


def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) \
        else tuple(shape)


def reshape(x, *shape):
    """Same entries, new shape (-1 infers one dimension)."""
    x = as_tensor(x)
    shape, source = _shape_arg(shape), x.shape
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {source} into {shape}") from None
    return make(out, "reshape", (x,), lambda g: (g.reshape(source),))


def transpose(x, *axes):
    """Permute the axes (reverse them when none are given), as `numpy.transpose`."""
    x = as_tensor(x)
    axes = _shape_arg(axes) if axes else tuple(reversed(range(x.ndim)))
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} axes of {x.shape}")
    inverse = tuple(np.argsort([a % x.ndim for a in axes]))
    return make(x.data.transpose(axes), "transpose", (x,), lambda g: (g.transpose(inverse),))


permute = transpose


def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes start_axis..end_axis into one (PyTorch's `flatten`)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = normalize_axis(start_axis, x.ndim)[0], normalize_axis(end_axis, x.ndim)[0]
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


def squeeze(x, axis=None):
    x = as_tensor(x)
    axes = tuple(i for i, n in enumerate(x.shape) if n == 1) if axis is None \
        else normalize_axis(axis, x.ndim)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def expand_dims(x, axis):
    x = as_tensor(x)
    return reshape(x, np.expand_dims(np.empty(x.shape, dtype=bool), axis).shape)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (`numpy.concatenate`)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    try:
        same_device("concatenate", *tensors)
        out = xp(tensors[0].data).concatenate([t.data for t in tensors], axis=axis)
    except ValueError as err:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"concatenate along axis {axis}: shapes {shapes} do not fit "
                         f"({err})") from None
    ax = axis % out.ndim
    bounds = np.cumsum([t.shape[ax] for t in tensors])[:-1].tolist()
    return make(out, "concatenate", tuple(tensors),
                lambda g: tuple(xp(g).split(g, bounds, axis=ax)))


def stack(tensors, axis=0):
    """Join tensors of one shape along a new axis (`numpy.stack`)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    same_device("stack", *tensors)
    out = xp(tensors[0].data).stack([t.data for t in tensors], axis=axis)
    ax = axis % out.ndim
    return make(out, "stack", tuple(tensors),
                lambda g: tuple(xp(g).moveaxis(g, ax, 0)))


def pad(x, pad_width, constant_values=0):
    """Pad with a constant (`numpy.pad` with mode 'constant'); the gradient crops."""
    x = as_tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad widths must be non-negative, got {pad_width}")
    out = xp(x.data).pad(x.data, widths.tolist(), mode="constant", constant_values=constant_values)
    crop = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, x.shape))
    return make(out, "pad", (x,), lambda g: (g[crop],))


def _plain_index(index, device):
    """The index with tensors turned into arrays (index arrays on `device`); also whether it
    has integer/bool arrays."""
    items = index if isinstance(index, tuple) else (index,)
    items = tuple(i.data if isinstance(i, Tensor) else i for i in items)
    if device == "gpu":
        items = tuple(to_device(i, device) if isinstance(i, (list, np.ndarray)) else i
                      for i in items)
    advanced = any(isinstance(i, list) or getattr(i, "ndim", 0) for i in items)
    return (items if isinstance(index, tuple) else items[0]), advanced


def getitem(x, index):
    """x[index] with NumPy semantics; repeated indices accumulate their gradients."""
    x = as_tensor(x)
    index, advanced = _plain_index(index, x.device)
    try:
        out = x.data[index]
    except IndexError as err:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {x.shape}: "
                         f"{err}") from None

    def backward(g):
        full = xp(g).zeros(x.shape, dtype=g.dtype)
        if advanced:
            index_add(full, index, g)
        else:
            full[index] = g
        return (full,)
    return make(out, "getitem", (x,), backward)


def where(condition, a, b):
    """Entries of a where condition holds, of b elsewhere (condition is not differentiated)."""
    a, b = pair(a, b, "where")
    cond = condition.data if isinstance(condition, Tensor) else \
        to_device(condition, device_of(a.data))
    cond = cond.astype(bool, copy=False)
    m = xp(a.data)
    try:
        out = m.where(cond, a.data, b.data)
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {a.shape} and {b.shape} do not "
                         "broadcast together") from None
    zero = m.zeros((), dtype=out.dtype)
    return make(out, "where", (a, b), lambda g: (m.where(cond, g, zero), m.where(cond, zero, g)))


def clip(x, low=None, high=None):
    """Clamp into [low, high]; the gradient passes where low ≤ x ≤ high (as PyTorch)."""
    x = as_tensor(x)
    if low is None and high is None:
        raise ValueError("clip needs low or high")
    X = x.data
    out = xp(X).clip(X, low, high)
    inside = xp(X).ones(X.shape, dtype=bool)
    if low is not None:
        inside &= X >= low
    if high is not None:
        inside &= X <= high
    return make(out.astype(X.dtype, copy=False), "clip", (x,), lambda g: (g * inside,))


_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
            "eq": np.equal, "ne": np.not_equal}


def compare(a, b, how):
    """Elementwise comparison: a bool tensor, outside the graph."""
    a, b = pair(a, b, "comparison")
    try:
        return Tensor(_COMPARE[how](a.data, b.data), dtype=bool)
    except ValueError:
        raise ValueError(f"comparison: shapes {a.shape} and {b.shape} do not broadcast "
                         "together") from None
