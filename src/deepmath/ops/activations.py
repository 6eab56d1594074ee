"""Activation functions (book, chapter "Réseau de neurones" and "Probabilités": Heaviside, σ,
tanh, ReLU, softmax), written to stay finite for inputs of ±1000."""
from ..backend import backend_of
from ._base import as_tensor, make, normalize_axis, xp


def tanh(x):
    """tanh(x); tanh' = 1 - tanh², computed from the output."""
    x = as_tensor(x)
    bk = backend_of(x.data)
    out = bk.tanh(x.data)
    return make(out, "tanh", (x,), lambda g: (bk.tanh_backward(out, g),))


def _stable_sigmoid(X):
    """σ(X) for an array, finite for any input (the backend's kernel)."""
    return backend_of(X).sigmoid(X)


def sigmoid(x):
    """σ(x) = 1/(1+e^(-x)); σ' = σ(1-σ), computed from the output."""
    x = as_tensor(x)
    bk = backend_of(x.data)
    out = bk.sigmoid(x.data)
    return make(out, "sigmoid", (x,), lambda g: (bk.sigmoid_backward(out, g),))


def relu(x):
    """max(x, 0), with derivative 0 at 0 (as every framework)."""
    x = as_tensor(x)
    X, bk = x.data, backend_of(x.data)
    return make(bk.relu(X), "relu", (x,), lambda g: (bk.relu_backward(X, g),))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope·x otherwise (PyTorch's default slope 0.01)."""
    x = as_tensor(x)
    X, bk = x.data, backend_of(x.data)
    return make(bk.leaky_relu(X, negative_slope), "leaky_relu", (x,),
                lambda g: (bk.leaky_relu_backward(X, g, negative_slope),))


def gelu(x, approximate=False):
    """x·Φ(x) = x/2·(1 + erf(x/√2)) with Φ the normal distribution function (book, "ChatGPT –
    partie 2", §7), or GPT-2's tanh form x/2·(1 + th(√(2/π)·(x + 0.044715x³))) with
    `approximate=True` (or 'tanh').

    Erratum: the book (line 9968) prints th(√(2/π) + 0.44715x³), which is off by up to 0.5
    from GELU; the form above is within 5e-4 of x·Φ(x)."""
    x = as_tensor(x)
    X, bk = x.data, backend_of(x.data)
    approx = bool(approximate) and approximate != "none"
    return make(bk.gelu(X, approx), "gelu", (x,), lambda g: (bk.gelu_backward(X, g, approx),))


def softplus(x):
    """ln(1 + e^x), computed as max(x,0) + ln(1 + e^(-|x|)); derivative σ(x)."""
    x = as_tensor(x)
    X, bk = x.data, backend_of(x.data)
    return make(bk.softplus(X), "softplus", (x,), lambda g: (bk.softplus_backward(X, g),))


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
    if axes == (x.ndim - 1,):  # the usual case: the backend's row kernel
        bk = backend_of(x.data)
        out = bk.softmax(x.data)
        return make(out, "softmax", (x,), lambda g: (bk.softmax_backward(out, g),))
    e = xp(x.data).exp(x.data - x.data.max(axis=axes, keepdims=True))
    out = e / e.sum(axis=axes, keepdims=True)
    return make(out, "softmax", (x,),
                lambda g: (out * (g - (g * out).sum(axis=axes, keepdims=True)),))


def log_softmax(x, axis=-1):
    """x_i - ln Σ_j e^(x_j), stable for any finite input."""
    x = as_tensor(x)
    axes = _check_axis(x, axis)
    if axes == (x.ndim - 1,):
        bk = backend_of(x.data)
        out = bk.log_softmax(x.data)
        return make(out, "log_softmax", (x,), lambda g: (bk.log_softmax_backward(out, g),))
    shifted = x.data - x.data.max(axis=axes, keepdims=True)
    out = shifted - xp(x.data).log(xp(x.data).exp(shifted).sum(axis=axes, keepdims=True))
    return make(out, "log_softmax", (x,),
                lambda g: (g - xp(out).exp(out) * g.sum(axis=axes, keepdims=True),))


__all__ = ["tanh", "sigmoid", "relu", "leaky_relu", "gelu", "softplus", "heaviside",
           "softmax", "log_softmax"]
