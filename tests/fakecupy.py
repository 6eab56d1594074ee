"""NumPy standing in for CuPy (issue 8: the GPU backend tested without a GPU).

`DeviceArray` is a NumPy array that behaves like a CuPy array where it matters to deepmath:
operations on it give DeviceArrays (0-d ones for reductions, as CuPy), and mixing it with a
plain NumPy array raises CuPy's TypeError, so a host array leaking into a device computation
fails here as it would on a GPU. `module` is the stand-in for `cupy` (asarray/asnumpy,
get_array_module, a `cuda` namespace, RawModule from the CPU emulator of the CUDA kernels).
"""
import types

import numpy as np
from scipy import special as sp_special

_HOST_OK = {"asarray", "array", "asanyarray"}   # explicit host → device copies


class DeviceArray(np.ndarray):
    """A NumPy array posing as a CuPy array."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        inputs = _to_host(inputs, ufunc.__name__)
        if out is not None:
            kwargs["out"] = _to_host(out, ufunc.__name__)
        return _to_device(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        name = func.__name__
        return _to_device(func(*_to_host(args, name), **_to_host(kwargs, name)))

    def get(self):
        """A NumPy copy, as cupy.ndarray.get()."""
        return np.array(self.view(np.ndarray))

    def __repr__(self):
        return "DeviceArray(" + repr(self.view(np.ndarray)) + ")"


def _to_host(obj, where, host_ok=False):
    """Strip the DeviceArray class (for NumPy to compute); a plain array raises as CuPy."""
    if isinstance(obj, DeviceArray):
        return obj.view(np.ndarray)
    if isinstance(obj, np.ndarray):
        if host_ok:
            return obj
        raise TypeError(f"Unsupported type {type(obj)} in {where}: a NumPy array mixed with "
                        "device arrays (fakecupy, as CuPy)")
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_host(o, where, host_ok) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_host(v, where, host_ok) for k, v in obj.items()}
    return obj


def _to_device(obj):
    if isinstance(obj, np.ndarray):
        return obj if isinstance(obj, DeviceArray) else obj.view(DeviceArray)
    if isinstance(obj, np.generic):
        return np.asarray(obj).view(DeviceArray)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o) for o in obj)
    return obj


def _wrap(name, function):
    def device_function(*args, **kwargs):
        host_ok = name in _HOST_OK
        result = function(*_to_host(args, name, host_ok), **_to_host(kwargs, name, host_ok))
        if name in _HOST_OK and isinstance(result, np.ndarray):
            result = np.array(result, copy=True)    # a copy, never a view of host memory
        return _to_device(result)
    device_function.__name__ = name
    return device_function


class _FakeCupy(types.ModuleType):
    """`cupy` as far as deepmath uses it; any other NumPy function is wrapped on demand."""
    ndarray = DeviceArray

    def __getattr__(self, name):
        value = getattr(np, name)
        if callable(value) and not isinstance(value, type):
            value = _wrap(name, value)
        setattr(self, name, value)
        return value

    @staticmethod
    def asnumpy(a):
        return a.get() if isinstance(a, DeviceArray) else np.asarray(a)

    def get_array_module(self, *arrays):
        return self if any(isinstance(a, DeviceArray) for a in arrays) else np


def make_module(raw_module=None):
    """A fresh stand-in `cupy` module; `raw_module` is the RawModule class to offer (the CPU
    emulator of the CUDA kernels), or None for the array code alone."""
    fake = _FakeCupy("fakecupy")
    fake.random = types.SimpleNamespace(
        default_rng=lambda seed=None: np.random.default_rng(seed))
    fake.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        Device=lambda i=0: types.SimpleNamespace(id=i, synchronize=lambda: None),
        get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None))
    fake.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
        as_strided=_as_strided))
    if raw_module is not None:
        fake.RawModule = raw_module
    return fake


def _as_strided(x, shape=None, strides=None):
    """cupy.lib.stride_tricks.as_strided: no `writeable` argument."""
    return _to_device(np.lib.stride_tricks.as_strided(_to_host(x, "as_strided"), shape, strides))


class special:
    """cupyx.scipy.special's stand-in (erf, erfc)."""

    @staticmethod
    def erf(x):
        return _to_device(sp_special.erf(_to_host(x, "erf")))

    @staticmethod
    def erfc(x):
        return _to_device(sp_special.erfc(_to_host(x, "erfc")))


def scatter_add(a, index, values):
    """cupyx.scatter_add's stand-in: a[index] += values, repeated indices accumulating."""
    np.add.at(_to_host(a, "scatter_add"), _to_host(index, "scatter_add"),
              _to_host(values, "scatter_add"))


class NoReadBack:
    """Inside: reading a fake device array back to the host (float(), bool(), .get()…) raises,
    as a check that no host synchronisation happens."""

    NAMES = ("__float__", "__int__", "__bool__", "item", "tolist", "get")

    def __enter__(self):
        self.saved = {n: DeviceArray.__dict__.get(n) for n in self.NAMES}

        def refuse(self, *args, **kwargs):
            raise AssertionError("a device array was read back to the host")
        for n in self.NAMES:
            setattr(DeviceArray, n, refuse)
        return self

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            if f is None:
                delattr(DeviceArray, n)
            else:
                setattr(DeviceArray, n, f)
