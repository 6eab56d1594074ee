"""`keras.layers`."""
from ..layers import (Activation, AveragePooling2D, AvgPool2D, BatchNormalization, Conv2D,
                      Dense, Dropout, Embedding, Flatten, GlobalAveragePooling2D,
                      GlobalAvgPool2D, GlobalMaxPool2D, GlobalMaxPooling2D, Input, InputLayer,
                      Layer, LayerNormalization, MaxPool2D, MaxPooling2D, MultiHeadAttention,
                      Reshape, deserialize, serialize)

__all__ = ["Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
           "Dense", "Dropout", "Embedding", "Flatten", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer",
           "Layer", "LayerNormalization", "MaxPool2D", "MaxPooling2D", "MultiHeadAttention",
           "Reshape", "deserialize", "serialize"]
