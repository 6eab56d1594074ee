"""conv2d, differentiable (book, chapter "Convolution"; Keras Conv2D semantics: channels-last,
a correlation, the kernel (kh, kw, c_in, c_out) is not flipped).

    y = act(conv2d(x, w) + b)
    dz = dy * act'(.),  db = Σ dz,  dw = colsᵀ·dz,  dx = col2im(dz·wᵀ)

The forward and the three gradients are the backend's `conv2d_forward` / `conv2d_backward`
(C kernels with the native backend, NumPy with the reference one); the bias and activation are
fused into the forward kernel.
"""
from ..backend import backend_of
from ..backend.conv import _check, activation_code, apply_activation, conv2d_padding
from ._base import as_tensor, make, same_device


def conv2d(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None):
    """2-D convolution of x (n, h, w, c_in) by w (kh, kw, c_in, c_out), plus b (c_out,).

    strides, dilation: int or pair; padding: 'valid', 'same' (Keras/TF), an int, a pair
    (pad_h, pad_w), ((top, bottom), (left, right)) or (top, bottom, left, right);
    activation: None/'linear', 'relu', 'sigmoid', 'tanh', 'gelu', 'gelu_tanh'.
    Returns (n, ho, wo, c_out), differentiable w.r.t. x, w and b."""
    x = as_tensor(x)
    w = as_tensor(w, x)
    b = None if b is None else as_tensor(b, x)
    X, W, B = x.data, w.data, None if b is None else b.data
    _check(X, W, B)
    if X.dtype != W.dtype or (B is not None and B.dtype != X.dtype):
        raise TypeError(f"conv2d: dtypes differ: input {X.dtype}, kernel {W.dtype}"
                        + ("" if B is None else f", bias {B.dtype}"))
    code = activation_code(activation)
    conv2d_padding(X.shape[1:3], W.shape[:2], strides, padding, dilation)  # validates
    same_device("conv2d", x, w, b)
    bk = backend_of(X)
    args = (strides, padding, dilation)
    parents = (x, w) if b is None else (x, w, b)
    needs_grad = any(p.requires_grad for p in parents)
    if code in (4, 5) and needs_grad:
        # gelu's derivative needs the pre-activation: keep z, apply gelu outside the kernel
        yz = bk.conv2d_forward(X, W, B, *args, None)
        out = apply_activation(yz, code)
    else:
        out = bk.conv2d_forward(X, W, B, *args, activation)
        yz = out

    def backward(g):
        need = (x.requires_grad, w.requires_grad, b is not None and b.requires_grad)
        dx, dw, db = bk.conv2d_backward(X, W, yz if code else None, g, *args,
                                        activation, need=need)
        return (dx, dw) if b is None else (dx, dw, db)
    return make(out, "conv2d", parents, backward)
