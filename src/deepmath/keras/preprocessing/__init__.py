"""`keras.preprocessing`."""
from . import image

__all__ = ["image"]
