"""Kernel families: each module here (gemm, conv, pool, attention, fused, norm) holds the NumPy
reference of its kernels in a `REFERENCE` table and the C versions in a `NATIVE` table
(name → function). The backends are filled from those tables, so a family adds a kernel by
adding it to its own module."""
import importlib

FAMILIES = ("gemm", "conv", "pool", "attention", "fused", "norm")


def install(backend_class, table):
    """Set every function of `table` ('REFERENCE' or 'NATIVE') of every family on the class."""
    for family in FAMILIES:
        module = importlib.import_module(f"{__package__}.{family}")
        for name, function in getattr(module, table, {}).items():
            setattr(backend_class, name, staticmethod(function))
