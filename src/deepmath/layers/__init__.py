"""Keras' layers (`keras.layers`), on deepmath's autodiff and kernels."""
from .base import Input, InputLayer, KerasTensor, Layer
from .core import Dense


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def get_class(class_name):
    """The layer (or model) class of this name, among every Layer subclass defined."""
    for cls in _subclasses(Layer):
        if cls.__name__ == class_name:
            return cls
    raise ValueError(f"unknown layer class {class_name!r}")


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """A new layer from {'class_name': ..., 'config': ...} (as `serialize` writes it)."""
    return get_class(config["class_name"]).from_config(dict(config["config"]))
