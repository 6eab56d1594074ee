"""Embedding: each integer index becomes a learned vector, a row of the table (input_dim,
output_dim) (book, chapter on the attention behind ChatGPT: "plongement" of the tokens)."""
from .. import initializers
from ..backend import to_numpy
from ..ops.embedding import embedding
from ..tensor import Tensor
from ._validation import is_int, who
from .base import Layer, shape_str


class Embedding(Layer):
    """Embedding(input_dim, output_dim): indices (batch, ...) -> (batch, ..., output_dim).

    Indices may come as floats holding whole numbers (a model's inputs are float32, exact up
    to 2**24); an index outside [0, input_dim) raises IndexError. mask_zero=True makes
    `compute_mask` mark index 0 as padding (deepmath's other layers do not consume masks).
    input_length is Keras 2's, ignored as Keras 3 does."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="random_uniform",
                 mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not is_int(value) or value <= 0:
                raise ValueError(f"{who(self)}: {name} must be a positive integer, got "
                                 f"{value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)

    def call(self, inputs, training=False):
        try:
            return embedding(inputs, self.embeddings)
        except (IndexError, ValueError, TypeError) as err:
            raise type(err)(f"{who(self)}, input of shape {shape_str(inputs.shape)}: "
                            f"{err}") from None

    def compute_mask(self, inputs, mask=None):
        """Where the index is not 0 (None unless mask_zero)."""
        if not self.mask_zero:
            return None
        return to_numpy(inputs.data if isinstance(inputs, Tensor) else inputs) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero}
