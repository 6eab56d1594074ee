"""Array backends (DESIGN.md, Backends): the Tensor computes through one of them.

- `numpy`: the reference, plain NumPy (and SciPy for erf);
- `native`: NumPy plus deepmath's C kernels (`deepmath._kernels`), the default when built.

Operations ask `get_backend()` for the array module `xp` and for the few functions a backend
may accelerate, so a CuPy backend can be added without touching any op definition.
"""
import os

from .numpy_backend import NumpyBackend

_BACKENDS = {"numpy": NumpyBackend}
try:
    from .native import NativeBackend
    _BACKENDS["native"] = NativeBackend
except ImportError:  # extension not built: the reference backend still works
    NativeBackend = None

_current = None


def available_backends():
    """Names of the backends usable in this installation."""
    return list(_BACKENDS)


def set_backend(name):
    """Select the backend by name ('numpy' or 'native')."""
    global _current
    if name not in _BACKENDS:
        raise ValueError(f"unknown or unavailable backend {name!r}; available: "
                         f"{', '.join(_BACKENDS)}")
    _current = _BACKENDS[name]()
    return _current


def get_backend():
    """The backend in use (`DEEPMATH_BACKEND` picks it at start; native when built)."""
    return _current


set_backend(os.environ.get("DEEPMATH_BACKEND") or ("native" if "native" in _BACKENDS else "numpy"))
