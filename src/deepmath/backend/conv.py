"""conv kernels (see _families.py): REFERENCE and NATIVE tables."""
from ._native_import import kernels  # noqa: F401

REFERENCE = {}
NATIVE = {}
