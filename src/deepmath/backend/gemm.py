"""Matrix products and the dense layer (book, chapter "Réseau de neurones").

- `matmul(a, b)`: NumPy's semantics (batched, broadcast, 1-D operands).
- `dense_forward(x, w, b, activation) -> out`: act(x·w + b), x (..., n_in), w (n_in, n_out),
  b (n_out,) or None. The native version applies bias and activation in the GEMM's epilogue,
  while each tile of the output is still in cache.
- `dense_backward(x, w, saved, grad, activation) -> (dx, dw, db)`: `saved` is the forward's
  output for None/'linear', 'relu', 'sigmoid', 'tanh' (their derivatives are functions of the
  output) and the pre-activation x·w + b for 'gelu' and 'gelu_tanh' (see `SAVES_PREACT`).
  dZ = grad·act'(·), dX = dZ·wᵀ, dW = xᵀ·dZ, db = Σ_rows dZ (db is None when `b` was None is
  the caller's business: it is always returned). `need_dx=False` skips dX (None): the first
  layer's input needs no gradient, and its dX is the step's largest product.

The native versions never call numpy's BLAS (the products run on deepmath's GEMM), so their
OpenMP threads do not compete with OpenBLAS's pool.
"""
import math

import numpy as np

from ._arrays import array_module, erf
from ._native_import import kernels

ACTIVATIONS = (None, "linear", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")
#: Activations whose backward needs the pre-activation (the others use the output).
SAVES_PREACT = ("gelu", "gelu_tanh")

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of "
                         f"{', '.join(map(repr, ACTIVATIONS))}")
    return None if activation == "linear" else activation


def activation_reference(z, activation):
    """act(z) in z's array module, the formulas of the C epilogue (dm_gemm.c, act_s/act_d)."""
    activation = check_activation(activation)
    xp = array_module(z)
    if activation is None:
        return z
    if activation == "relu":
        return xp.where(z <= 0, xp.zeros((), z.dtype), z)
    if activation == "sigmoid":
        e = xp.exp(-xp.abs(z))
        return xp.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)
    if activation == "tanh":
        return xp.tanh(z)
    if activation == "gelu":
        return (0.5 * z * (1 + erf(z / math.sqrt(2)))).astype(z.dtype, copy=False)
    inner = _SQRT_2_OVER_PI * (z + 0.044715 * z * z * z)
    return (0.5 * z * (1 + xp.tanh(inner))).astype(z.dtype, copy=False)


def activation_grad(saved, grad, activation):
    """grad · act'(z), from the saved output (or pre-activation for gelu/gelu_tanh)."""
    activation = check_activation(activation)
    xp = array_module(saved, grad)
    if activation is None:
        return grad
    if activation == "relu":
        return grad * (saved > 0)
    if activation == "sigmoid":
        return grad * saved * (1 - saved)
    if activation == "tanh":
        return grad * (1 - saved * saved)
    z = saved
    if activation == "gelu":
        cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
        pdf = xp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return (grad * (cdf + z * pdf)).astype(grad.dtype, copy=False)
    t = xp.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z * z * z))
    d = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
    return (grad * d).astype(grad.dtype, copy=False)


# ---- references (NumPy, or CuPy: xp = the inputs' array module) ---------------------------------

def matmul_reference(a, b):
    return array_module(a, b).matmul(a, b)


def dense_forward_reference(x, w, b=None, activation=None):
    z = array_module(x, w, b).matmul(x, w)
    if b is not None:
        z = z + b
    return activation_reference(z, activation)


def dense_backward_reference(x, w, saved, grad, activation=None, need_dx=True, need_db=True):
    xp = array_module(x, w, saved, grad)
    dz = activation_grad(saved, grad, activation)
    x2 = x.reshape(-1, x.shape[-1])
    dz2 = dz.reshape(-1, dz.shape[-1])
    dx = xp.matmul(dz, w.T) if need_dx else None
    dw = xp.matmul(x2.T, dz2)
    db = dz2.sum(axis=0) if need_db else None
    return dx, dw, db


# ---- native: deepmath's GEMM -------------------------------------------------------------------

def dense_forward_native(x, w, b=None, activation=None):
    activation = check_activation(activation)
    if x.ndim < 1 or w.ndim != 2:
        raise ValueError(f"dense: x must have at least 1 dimension and w 2, got shapes "
                         f"{x.shape} and {w.shape}")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"dense: shapes {x.shape} and {w.shape} are not aligned "
                         f"({x.shape[-1]} != {w.shape[0]})")
    dtype = np.result_type(x.dtype, w.dtype) if b is None else \
        np.result_type(x.dtype, w.dtype, b.dtype)
    x2 = x.reshape(-1, x.shape[-1]).astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    if b is not None:
        b = b.astype(dtype, copy=False)
    out = kernels.gemm(x2, w, bias=b, act=activation)
    return out.reshape(x.shape[:-1] + (w.shape[1],))


def dense_backward_native(x, w, saved, grad, activation=None, need_dx=True, need_db=True):
    if activation in SAVES_PREACT:   # the C kernel: scipy's erf costs more than the GEMMs
        dz = kernels.gelu_backward(np.ascontiguousarray(saved), np.ascontiguousarray(grad),
                                   activation == "gelu_tanh")
    else:
        dz = activation_grad(saved, grad, activation)
    dz2 = np.ascontiguousarray(dz.reshape(-1, dz.shape[-1]))
    x2 = x.reshape(-1, x.shape[-1])
    dx = kernels.gemm(dz2, w, transb=True).reshape(x.shape) if need_dx else None  # dZ·Wᵀ
    dw = kernels.gemm(x2, dz2, transa=True)                   # Xᵀ·dZ, X read in place
    db = dz2.sum(axis=0) if need_db else None
    return dx, dw, db


REFERENCE = {"matmul": matmul_reference, "dense_forward": dense_forward_reference,
             "dense_backward": dense_backward_reference}
NATIVE = {} if kernels is None else {"matmul": kernels.matmul,
                                     "dense_forward": dense_forward_native,
                                     "dense_backward": dense_backward_native}
