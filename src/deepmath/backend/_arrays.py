"""Which array module an array belongs to, without importing CuPy (the GPU modules are set by
cupy_backend.use_modules once loaded). Kernel references take `xp = array_module(x)`."""
import numpy as np

gpu = None   # SimpleNamespace(xp=<GPU array module>, special=..., scatter_add=...) once loaded


def is_device_array(a):
    """True for an array of the GPU array module."""
    return gpu is not None and isinstance(a, gpu.xp.ndarray)


def array_module(*arrays):
    """numpy, or the GPU array module when one of `arrays` is a GPU array."""
    if gpu is not None:
        for a in arrays:
            if isinstance(a, gpu.xp.ndarray):
                return gpu.xp
    return np


def erf(x):
    """The error function on x's device (SciPy's on the CPU, cupyx's on the GPU)."""
    if is_device_array(x):
        return gpu.special.erf(x)
    from scipy import special
    return special.erf(x)


def erfc(x):
    """1 - erf(x) without cancellation, on x's device."""
    if is_device_array(x):
        return gpu.special.erfc(x)
    from scipy import special
    return special.erfc(x)


def to_numpy(a):
    """`a` as a NumPy array (copied from the GPU when it lives there)."""
    if is_device_array(a):
        return gpu.xp.asnumpy(a)
    return np.asarray(a)


def index_add(target, index, values):
    """target[index] += values, repeated indices accumulating (np.add.at; on the GPU the
    module's scatter_add, cupyx.scatter_add)."""
    if is_device_array(target):
        gpu.scatter_add(target, index, values)
    else:
        np.add.at(target, index, values)
