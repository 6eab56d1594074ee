"""Activation functions (book, chapter "Réseau de neurones" and "Probabilités": Heaviside, σ,
tanh, ReLU, softmax), written to stay finite for inputs of ±1000."""
import math


from ..backend import get_backend
from ._base import as_tensor, make, normalize_axis, xp


def tanh(x):
    x = as_tensor(x)
    out = xp().tanh(x.data)
    return make(out, "tanh", (x,), lambda g: (g * (1 - out * out),))


def _stable_sigmoid(X):
    e = xp().exp(-xp().abs(X))  # never overflows
    return xp().where(X >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(x):
    """σ(x) = 1/(1+e^(-x)); σ' = σ(1-σ)."""
    x = as_tensor(x)
    out = _stable_sigmoid(x.data).astype(x.dtype, copy=False)
    return make(out, "sigmoid", (x,), lambda g: (g * out * (1 - out),))


def relu(x):
    """max(x, 0), with derivative 0 at 0 (as every framework)."""
    x = as_tensor(x)
    X, bk = x.data, get_backend()
    return make(bk.relu(X), "relu", (x,), lambda g: (bk.relu_backward(X, g),))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope·x otherwise (PyTorch's default slope 0.01)."""
    x = as_tensor(x)
    X = x.data
    slope = xp().where(X > 0, 1, negative_slope).astype(X.dtype, copy=False)
    return make(X * slope, "leaky_relu", (x,), lambda g: (g * slope,))


def gelu(x, approximate=False):
    """x·Φ(x) with Φ the normal distribution function (erf form), or GPT-2's tanh form with
    `approximate=True` (or 'tanh')."""
    x = as_tensor(x)
    X, m = x.data, xp()
    if approximate and approximate != "none":
        c = math.sqrt(2 / math.pi)
        inner = c * (X + 0.044715 * X ** 3)
        t = m.tanh(inner)
        out = 0.5 * X * (1 + t)

        def backward(g):
            return (g * (0.5 * (1 + t) + 0.5 * X * (1 - t * t) * c * (1 + 3 * 0.044715 * X * X)),)
    else:
        cdf = 0.5 * (1 + get_backend().erf(X / math.sqrt(2)))
        out = X * cdf

        def backward(g):
            return (g * (cdf + X * m.exp(-0.5 * X * X) / math.sqrt(2 * math.pi)),)
    return make(out.astype(X.dtype, copy=False), "gelu", (x,), backward)


def softplus(x):
    """ln(1 + e^x), computed as max(x,0) + ln(1 + e^(-|x|)); derivative σ(x)."""
    x = as_tensor(x)
    X, m = x.data, xp()
    out = m.maximum(X, 0) + m.log1p(m.exp(-m.abs(X)))
    return make(out, "softplus", (x,), lambda g: (g * _stable_sigmoid(X),))


def heaviside(x, straight_through=False):
    """The step H(x) = 1 if x ≥ 0 else 0 (book: H(0) = 1). Its derivative is 0; with
    `straight_through=True` it is the book's virtual step H̃ with H̃' = 1 (the Hebb rule)."""
    x = as_tensor(x)
    out = (x.data >= 0).astype(x.dtype)
    if straight_through:
        return make(out, "heaviside_st", (x,), lambda g: (g,))
    return make(out, "heaviside", (x,), lambda g: (None,))


def _check_axis(x, axis):
    if x.ndim == 0:
        raise ValueError("softmax needs a tensor with at least one dimension")
    return normalize_axis(axis, x.ndim)


def softmax(x, axis=-1):
    """e^(x_i) / Σ_j e^(x_j) along `axis` (book, chapter "Probabilités")."""
    x = as_tensor(x)
    axes = _check_axis(x, axis)
    e = xp().exp(x.data - x.data.max(axis=axes, keepdims=True))
    out = e / e.sum(axis=axes, keepdims=True)
    return make(out, "softmax", (x,),
                lambda g: (out * (g - (g * out).sum(axis=axes, keepdims=True)),))


def log_softmax(x, axis=-1):
    """x_i - ln Σ_j e^(x_j), stable for any finite input."""
    x = as_tensor(x)
    axes = _check_axis(x, axis)
    shifted = x.data - x.data.max(axis=axes, keepdims=True)
    out = shifted - xp().log(xp().exp(shifted).sum(axis=axes, keepdims=True))
    return make(out, "log_softmax", (x,),
                lambda g: (g - xp().exp(out) * g.sum(axis=axes, keepdims=True),))


__all__ = ["tanh", "sigmoid", "relu", "leaky_relu", "gelu", "softplus", "heaviside",
           "softmax", "log_softmax"]
