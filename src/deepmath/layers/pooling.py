"""Pooling layers on channels-last images (book, chapter "Convolution avec tensorflow/keras",
section "Pooling"): MaxPooling2D and AveragePooling2D slide a window (strides default to the
pool size, as Keras); GlobalAveragePooling2D and GlobalMaxPooling2D reduce height and width."""
from .. import ops
from ._validation import channels_last, check_rank, int_tuple, padding_mode, spatial_output, who
from .base import Layer

_AXES = "(batch, height, width, channels)"


class _Pooling2D(Layer):
    """A window of pool_size moved by strides; `_pool` is the op."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        name = who(self)
        self.pool_size = int_tuple(pool_size, 2, name, "pool_size")
        self.strides = self.pool_size if strides is None else int_tuple(strides, 2, name,
                                                                        "strides")
        self.padding = padding_mode(padding, name)
        self.data_format = channels_last(data_format, name)

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)
        return self._pool(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 4, _AXES)
        height, width = spatial_output(self, input_shape, self.pool_size, self.strides,
                                       self.padding)
        return (input_shape[0], height, width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    _pool = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pooling2D):
    _pool = staticmethod(ops.avg_pool2d)


class _GlobalPooling2D(Layer):
    """One value per channel over height and width; `_reduce` is the op."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = channels_last(data_format, who(self))
        self.keepdims = bool(keepdims)

    def call(self, inputs, training=False):
        check_rank(self, inputs.shape, 4, _AXES)
        return self._reduce(inputs, (1, 2), self.keepdims)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 4, _AXES)
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    _reduce = staticmethod(ops.mean)


class GlobalMaxPooling2D(_GlobalPooling2D):
    _reduce = staticmethod(ops.max)


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D      # Keras' aliases
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
