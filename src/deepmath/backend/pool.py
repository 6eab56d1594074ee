"""2-D pooling kernels (see _families.py): REFERENCE (NumPy) and NATIVE (C) tables.

Channels-last input (N, H, W, C), Keras conventions:

- `pool_size`, `strides`: an int or a pair; `strides=None` means the pool size.
- `padding='valid'`: windows inside the input, Ho = (H - ph) // sh + 1; a window larger than
  the input raises ValueError (as Keras and PyTorch). `padding='same'`: Ho = ceil(H / sh), the
  padding split as TensorFlow (the odd cell after); padded cells are ignored: max pooling never
  picks them, average pooling divides by the number of cells inside the input.
- Max pooling returns `(y, argmax)`: argmax is int32, the offset `kh * pw + kw` of the chosen
  cell inside its window (input row `oh * sh - pt + kh`, column `ow * sw - pl + kw`). Ties go
  to the first maximum in row-major window order, as numpy.argmax; NaN propagates (the first
  NaN of a window is picked), as numpy.max and torch's max_pool2d. The backward gives each
  input cell the sum of the gradients of the outputs that picked it.

    max_pool2d_forward(x, pool_size, strides, padding) -> (y, argmax)
    max_pool2d_backward(x_shape, argmax, grad, pool_size, strides, padding) -> dx
    avg_pool2d_forward(x, pool_size, strides, padding) -> y
    avg_pool2d_backward(x_shape, grad, pool_size, strides, padding) -> dx

The references below loop over the ph * pw window offsets, each step a strided slice of the
whole batch, so they stay fast enough for tests; both backends raise the same errors.
"""
import numpy as np

from ._arrays import array_module
from ._native_import import kernels

_INT32_MAX = 2**31 - 1


def _pair(value, fn, name):
    """An int or a pair of ints >= 1, as a tuple (a, b)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        items = tuple(value)
    else:
        items = (value, value)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        if v < 1:
            raise ValueError(f"{fn}: {name} must be >= 1, got {value!r}")
    return int(items[0]), int(items[1])


def pool2d_geometry(x_shape, pool_size, strides, padding, fn="pool2d"):
    """((ph, pw), (sh, sw), (ho, wo), (pad_top, pad_left)) of a pooling of an (N, H, W, C) input."""
    shape = tuple(x_shape)
    if len(shape) != 4:
        raise ValueError(f"{fn}: input must have rank 4 (N, H, W, C), got shape {shape}")
    ph, pw = _pair(pool_size, fn, "pool_size")
    sh, sw = _pair(pool_size if strides is None else strides, fn, "strides")
    if ph * pw > _INT32_MAX:
        raise ValueError(f"{fn}: pool_size {(ph, pw)} has more than 2**31 - 1 cells")
    mode = padding.lower() if isinstance(padding, str) else padding
    _, h, w, _ = shape
    if mode == "valid":
        if ph > h or pw > w:
            raise ValueError(f"{fn}: pool_size {(ph, pw)} is larger than the input's "
                             f"(H, W) = {(h, w)} with padding='valid' (output size would be "
                             f"negative); use padding='same' or a smaller pool")
        return (ph, pw), (sh, sw), ((h - ph) // sh + 1, (w - pw) // sw + 1), (0, 0)
    if mode == "same":
        ho, wo = -(-h // sh), -(-w // sw)
        pad_h = max((ho - 1) * sh + ph - h, 0)
        pad_w = max((wo - 1) * sw + pw - w, 0)
        return (ph, pw), (sh, sw), (ho, wo), (pad_h // 2, pad_w // 2)
    raise ValueError(f"{fn}: padding must be 'valid' or 'same', got {padding!r}")


def _float_input(x, fn, name):
    xp = array_module(x)
    if not isinstance(x, (xp.ndarray, np.generic)):
        raise TypeError(f"{fn}: {name} must be a {xp.__name__}.ndarray, not {type(x).__name__}")
    if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
        raise TypeError(f"{fn}: {name} has dtype {x.dtype}; expected float32 or float64")
    return xp.asarray(x, dtype=x.dtype.newbyteorder("="))


def _windows(shape, geom, xp):
    """For every window offset (kh, kw) in row-major order: (k, the slices of the padded input
    that offset reads for all outputs, validity mask (1, Ho, Wo, 1) of those cells, an array of
    the array module xp)."""
    (ph, pw), (sh, sw), (ho, wo), (pt, pl) = geom
    _, h, w, _ = shape
    oh, ow = xp.arange(ho) * sh - pt, xp.arange(wo) * sw - pl
    for kh in range(ph):
        rows = (oh + kh >= 0) & (oh + kh < h)
        for kw in range(pw):
            cols = (ow + kw >= 0) & (ow + kw < w)
            where = (slice(None), slice(kh, kh + sh * (ho - 1) + 1, sh),
                     slice(kw, kw + sw * (wo - 1) + 1, sw), slice(None))
            yield kh * pw + kw, where, (rows[:, None] & cols[None, :])[None, :, :, None]


def _padded_shape(shape, geom):
    """Shape of the zero-padded input that every window slice fits in."""
    (ph, pw), (sh, sw), (ho, wo), (pt, pl) = geom
    n, h, w, c = shape
    return n, max(pt + h, (ho - 1) * sh + ph), max(pl + w, (wo - 1) * sw + pw), c


def _pad(x, geom):
    (_, _), (_, _), (_, _), (pt, pl) = geom
    padded = array_module(x).zeros(_padded_shape(x.shape, geom), x.dtype)
    padded[:, pt:pt + x.shape[1], pl:pl + x.shape[2]] = x
    return padded


def _crop(dxp, shape, geom):
    (_, _), (_, _), (_, _), (pt, pl) = geom
    return array_module(dxp).ascontiguousarray(dxp[:, pt:pt + shape[1], pl:pl + shape[2]])


def max_pool2d_forward_reference(x, pool_size=2, strides=None, padding="valid"):
    fn = "max_pool2d_forward"
    x = _float_input(x, fn, "x")
    xp = array_module(x)
    geom = pool2d_geometry(x.shape, pool_size, strides, padding, fn)
    out_shape = (x.shape[0], *geom[2], x.shape[3])
    y = xp.zeros(out_shape, x.dtype)
    arg = xp.zeros(out_shape, np.int32)
    if y.size == 0:
        return y, arg
    padded = _pad(x, geom)
    seen = xp.zeros(out_shape, bool)
    for k, where, valid in _windows(x.shape, geom, xp):
        v = padded[where]
        with np.errstate(invalid="ignore"):
            take = valid & (~seen | (v > y) | (xp.isnan(v) & ~xp.isnan(y)))
        y = xp.where(take, v, y)
        arg[take] = k
        seen |= valid
    return y, arg


def _check_backward(x_shape, grad, fn, pool_size, strides, padding):
    try:
        shape = tuple(int(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"{fn}: x_shape must be a tuple of ints, got {x_shape!r}") from None
    if len(shape) != 4 or any(s < 0 for s in shape):
        raise ValueError(f"{fn}: x_shape must be 4 non-negative sizes (N, H, W, C), "
                         f"got {x_shape!r}")
    geom = pool2d_geometry(shape, pool_size, strides, padding, fn)
    grad = _float_input(grad, fn, "grad")
    out_shape = (shape[0], *geom[2], shape[3])
    if grad.shape != out_shape:
        raise ValueError(f"{fn}: grad has shape {grad.shape}, expected {out_shape} "
                         f"(the pooling output for x_shape {shape})")
    return shape, geom, grad


def max_pool2d_backward_reference(x_shape, argmax, grad, pool_size=2, strides=None,
                                  padding="valid"):
    fn = "max_pool2d_backward"
    shape, geom, grad = _check_backward(x_shape, grad, fn, pool_size, strides, padding)
    xp = array_module(grad)
    if not isinstance(argmax, xp.ndarray) or argmax.dtype != np.int32:
        raise TypeError(f"{fn}: argmax must be the int32 ndarray returned by "
                        f"max_pool2d_forward, got {getattr(argmax, 'dtype', type(argmax))}")
    if argmax.shape != grad.shape:
        raise ValueError(f"{fn}: argmax has shape {argmax.shape}, expected {grad.shape}")
    dxp = xp.zeros(_padded_shape(shape, geom), grad.dtype)
    if grad.size:
        for k, where, valid in _windows(shape, geom, xp):
            dxp[where] += xp.where(valid & (argmax == k), grad, 0)
    return _crop(dxp, shape, geom)


def _counts(shape, geom, dtype, xp):
    """Number of cells of each window inside the input: (1, Ho, Wo, 1)."""
    count = 0
    for _, _, valid in _windows(shape, geom, xp):
        count = count + valid
    return xp.asarray(count, dtype)


def avg_pool2d_forward_reference(x, pool_size=2, strides=None, padding="valid"):
    fn = "avg_pool2d_forward"
    x = _float_input(x, fn, "x")
    xp = array_module(x)
    geom = pool2d_geometry(x.shape, pool_size, strides, padding, fn)
    out_shape = (x.shape[0], *geom[2], x.shape[3])
    if 0 in out_shape:
        return xp.empty(out_shape, x.dtype)
    padded = _pad(x, geom)
    total = None
    for _, where, valid in _windows(x.shape, geom, xp):
        v = xp.where(valid, padded[where], 0)
        total = v if total is None else total + v
    return (total / _counts(x.shape, geom, x.dtype, xp)).astype(x.dtype, copy=False)


def avg_pool2d_backward_reference(x_shape, grad, pool_size=2, strides=None, padding="valid"):
    fn = "avg_pool2d_backward"
    shape, geom, grad = _check_backward(x_shape, grad, fn, pool_size, strides, padding)
    xp = array_module(grad)
    dxp = xp.zeros(_padded_shape(shape, geom), grad.dtype)
    if grad.size:
        share = grad / _counts(shape, geom, grad.dtype, xp)
        for _, where, valid in _windows(shape, geom, xp):
            dxp[where] += xp.where(valid, share, 0)
    return _crop(dxp, shape, geom)


REFERENCE = {
    "max_pool2d_forward": max_pool2d_forward_reference,
    "max_pool2d_backward": max_pool2d_backward_reference,
    "avg_pool2d_forward": avg_pool2d_forward_reference,
    "avg_pool2d_backward": avg_pool2d_backward_reference,
}
NATIVE = {} if kernels is None else {
    "max_pool2d_forward": kernels.max_pool2d_forward,
    "max_pool2d_backward": kernels.max_pool2d_backward,
    "avg_pool2d_forward": kernels.avg_pool2d_forward,
    "avg_pool2d_backward": kernels.avg_pool2d_backward,
}
