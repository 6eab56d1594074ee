"""deepmath: the mathematics of neural networks, from the book *Deep Math*, with C kernels.

    import deepmath as dm
    x = dm.tensor(3.0, requires_grad=True)
    y = dm.cos(2 * x**2)
    y.backward()
    x.grad            # -12 sin 18, the book's chapter-1 example

On an NVIDIA GPU (optional, `pip install deepmath[gpu]`): `dm.set_backend('cupy')`, or
`with dm.device('gpu'):`, or `tensor.to('gpu')` / `model.to('gpu')`.
"""
from ._version import __version__
# First: config imports deepmath._kernels under deepmath's OpenMP wait policy (config.py).
from .config import get_num_threads, set_num_threads, show_config
from .backend import (GPUUnavailableError, available_backends, device, get_backend,
                      set_backend)
from .tensor import (Tensor, enable_grad, get_default_dtype, is_grad_enabled, no_grad,
                     set_default_dtype)
from .creation import (Variable, arange, full, linspace, manual_seed, ones, ones_like, rand,
                       randn, tensor, zeros, zeros_like)
from .autograd import GradientTape, grad, gradients
from .ops import (abs, add, avg_pool2d, binary_crossentropy, cast, categorical_crossentropy,
                  clip, concatenate, conv2d, cos, dense, div, exp, expand_dims, flatten, gelu,
                  heaviside, leaky_relu, log, log_softmax, mae, matmul, max, max_pool2d, mean,
                  mean_absolute_error, mean_squared_error, mean_squared_logarithmic_error, min,
                  mse, msle, mul, neg, pad, permute, pow, relu, reshape,
                  scaled_dot_product_attention, sigmoid, sin, softmax, softplus,
                  sparse_categorical_crossentropy, sqrt, square, squeeze, stack, sub, sum, tan,
                  tanh, transpose, where)
from . import ops, graph

from numpy import float32, float64  # noqa: E402  (dtype names, as torch.float32)

# The rest loads on first use (`dm.calculus`, `dm.keras`…): `import deepmath` stays quick.
_SUBMODULES = ("activations", "backprop", "calculus", "callbacks", "datasets", "descent",
               "facile", "gpt", "image", "initializers", "keras", "layers", "losses", "metrics",
               "models", "optimizers", "perceptron", "plot", "preprocessing", "proba",
               "saving", "schedules", "signal", "text", "utils")


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'deepmath' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
