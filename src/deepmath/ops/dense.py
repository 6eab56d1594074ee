"""The dense (fully connected) layer as one differentiable op: act(x·w + b).

x (..., n_in), w (n_in, n_out) as Keras, b (n_out,) or None. The forward runs on the backend's
`dense_forward` (native: one GEMM whose epilogue adds b and applies the activation), the
backward on `dense_backward`: dZ from the saved output (or the pre-activation for 'gelu' and
'gelu_tanh'), dX = dZ·wᵀ, dW = xᵀ·dZ, db = column sums of dZ.
Activations: None/'linear', 'relu', 'sigmoid', 'tanh', 'gelu' (erf), 'gelu_tanh'.
"""
from ..backend import backend_of
from ..backend.gemm import SAVES_PREACT, check_activation
from ._base import as_tensor, make, same_device


def dense(x, w, b=None, activation=None):
    activation = check_activation(activation)
    x = as_tensor(x)
    w = as_tensor(w, x)
    b = None if b is None else as_tensor(b, x)
    X, W, Bias = x.data, w.data, None if b is None else b.data
    if W.ndim != 2 or X.ndim < 1:
        raise ValueError(f"dense: x must have at least 1 dimension and w must be 2-D, got "
                         f"shapes {X.shape} and {W.shape}")
    if X.shape[-1] != W.shape[0]:
        raise ValueError(f"dense: shapes {X.shape} and {W.shape} are not aligned "
                         f"({X.shape[-1]} != {W.shape[0]})")
    if Bias is not None and Bias.shape != (W.shape[1],):
        raise ValueError(f"dense: b has shape {Bias.shape}; expected ({W.shape[1]},)")
    same_device("dense", x, w, b)
    bk = backend_of(X)
    if activation in SAVES_PREACT:
        saved = bk.dense_forward(X, W, Bias, None)
        out = bk.gelu(saved, activation == "gelu_tanh")
    else:
        out = saved = bk.dense_forward(X, W, Bias, activation)

    def backward(g):
        dx, dw, db = bk.dense_backward(X, W, saved, g, activation, need_dx=x.requires_grad,
                                       need_db=b is not None and b.requires_grad)
        return (dx, dw) if b is None else (dx, dw, db)
    return make(out, "dense", (x, w) if b is None else (x, w, b), backward)
