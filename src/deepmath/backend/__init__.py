"""Array backends (DESIGN.md, Backends): the Tensor computes through one of them.

- `numpy`: the reference, plain NumPy (and SciPy for erf);
- `native`: NumPy plus deepmath's C kernels (`deepmath._kernels`), the default when built;
- `cupy`: the GPU (optional; CuPy is imported only when asked for, see cupy_backend.py).

The selected backend decides where new tensors live. An operation runs on the backend of its
operands' device (`backend_of`): a GPU array goes to the CuPy backend, a NumPy array to the CPU
backend (native, or numpy when that one is selected). Operations ask for the array module `xp`
and for the few functions a backend may accelerate, never for numpy directly.
"""
import contextlib
import os

from . import _arrays, cupy_backend
from ._arrays import array_module, is_device_array, to_numpy  # noqa: F401  (re-exported)
from .cupy_backend import CupyBackend, GPUUnavailableError
from .numpy_backend import NumpyBackend

_BACKENDS = {"numpy": NumpyBackend}
try:
    from .native import NativeBackend
    _BACKENDS["native"] = NativeBackend
except ImportError:  # extension not built: the reference backend still works
    NativeBackend = None
_BACKENDS["cupy"] = CupyBackend
_DEVICES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}

_current = None       # the selected backend
_cpu = None           # the backend of NumPy arrays: the selected one, or native when it is cupy


def available_backends():
    """Names of the backends usable in this installation ('cupy' only with CuPy and a GPU)."""
    names = [n for n in _BACKENDS if n != "cupy"]
    try:
        cupy_backend.load()
        names.append("cupy")
    except GPUUnavailableError:
        pass
    return names


def set_backend(name):
    """Select the backend by name ('numpy', 'native' or 'cupy'); returns it."""
    global _current, _cpu
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(_BACKENDS)}")
    if name == "native" and NativeBackend is None:
        raise ValueError("the native backend is unavailable: deepmath's C extension was not "
                         "built in this installation; use 'numpy'")
    _current = _BACKENDS[name]()
    if name != "cupy":
        _cpu = _current
    return _current


def get_backend():
    """The selected backend (`DEEPMATH_BACKEND` picks it at start; native when built)."""
    return _current


def backend_of(a):
    """The backend that computes on array `a`: CuPy's for a GPU array, else the CPU one."""
    if _arrays.gpu is not None and is_device_array(a):
        return CupyBackend()
    return _cpu


def device_of(a):
    """'gpu' for a GPU array, else 'cpu'."""
    return "gpu" if is_device_array(a) else "cpu"


def check_device(name):
    """A device name ('cpu', 'gpu' or 'cuda'), normalised to 'cpu' or 'gpu'."""
    key = name.split(":")[0].lower() if isinstance(name, str) else None
    if key not in _DEVICES:
        raise ValueError(f"unknown device {name!r}; expected 'cpu' or 'gpu' (or 'cuda')")
    return _DEVICES[key]


def to_device(a, device):
    """Array `a` on `device` ('cpu' → numpy, 'gpu' → CuPy): itself when already there."""
    device = check_device(device)
    if device == "gpu":
        xp = cupy_backend.load().xp
        return a if isinstance(a, xp.ndarray) else xp.asarray(a)
    return to_numpy(a)


def default_device():
    """Where new tensors are created: 'gpu' under the cupy backend, else 'cpu'."""
    return "gpu" if isinstance(_current, CupyBackend) else "cpu"


@contextlib.contextmanager
def device(name):
    """`with deepmath.device('gpu'):` creates tensors (and models' weights) on that device."""
    target = "cupy" if check_device(name) == "gpu" else _cpu.name
    previous = _current.name
    set_backend(target)
    try:
        yield
    finally:
        set_backend(previous)


set_backend("native" if "native" in _BACKENDS else "numpy")
if os.environ.get("DEEPMATH_BACKEND"):
    set_backend(os.environ["DEEPMATH_BACKEND"])
