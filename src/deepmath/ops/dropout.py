"""Dropout (book, chapter "Probabilités", section "Dropout"): each unit is kept with
probability 1 - rate (a Bernoulli draw) and the kept ones are scaled by 1/(1 - rate), so the
expected output is the input (Keras' "inverted" dropout).

    y = x·m,   m = keep / (1 - rate),   dx = dy·m
"""
import numbers

import numpy as np

from .. import creation
from ..backend import to_device
from ._base import as_tensor, make


def dropout(x, rate, noise_shape=None, rng=None, mask=None):
    """x with each unit zeroed with probability `rate` (0 <= rate < 1), the others scaled.

    noise_shape: the shape of the random mask, broadcast over x (Keras': (n, 1, 1, c) drops
    whole channels); rng: a numpy Generator (default: deepmath's, see `manual_seed`);
    mask: a fixed boolean keep-mask broadcastable to x, instead of a random draw."""
    x = as_tensor(x)
    if not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be a number in [0, 1), got {rate!r}")
    if mask is None:
        shape = x.shape if noise_shape is None else tuple(noise_shape)
        rng = creation._rng if rng is None else rng
        mask = rng.random(shape, dtype=x.dtype) >= rate
    scaled = to_device(mask, x.device).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - rate))
    try:
        fits = np.broadcast_shapes(scaled.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"dropout: mask shape {scaled.shape} does not broadcast to the "
                         f"input's {x.shape}")
    return make(x.data * scaled, "dropout", (x,), lambda g: (g * scaled,))
