"""Keras' layers (`keras.layers`), on deepmath's autodiff and kernels."""
from .base import Input, InputLayer, KerasTensor, Layer
from .core import Activation, Dense
from .conv import Conv2D
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                      GlobalMaxPool2D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .reshaping import Flatten, Reshape
from .dropout import Dropout
from .embedding import Embedding
from .normalization import BatchNormalization, LayerNormalization
from .attention import MultiHeadAttention


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
