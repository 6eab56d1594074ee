"""2-D convolution, channels-last (Keras Conv2D: a correlation, the kernel is not flipped).

x (n, h, w, c_in), kernel (kh, kw, c_in, c_out), bias (c_out,) or None, output
(n, ho, wo, c_out) = act(conv + bias).

- `conv2d_padding(...)` turns 'valid' / 'same' / an int / pairs into explicit pads;
- `conv2d_forward(x, w, b, strides, padding, dilation, activation)` and
  `conv2d_backward(x, w, out_or_preact, grad, strides, padding, dilation, activation)
  -> (dx, dw, db)` exist as a plain-NumPy REFERENCE and as the NATIVE C kernels (dm_conv.c).

`out_or_preact` is the forward output for relu/sigmoid/tanh (their derivatives are functions of
it), the pre-activation for gelu/gelu_tanh, and is ignored for no activation.
"""
import numbers

import numpy as np

from ._arrays import array_module
from ._native_import import kernels
from .gemm import activation_grad as dense_activation_grad, activation_reference

#: Activation names -> DM_ACT_* codes of src/_kernels/dm_gemm.h.
ACTIVATIONS = {None: 0, "linear": 0, "none": 0, "relu": 1, "sigmoid": 2, "tanh": 3,
               "gelu": 4, "gelu_tanh": 5}


def activation_code(activation):
    """The DM_ACT_* code of an activation name (None / 'linear' mean none)."""
    key = activation.lower() if isinstance(activation, str) else activation
    if key not in ACTIVATIONS:
        raise ValueError(f"conv2d: unknown activation {activation!r}; expected one of "
                         "None, 'linear', 'relu', 'sigmoid', 'tanh', 'gelu', 'gelu_tanh'")
    return ACTIVATIONS[key]


def _pair(value, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = (int(v) for v in value)
        if any(not isinstance(v, numbers.Integral) or isinstance(v, bool) for v in value):
            raise TypeError
    except (TypeError, ValueError):
        raise TypeError(f"conv2d: {name} must be an int or a pair of ints, got {value!r}") \
            from None
    if a < 1 or b < 1:
        raise ValueError(f"conv2d: {name} must be >= 1, got {value!r}")
    return a, b


def conv2d_padding(in_hw, kernel_hw, strides=1, padding="valid", dilation=1):
    """Explicit pads and output size: ((top, bottom, left, right), (ho, wo)).

    padding: 'valid' (none), 'same' (Keras/TF: out = ceil(in / stride), pad_total =
    max((out-1)*stride + (k-1)*dilation + 1 - in, 0), top = pad_total // 2, the extra one at the
    bottom/right), an int (all four sides), a pair (pad_h, pad_w) on both sides, a pair of
    pairs ((top, bottom), (left, right)) or a 4-tuple (top, bottom, left, right).
    Raises ValueError if the dilated kernel is larger than the padded input."""
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilation, "dilation")
    (h, w), (kh, kw) = in_hw, kernel_hw
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            pads = (0, 0, 0, 0)
        elif mode == "same":
            pads = []
            for size, k, s, d in ((h, kh, sh, dh), (w, kw, sw, dw)):
                out = -(-size // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                pads += [total // 2, total - total // 2]
            pads = tuple(pads)
        else:
            raise ValueError(f"conv2d: padding must be 'valid', 'same', an int or pairs, got "
                             f"{padding!r}")
    elif isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        pads = (int(padding),) * 4
    else:
        items = tuple(padding)
        if len(items) == 2 and all(isinstance(p, numbers.Integral) for p in items):
            pads = (int(items[0]), int(items[0]), int(items[1]), int(items[1]))
        elif len(items) == 2:
            pads = tuple(int(v) for p in items for v in p)
        elif len(items) == 4:
            pads = tuple(int(v) for v in items)
        else:
            raise ValueError(f"conv2d: cannot read padding {padding!r}")
        if len(pads) != 4:
            raise ValueError(f"conv2d: cannot read padding {padding!r}")
    if min(pads) < 0:
        raise ValueError(f"conv2d: padding must be >= 0, got {padding!r}")
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if kh < 1 or kw < 1 or ekh > hp or ekw > wp:
        raise ValueError(f"conv2d: kernel of size {(kh, kw)} (dilated {(ekh, ekw)}) is larger "
                         f"than the input of size {(h, w)} padded to {(hp, wp)}")
    return pads, ((hp - ekh) // sh + 1, (wp - ekw) // sw + 1)


def _check(x, w, b=None):
    if x.ndim != 4:
        raise ValueError(f"conv2d: input must have rank 4 (n, h, w, c_in), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: kernel must have rank 4 (kh, kw, c_in, c_out), got shape "
                         f"{w.shape}")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"conv2d: input of shape {x.shape} has {x.shape[3]} channels but "
                         f"kernel of shape {w.shape} expects {w.shape[2]}")
    if b is not None and tuple(b.shape) != (w.shape[3],):
        raise ValueError(f"conv2d: bias of shape {b.shape} does not match kernel of shape "
                         f"{w.shape}")


# ---- activations: the dense layer's NumPy transcription of the C epilogue ---------------------

_NAMES = {0: None, 1: "relu", 2: "sigmoid", 3: "tanh", 4: "gelu", 5: "gelu_tanh"}


def apply_activation(z, code):
    """act(z) for a DM_ACT_* code, in z's array module."""
    return activation_reference(z, _NAMES[code])


def activation_grad(code, yz, grad):
    """grad * act'(.) given the output (relu, sigmoid, tanh) or pre-activation (gelu)."""
    return dense_activation_grad(yz, grad, _NAMES[code])


# ---- reference (NumPy, or CuPy: xp = the inputs' array module) ----------------------------------

def _windows(xpad, kh, kw, sh, sw, dh, dw, ho, wo):
    """(n, ho, wo, kh, kw, c) view of the padded input: the receptive field of each output."""
    xp = array_module(xpad)
    n, _, _, c = xpad.shape
    s = xpad.strides
    shape = (n, ho, wo, kh, kw, c)
    strides = (s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3])
    if xp is np:
        return np.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(xpad, shape, strides)   # CuPy: no `writeable`


def conv2d_forward_reference(x, w, b=None, strides=1, padding="valid", dilation=1,
                             activation=None):
    _check(x, w, b)
    xp = array_module(x, w, b)
    code = activation_code(activation)
    (sh, sw), (dh, dw) = _pair(strides, "strides"), _pair(dilation, "dilation")
    pads, (ho, wo) = conv2d_padding(x.shape[1:3], w.shape[:2], strides, padding, dilation)
    xpad = xp.pad(x, ((0, 0), pads[:2], pads[2:], (0, 0)))
    win = _windows(xpad, w.shape[0], w.shape[1], sh, sw, dh, dw, ho, wo)
    z = xp.tensordot(win, w, axes=([3, 4, 5], [0, 1, 2])).astype(x.dtype, copy=False)
    if b is not None:
        z = z + b
    return apply_activation(z, code)


def conv2d_backward_reference(x, w, out_or_preact, grad, strides=1, padding="valid",
                              dilation=1, activation=None, need=(True, True, True)):
    _check(x, w)
    xp = array_module(x, w, out_or_preact, grad)
    code = activation_code(activation)
    (sh, sw), (dh, dw) = _pair(strides, "strides"), _pair(dilation, "dilation")
    kh, kw = w.shape[:2]
    pads, (ho, wo) = conv2d_padding(x.shape[1:3], (kh, kw), strides, padding, dilation)
    dz = activation_grad(code, out_or_preact, grad)
    xpad = xp.pad(x, ((0, 0), pads[:2], pads[2:], (0, 0)))
    win = _windows(xpad, kh, kw, sh, sw, dh, dw, ho, wo)
    dw_ = xp.tensordot(win, dz, axes=([0, 1, 2], [0, 1, 2])).astype(x.dtype, copy=False)
    db = dz.sum(axis=(0, 1, 2))
    dxp = xp.zeros_like(xpad)
    for i in range(kh):           # each kernel tap scatters dz·w[i, j]ᵀ into its window
        for j in range(kw):
            contrib = dz @ w[i, j].T  # (n, ho, wo, c_in)
            r0, c0 = i * dh, j * dw
            dxp[:, r0:r0 + (ho - 1) * sh + 1:sh, c0:c0 + (wo - 1) * sw + 1:sw, :] += contrib
    dx = dxp[:, pads[0]:pads[0] + x.shape[1], pads[2]:pads[2] + x.shape[2], :]
    grads = (xp.ascontiguousarray(dx), dw_, db.astype(x.dtype, copy=False))
    return tuple(g if n else None for g, n in zip(grads, need))


# ---- native (C kernels) ----------------------------------------------------------------------

def conv2d_forward_native(x, w, b=None, strides=1, padding="valid", dilation=1,
                          activation=None):
    code = activation_code(activation)
    pads, _ = conv2d_padding(x.shape[1:3], w.shape[:2], strides, padding, dilation) \
        if x.ndim == 4 and w.ndim == 4 else ((0, 0, 0, 0), None)
    return kernels.conv2d_forward(x, w, b, _pair(strides, "strides"), pads,
                                  _pair(dilation, "dilation"), code)


def conv2d_backward_native(x, w, out_or_preact, grad, strides=1, padding="valid", dilation=1,
                           activation=None, need=(True, True, True)):
    code = activation_code(activation)
    pads, _ = conv2d_padding(x.shape[1:3], w.shape[:2], strides, padding, dilation) \
        if x.ndim == 4 and w.ndim == 4 else ((0, 0, 0, 0), None)
    return kernels.conv2d_backward(x, w, out_or_preact, grad, _pair(strides, "strides"), pads,
                                   _pair(dilation, "dilation"), code, *need)


REFERENCE = {"conv2d_forward": conv2d_forward_reference,
             "conv2d_backward": conv2d_backward_reference}
NATIVE = {} if kernels is None or not hasattr(kernels, "conv2d_forward") else {
    "conv2d_forward": conv2d_forward_native, "conv2d_backward": conv2d_backward_native}
