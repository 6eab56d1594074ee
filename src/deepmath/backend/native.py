"""The native backend: the C kernels of `deepmath._kernels` (src/_kernels/) where a family has
one (its NATIVE table), the NumPy reference elsewhere."""
from .. import _kernels  # noqa: F401  (ImportError here means: no native backend)
from ._families import install
from .numpy_backend import NumpyBackend


class NativeBackend(NumpyBackend):
    name = "native"


install(NativeBackend, "NATIVE")
