"""Keras' small utilities (`keras.utils`): one-hot labels, seeding, normalization (book,
chapter "Python : tensorflow avec keras - partie 2": `to_categorical` for MNIST's digits), and
the book's scalings of data ("Probabilités"): `normalize_pixels` (/255), `min_max_scale` (to
[a, b]) and `z_score` (population σ), from `deepmath.proba`."""
import random

import numpy as np

from . import creation
from .proba import min_max_scale, normalize_pixels, z_score  # noqa: F401  (the book's scalings)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows of the integer labels `y`: label k becomes [0, …, 0, 1, 0, …] with the 1 at
    place k. The class axis is added last; labels of shape (N, 1) give (N, num_classes), as
    Keras. `num_classes` defaults to max(y) + 1."""
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {labels.dtype}")
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError("to_categorical: labels must be whole numbers, got non-integer values")
    labels = labels.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive integer, got "
                         f"{num_classes!r}")
    num_classes = int(num_classes)
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} is out of range for "
                         f"num_classes={num_classes} (labels go from 0 to num_classes - 1)")
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(shape + (num_classes,))


def set_random_seed(seed):
    """Seed every generator a program draws from: Python's `random`, NumPy's global one and
    deepmath's (`deepmath.manual_seed`: initial weights, `randn`, `rand`), as Keras'."""
    if int(seed) != seed or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    creation.manual_seed(seed)


def normalize(x, axis=-1, order=2):
    """x divided by its `order`-norm along `axis` (a zero norm leaves the entries unchanged)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"normalize: expected numbers, got dtype {x.dtype}")
    norm = np.linalg.norm(x, order, axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)
