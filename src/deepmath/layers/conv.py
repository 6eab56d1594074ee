"""Conv2D: y = act(conv2d(x, W) + b) on channels-last images (book, chapter "Convolution avec
tensorflow/keras"). As Keras, a correlation (the kernel is not flipped), W of shape
(kh, kw, c_in, filters); the bias and the activation run inside the conv kernel when it knows
the activation."""
from .. import activations, initializers, ops
from ._validation import (channels_last, check_rank, int_tuple, is_int, padding_mode,
                          spatial_output, who)
from .base import Layer, shape_str
from .core import set_kernel_options


class Conv2D(Layer):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        name = who(self)
        if not is_int(filters) or filters <= 0:
            raise ValueError(f"{name}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = int_tuple(kernel_size, 2, name, "kernel_size")
        self.strides = int_tuple(strides, 2, name, "strides")
        self.padding = padding_mode(padding, name)
        self.data_format = channels_last(data_format, name)
        self.dilation_rate = int_tuple(dilation_rate, 2, name, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{name}: strides > 1 cannot be combined with dilation_rate > 1 "
                             f"(as Keras), got strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{who(self)}: the channel axis (last) of its input must be "
                             f"known, got input shape {shape_str(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.filters),
                                      self.kernel_initializer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer)
                     if self.use_bias else None)

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)
        args = (self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)
        if self._fused:
            return ops.conv2d(inputs, *args, self._kernel_act)
        return self.activation(ops.conv2d(inputs, *args))

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 4, "(batch, height, width, channels)")
        if self.built and input_shape[-1] not in (None, self.kernel.shape[2]):
            raise ValueError(f"{who(self)} expects inputs with {self.kernel.shape[2]} channels "
                             f"(last axis), got shape {shape_str(input_shape)}")
        height, width = spatial_output(self, input_shape, self.kernel_size, self.strides,
                                       self.padding, self.dilation_rate)
        return (input_shape[0], height, width, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

