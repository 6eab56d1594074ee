"""The GPU backend (DESIGN.md, Backends): CuPy arrays through the families' array code, and
CUDA kernels (backend/cuda/*.cu, launched by `cuda_kernels`) where that code is slow.

CuPy is imported only when the GPU is asked for (`set_backend('cupy')`, `device('gpu')`,
`Tensor.to('gpu')`, `DEEPMATH_BACKEND=cupy`). Tests without a GPU install a stand-in array
module with `use_modules` (tests/fakecupy.py): every line but the CUDA kernels' launches then
runs on NumPy arrays posing as device arrays.
"""
from types import SimpleNamespace

from . import _arrays
from .numpy_backend import NumpyBackend


class GPUUnavailableError(RuntimeError):
    """The GPU was asked for but CuPy or a CUDA device is missing."""


def load():
    """The GPU modules, imported on first use; a one-sentence error when they are unusable."""
    if _arrays.gpu is not None:
        return _arrays.gpu
    try:
        import cupy
        import cupyx
        import cupyx.scipy.special
    except ImportError:
        raise GPUUnavailableError(
            "the GPU backend needs CuPy, which is not installed: run "
            "`pip install deepmath[gpu]` (or the cupy-cudaXXx wheel matching your CUDA "
            "version), or stay on the CPU backend") from None
    try:
        count, why = cupy.cuda.runtime.getDeviceCount(), "no device found"
    except Exception as err:  # CUDARuntimeError: no driver, or the driver is too old
        count, why = 0, str(err)
    if count == 0:
        raise GPUUnavailableError(
            f"CuPy is installed but finds no usable CUDA device ({why}): check the NVIDIA "
            "driver with `nvidia-smi`, or stay on the CPU backend")
    use_modules(cupy, cupyx.scipy.special, cupyx.scatter_add)
    return _arrays.gpu


def use_modules(xp, special=None, scatter_add=None):
    """Make `xp` the GPU array module, with `special` its scipy.special (erf, erfc) and its
    scatter-add, as cupyx's; None unloads it."""
    _arrays.gpu = None if xp is None else \
        SimpleNamespace(xp=xp, special=special, scatter_add=scatter_add)
    CupyBackend.instance = None


class CupyBackend(NumpyBackend):
    """The families' array code with `xp` = CuPy, and the CUDA kernels of `cuda_kernels`."""
    name = "cupy"
    instance = None

    def __new__(cls):
        if cls.instance is None:   # one per loaded array module: the kernels compile once
            gpu = load()
            self = object.__new__(cls)
            self.xp = gpu.xp
            if hasattr(gpu.xp, "RawModule"):
                from . import cuda_kernels
                for name, function in cuda_kernels.load(gpu.xp).table().items():
                    setattr(self, name, function)
            cls.instance = self
        return cls.instance
