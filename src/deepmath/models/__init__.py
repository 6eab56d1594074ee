"""Keras' models (`keras.models`): the functional `Model`, `Sequential`, and loading."""
from .functional import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
