"""The reference backend: every kernel in plain NumPy/SciPy (the families' REFERENCE tables)."""
import numpy as np
from scipy import special

from ._families import install


class NumpyBackend:
    """Array module and kernels, written with NumPy only."""
    name = "numpy"
    xp = np

    @staticmethod
    def erf(x):
        return special.erf(x)


install(NumpyBackend, "REFERENCE")
