"""What `fit`, `evaluate` and `predict` read: NumPy-like arrays cut into batches (shuffled per
epoch), or a generator / Keras-style sequence yielding `(x, y)` or `(x, y, sample_weight)`
batches (the book's `flow_from_directory`)."""
import math

import numpy as np

from .. import creation
from ..backend import to_numpy
from ..tensor import Tensor


def as_array(data, dtype=None, what="x", many=False):
    """NumPy array of arrays, tensors and nested lists; with `many`, a list of them (one per
    input of a multi-input model)."""
    if data is None:
        return None
    if many:
        if not isinstance(data, (list, tuple)):
            raise TypeError(f"{what}: this model takes several inputs: pass a list of arrays")
        return [as_array(d, dtype, what) for d in data]
    if isinstance(data, Tensor):
        data = data.data
    arr = to_numpy(data)     # GPU arrays too: batches go to the model's device one by one
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got an array of dtype {arr.dtype}")
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return np.ascontiguousarray(arr)


def num_samples(x):
    first = x[0] if isinstance(x, list) else x
    if first.ndim == 0:
        raise ValueError("x must have a batch axis, got a scalar")
    return first.shape[0]


def take(x, index):
    if x is None:
        return None
    if isinstance(x, list):
        return [take(a, index) for a in x]
    return x[index] if isinstance(index, slice) else x.take(index, axis=0)   # take: faster


def is_stream(x):
    """A generator, iterator or Keras-style Sequence (len + getitem of batches) rather than
    array data."""
    if isinstance(x, (np.ndarray, Tensor, list, tuple)) or x is None:
        return False
    return hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def class_weights_to_sample(y, class_weight):
    """Per-sample weights from {class: weight} (labels as integers or one-hot rows)."""
    y = np.asarray(y)
    labels = y.argmax(-1) if y.ndim >= 2 and y.shape[-1] > 1 else y.reshape(len(y))
    labels = labels.astype(np.int64)
    missing = set(np.unique(labels).tolist()) - set(class_weight)
    if missing:
        raise ValueError(f"class_weight has no entry for class(es) {sorted(missing)}")
    lookup = np.array([class_weight.get(i, 1.0) for i in range(labels.max() + 1)])
    return lookup[labels]


class ArrayBatches:
    """Batches of arrays: `epoch()` yields (x, y, sample_weight) slices, in a new random
    order each epoch when `shuffle`."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, rng=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = num_samples(x)
        for name, other in (("y", y), ("sample_weight", sample_weight)):
            if other is not None and num_samples(other) != self.n:
                raise ValueError(f"x has {self.n} samples but {name} has "
                                 f"{num_samples(other)}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size, self.shuffle = int(batch_size), shuffle
        self.rng = rng
        self.steps = math.ceil(self.n / self.batch_size)

    def epoch(self):
        rng = self.rng or creation._rng  # deepmath's generator: `set_random_seed` fixes it
        order = rng.permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start:start + self.batch_size]
            yield (take(self.x, index), take(self.y, index), take(self.sample_weight, index))


class StreamBatches:
    """Batches from a generator or a Sequence; `steps` per epoch (None: until exhausted)."""

    def __init__(self, source, steps=None):
        self.source = source
        if steps is None and hasattr(source, "__len__"):
            steps = len(source)
        self.steps = steps
        self._iterator = None

    def _next(self, i):
        """Batch `i`: by index from a Sequence (Keras reads those by index even when they are
        also iterators, as `flow_from_directory`'s), else the iterator's next one."""
        if hasattr(self.source, "__getitem__") and hasattr(self.source, "__len__"):
            return self.source[i % len(self.source)]
        if self._iterator is None:
            self._iterator = iter(self.source)
        return next(self._iterator)

    def epoch(self):
        i = 0
        while self.steps is None or i < self.steps:
            try:
                batch = self._next(i)
            except StopIteration:
                if self.steps is not None and i == 0:
                    raise ValueError("the data generator yielded no batch") from None
                return
            yield _unpack(batch)
            i += 1
        if hasattr(self.source, "on_epoch_end"):
            self.source.on_epoch_end()


def _unpack(batch):
    """(x, y, sample_weight) from a generator's `x`, `(x,)`, `(x, y)` or `(x, y, w)`."""
    if isinstance(batch, (np.ndarray, Tensor, list)):
        return batch, None, None
    if not isinstance(batch, tuple) or not 1 <= len(batch) <= 3:
        raise ValueError("a data generator must yield x, (x, y) or (x, y, sample_weight), "
                         f"got {type(batch).__name__}")
    return tuple(batch) + (None,) * (3 - len(batch))


def split_validation(x, y, sample_weight, fraction):
    """Keras' validation_split: the LAST `fraction` of the samples, taken before shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    n = num_samples(x)
    cut = int(n * (1.0 - fraction))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation "
                         f"sample out of {n}")
    head, tail = slice(0, cut), slice(cut, n)
    return ((take(x, head), take(y, head), take(sample_weight, head)),
            (take(x, tail), take(y, tail), take(sample_weight, tail)))
