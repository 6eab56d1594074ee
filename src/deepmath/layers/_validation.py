"""Checks the layers share: their arguments (as Keras' argument_validation) and the shapes of
their inputs, each error naming the layer."""
import numbers

from .base import shape_str


def who(layer):
    """How errors name a layer: Conv2D 'conv2d_1'."""
    return f"{type(layer).__name__} {layer.name!r}"


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_tuple(value, n, owner, name):
    """An int or n ints >= 1, as a tuple of n ints: kernel_size=3 -> (3, 3)."""
    items = (value,) * n if is_int(value) else value
    if not isinstance(items, (tuple, list)) or len(items) != n or \
            not all(is_int(v) and v >= 1 for v in items):
        raise ValueError(f"{owner}: {name} must be a positive int or a tuple of {n} positive "
                         f"ints, got {value!r}")
    return tuple(int(v) for v in items)


def padding_mode(padding, owner):
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def channels_last(value, owner):
    """The data_format: only channels-last images (batch, height, width, channels)."""
    if value not in (None, "channels_last"):
        raise ValueError(f"{owner}: only data_format='channels_last' is supported (images "
                         f"of shape (batch, height, width, channels)), got {value!r}")
    return "channels_last"


def check_rank(layer, shape, rank, axes):
    """ValueError unless `shape` has `rank` axes, described by `axes` ('(batch, h, w, c)')."""
    if len(shape) != rank:
        raise ValueError(f"{who(layer)} expects inputs of rank {rank} {axes}, got shape "
                         f"{shape_str(shape)}")


def spatial_output(layer, input_shape, window, strides, padding, dilation=(1, 1)):
    """(height, width) after a sliding window (None where the input's is unknown), as Keras:
    'same' gives ceil(n / stride); 'valid' (n - dilated window) // stride + 1, which must be
    positive."""
    out = []
    for n, k, s, d in zip(input_shape[1:3], window, strides, dilation):
        if n is None:
            out.append(None)
        elif padding == "same":
            out.append(-(-n // s))
        else:
            out.append((n - (k - 1) * d - 1) // s + 1)
    if any(n is not None and n <= 0 for n in out):
        raise ValueError(f"{who(layer)}: its window {tuple(window)} (dilation "
                         f"{tuple(dilation)}) is larger than the input's (height, width) "
                         f"{tuple(input_shape[1:3])} with padding='valid'; input shape "
                         f"{shape_str(input_shape)}")
    return tuple(out)
