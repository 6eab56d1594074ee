"""The reference backend: every kernel in plain NumPy/SciPy (the families' REFERENCE tables)."""
import numpy as np

from ._families import install


class NumpyBackend:
    """Array module and kernels, written with NumPy only."""
    name = "numpy"
    xp = np


install(NumpyBackend, "REFERENCE")
