"""`keras.callbacks`."""
from ..callbacks import *  # noqa: F401,F403  (deepmath.callbacks defines __all__)
from ..callbacks import __all__  # noqa: F401
