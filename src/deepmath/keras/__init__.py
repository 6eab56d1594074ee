"""The import paths of `tensorflow.keras` over deepmath. A book program runs after changing
`from tensorflow.keras.layers import Dense` into `from deepmath.keras.layers import Dense`
(and `from tensorflow import keras` into `from deepmath import keras`)."""
from . import (activations, backend, callbacks, datasets, initializers, layers, losses, metrics,
               models, optimizers, preprocessing, utils)
from .layers import Input
from .models import Model, Sequential

__all__ = ["activations", "backend", "callbacks", "datasets", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "preprocessing", "utils", "Input", "Model",
           "Sequential"]
