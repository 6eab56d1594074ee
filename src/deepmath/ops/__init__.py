"""Differentiable operations. Each is one small definition: the forward computation and a
closure giving the operands' gradients from the output's (see `deepmath.tensor`)."""
from .arith import add, sub, mul, div, pow, neg, cast
from .unary import exp, log, sqrt, abs, sin, cos, tan, square
from .activations import (tanh, sigmoid, relu, leaky_relu, gelu, softplus, heaviside,
                          softmax, log_softmax)
from .reduce import sum, mean, max, min
from .shape import (reshape, transpose, permute, flatten, squeeze, expand_dims, concatenate,
                    stack, pad, getitem, where, clip, compare)
from .linalg import matmul
from .dense import dense
from .conv import conv2d
from .attention import scaled_dot_product_attention, self_attention
from .pool import max_pool2d, avg_pool2d
from . import losses
from .losses import (mean_squared_error, mean_absolute_error, mean_squared_logarithmic_error,
                     binary_crossentropy, categorical_crossentropy,
                     sparse_categorical_crossentropy, mse, mae, msle)
from .dropout import dropout
from .embedding import embedding
from .normalization import batch_norm, layer_norm
