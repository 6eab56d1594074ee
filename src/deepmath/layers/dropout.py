"""Dropout (book, chapter "Probabilités", section "Dropout"): in training each unit is dropped
with probability `rate` and the kept ones are scaled by 1/(1 - rate); in inference
(training=False) the layer is the identity, as Keras."""
import numbers

import numpy as np

from ..ops.dropout import dropout
from ._validation import is_int, who
from .base import Layer


class Dropout(Layer):
    """Dropout(rate, noise_shape=None, seed=None).

    noise_shape: the mask's shape, None entries taken from the input ((None, 1, 1, None)
    drops whole channels of images); seed: masks drawn from a generator of this seed (a
    different mask each call, the same sequence each run), else from deepmath's generator."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"{who(self)}: rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            noise_shape = tuple(noise_shape)
            if not all(d is None or (is_int(d) and d > 0) for d in noise_shape):
                raise ValueError(f"{who(self)}: noise_shape must hold positive ints or None, "
                                 f"got {noise_shape!r}")
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = None
        if self.noise_shape is not None:
            if len(self.noise_shape) != inputs.ndim:
                raise ValueError(f"{who(self)}: noise_shape {self.noise_shape} does not have "
                                 f"the rank of its input, of shape {inputs.shape}")
            shape = tuple(n if d is None else d for d, n in zip(self.noise_shape, inputs.shape))
        return dropout(inputs, self.rate, shape, self._rng)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}
