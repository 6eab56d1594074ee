"""Flatten and Reshape: the same values per sample in a new shape, the batch axis kept
(book, chapter "Convolution avec tensorflow/keras": Flatten turns the last feature maps into
the vector a Dense layer takes). Flatten keeps the channels-last order: a plain row-major
(C-order) reshape of the non-batch axes, as Keras."""
import math

from .. import ops
from ._validation import channels_last, is_int, who
from .base import Layer, shape_str


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...); (batch,) -> (batch, 1)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = channels_last(data_format, who(self))

    def call(self, inputs, training=False):
        return ops.reshape(inputs, self.compute_output_shape(inputs.shape))

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{who(self)} expects inputs with a batch axis, got shape "
                             f"{shape_str(input_shape)}")
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """(batch, ...) -> (batch,) + target_shape; one entry of target_shape may be -1 (inferred
    from the number of values per sample)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        shape = (target_shape,) if is_int(target_shape) else tuple(target_shape)
        if not all(is_int(d) and (d > 0 or d == -1) for d in shape) or shape.count(-1) > 1:
            raise ValueError(f"{who(self)}: target_shape must hold positive ints and at most "
                             f"one -1, got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in shape)

    def _target(self, input_shape):
        """target_shape with its -1 resolved (None when the input's size is unknown)."""
        rest, target = input_shape[1:], self.target_shape
        if None in rest:
            return tuple(None if d == -1 else d for d in target)
        size, known = math.prod(rest), math.prod(d for d in target if d != -1)
        if (size % known if -1 in target else size - known) != 0:
            raise ValueError(f"{who(self)}: cannot reshape inputs of shape "
                             f"{shape_str(input_shape)} ({size} values per sample) into "
                             f"target_shape {shape_str(target)}")
        return tuple(size // known if d == -1 else d for d in target)

    def call(self, inputs, training=False):
        return ops.reshape(inputs, self.compute_output_shape(inputs.shape))

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{who(self)} expects inputs with a batch axis, got shape "
                             f"{shape_str(input_shape)}")
        return (input_shape[0],) + self._target(input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}
