"""`kernels`: the compiled module deepmath._kernels, or None when it was not built."""
try:
    from .. import _kernels as kernels
except ImportError:
    kernels = None
