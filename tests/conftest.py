"""Shared fixtures."""
import pytest

import fakecupy


@pytest.fixture
def fake_gpu():
    """The GPU backend with NumPy standing in for CuPy (tests/fakecupy.py) and the CUDA kernels
    run by the CPU emulator when it is available; restores the CPU backend afterwards."""
    from deepmath import backend
    from deepmath.backend import cupy_backend
    try:
        from cuda_emulator import RawModule
    except ImportError:
        RawModule = None
    previous = backend.get_backend().name
    module = fakecupy.make_module(RawModule)
    cupy_backend.use_modules(module, fakecupy.special, fakecupy.scatter_add)
    try:
        yield module
    finally:
        if backend.get_backend().name == "cupy":
            backend.set_backend(previous if previous != "cupy" else "native")
        cupy_backend.use_modules(None, None)
