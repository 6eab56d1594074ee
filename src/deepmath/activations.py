"""Activation functions by Keras' names (`keras.activations`), as functions of tensors.

`get(name_or_callable)` gives the function; `fusable(identifier)` the name the dense and conv
kernels apply in their epilogue (None when the activation must run as its own op). Any
callable of one tensor works as an activation (the book's `heaviside`), as in Keras.
"""
from . import ops

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def linear(x):
    return x


def relu(x):
    return ops.relu(x)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def gelu(x, approximate=False):
    return ops.gelu(x, approximate)


def softplus(x):
    return ops.softplus(x)


def softsign(x):
    return x / (ops.abs(x) + 1)


def leaky_relu(x, negative_slope=0.2):
    """Keras' default slope is 0.2."""
    return ops.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    """x for x > 0, α(eˣ - 1) otherwise."""
    x = ops._base.as_tensor(x)
    negative = ops.exp(ops.clip(x, None, 0)) - 1
    return ops.where(x.data > 0, x, alpha * negative)


def selu(x):
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def swish(x):
    """x·σ(x) (also `silu`)."""
    return x * ops.sigmoid(x)


def exponential(x):
    return ops.exp(x)


def relu6(x):
    return ops.clip(ops.relu(x), None, 6.0)


def hard_sigmoid(x):
    """relu6(x + 3) / 6 (Keras 3)."""
    return relu6(x + 3.0) / 6.0


silu = swish

_BY_NAME = {f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, log_softmax, gelu,
                                      softplus, softsign, leaky_relu, elu, selu, swish,
                                      exponential, relu6, hard_sigmoid)}
_BY_NAME["silu"] = swish
_FUSABLE = {"linear": None, "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh",
            "gelu": "gelu"}


def get(identifier):
    """The activation function for a name, None ('linear') or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]
        except KeyError:
            raise ValueError(f"unknown activation {identifier!r}; known: "
                             f"{', '.join(sorted(_BY_NAME))}, or any callable") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"an activation must be a name or a callable, got {identifier!r}")


def fusable(identifier):
    """(True, kernel name) when a dense/conv kernel applies this activation itself."""
    fn = get(identifier)
    name = getattr(fn, "__name__", None)
    if _BY_NAME.get(name) is fn and name in _FUSABLE:
        return True, _FUSABLE[name]
    return False, None


def serialize(identifier):
    """The name Keras writes in a config (a callable's __name__)."""
    fn = get(identifier)
    return getattr(fn, "__name__", repr(fn))
