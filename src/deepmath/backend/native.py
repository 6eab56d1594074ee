"""The native backend: NumPy plus the C kernels of `deepmath._kernels` (src/_kernels/)."""
from .. import _kernels
from .numpy_backend import NumpyBackend


class NativeBackend(NumpyBackend):
    """Routes the functions that have a C kernel to it; the rest is the NumPy reference."""
    name = "native"

    @staticmethod
    def relu(x):
        return _kernels.relu_forward(x)

    @staticmethod
    def relu_backward(x, grad):
        return _kernels.relu_backward(x, grad)
