"""`keras.optimizers` (and `keras.optimizers.schedules`)."""
from ...optimizers import (SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop, deserialize,
                           get, serialize)
from . import schedules

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop",
           "deserialize", "get", "serialize", "schedules"]
