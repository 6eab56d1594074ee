"""`keras.activations`."""
from ..activations import (elu, exponential, gelu, get, hard_sigmoid, leaky_relu, linear,
                           log_softmax, relu, relu6, selu, serialize, sigmoid, silu, softmax,
                           softplus, softsign, swish, tanh)

__all__ = ["elu", "exponential", "gelu", "get", "hard_sigmoid", "leaky_relu", "linear",
           "log_softmax", "relu", "relu6", "selu", "serialize", "sigmoid", "silu", "softmax",
           "softplus", "softsign", "swish", "tanh"]
