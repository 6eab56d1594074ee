"""`keras.models`: Sequential, Model, load_model, save_model."""
from ..models import Model, Sequential
from ..saving import load_model, save_model

__all__ = ["Model", "Sequential", "load_model", "save_model"]
