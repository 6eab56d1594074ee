"""deepmath: the mathematics of neural networks, from the book *Deep Math*, with C kernels.

    import deepmath as dm
    x = dm.tensor(3.0, requires_grad=True)
    y = dm.cos(2 * x**2)
    y.backward()
    x.grad            # -12 sin 18, the book's chapter-1 example
"""
from ._version import __version__
from .backend import available_backends, get_backend, set_backend
from .tensor import (Tensor, enable_grad, get_default_dtype, is_grad_enabled, no_grad,
                     set_default_dtype)
from .creation import (Variable, arange, full, linspace, manual_seed, ones, ones_like, rand,
                       randn, tensor, zeros, zeros_like)
from .autograd import GradientTape, grad, gradients
from .ops import (abs, add, binary_crossentropy, cast, categorical_crossentropy, clip,
                  concatenate, cos, div, exp, expand_dims, flatten, gelu, heaviside,
                  leaky_relu, log, log_softmax, matmul, max, mean, mean_absolute_error,
                  mean_squared_error, mean_squared_logarithmic_error, min, mae, mse, msle,
                  mul, neg, pad,
                  permute, pow, relu, reshape, sigmoid, sin, softmax, softplus,
                  sparse_categorical_crossentropy, sqrt, square, squeeze, stack, sub, sum, tan,
                  tanh, transpose, where)
from . import ops, graph
from .config import get_num_threads, set_num_threads, show_config

from numpy import float32, float64  # noqa: E402  (dtype names, as torch.float32)
