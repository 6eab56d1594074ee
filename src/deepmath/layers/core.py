"""Dense: y = act(x·W + b), W of shape (n_in, n_out) as Keras (book, chapter "Réseau de
neurones"). The activation runs inside the GEMM's epilogue when the kernel knows it.
Activation: y = act(x), an activation as a layer of its own."""
from .. import activations, initializers, ops
from .base import Layer, shape_str


def set_kernel_options(layer, activation, use_bias, kernel_initializer, bias_initializer):
    """What Dense and Conv2D share: the activation (applied by the kernel when it knows it),
    the bias switch and the two initializers."""
    layer.activation = activations.get(activation)
    layer._fused, layer._kernel_act = activations.fusable(activation)
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)


class Dense(Layer):
    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(units) != units or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer)

    def build(self, input_shape):
        n_in = input_shape[-1]
        if n_in is None:
            raise ValueError(f"Dense {self.name!r}: the last axis of its input must be known, "
                             f"got input shape {shape_str(input_shape)}")
        self.kernel = self.add_weight("kernel", (n_in, self.units), self.kernel_initializer)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer)
                     if self.use_bias else None)

    def call(self, inputs, training=False):
        if inputs.ndim < 1 or inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Dense {self.name!r} expects inputs whose last axis is "
                             f"{self.kernel.shape[0]}, got shape {shape_str(inputs.shape)}")
        if self._fused:
            return ops.dense(inputs, self.kernel, self.bias, self._kernel_act)
        return self.activation(ops.dense(inputs, self.kernel, self.bias))

    def _head_activation(self):
        return activations.serialize(self.activation)

    def _call_logits(self, inputs, training=False):
        return ops.dense(inputs, self.kernel, self.bias)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Activation(Layer):
    """act(x), an activation as its own layer: Activation('relu')."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=False):
        return self.activation(inputs)

    def _head_activation(self):
        return activations.serialize(self.activation)

    def _call_logits(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
