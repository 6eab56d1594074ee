"""Matrix products: `matmul(a, b)` with NumPy's semantics (batched, broadcast, 1-D operands)."""
import numpy as np

from ._native_import import kernels

REFERENCE = {"matmul": np.matmul}
NATIVE = {}
