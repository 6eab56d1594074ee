"""Metrics by Keras' names (`keras.metrics`): stateful objects that accumulate over batches.

    m = CategoricalAccuracy()
    m.update_state(y_true, y_pred)        # NumPy arrays (a Tensor's .data is taken)
    m.result()                            # a Python float, over every batch since reset_state()

Mean metrics keep Keras' weighted running mean total / count (in float64): each batch adds
Σ w·v of its per-sample values v and Σ w (the number of samples when unweighted). `get`
resolves what `model.compile(metrics=[...])` accepts, 'accuracy' included, and names each
metric as Keras 3 names it in `history.history`.

On the GPU (issue 8) a metric computes on y_pred's device (a GPU array or Tensor): y_true and
the sample weights are copied there, and the running totals stay there as 0-d arrays, so
`update_state` never waits for the GPU; `result()` reads them back (a Python float as on the
CPU, the same number).
"""
import numpy as np

from . import losses
from .backend import _arrays, array_module, is_device_array, to_device, to_numpy
from .layers.base import to_snake_case
from .tensor import Tensor


def _array(x, like=None):
    """x's array (a Tensor's data, a GPU array kept there); with `like`, on like's device."""
    if isinstance(x, Tensor):
        x = x.data
    if _arrays.gpu is None:     # no GPU loaded: everything is NumPy
        return np.asarray(x)
    if is_device_array(x):
        return x if like is None or is_device_array(like) else to_numpy(x)
    x = np.asarray(x)
    return to_device(x, "gpu") if like is not None and is_device_array(like) else x


def _pair(y_true, y_pred):
    """The arrays of y_true and y_pred, y_true on y_pred's device."""
    y_pred = _array(y_pred)
    return _array(y_true, y_pred), y_pred


def _add(total, value):
    """A running total plus a batch's 0-d sum: a float on the CPU, a 0-d array on the GPU
    (no read-back per batch)."""
    if _arrays.gpu is not None and is_device_array(value):
        return total + value
    return total + float(value)


def _same_rank(a, b):
    """Keras' squeeze-or-expand: when ranks differ by one and the longer ends in an axis of 1,
    that axis is dropped (or added to a rank-1 partner)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        return (a, b[..., None]) if b.ndim == 1 else (a[..., 0], b)
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        return (a[..., None], b) if a.ndim == 1 else (a, b[..., 0])
    return a, b


# ---- per-sample metric functions (Keras' names) --------------------------------------------
def accuracy(y_true, y_pred):
    """1.0 where y_true equals y_pred exactly."""
    y_true, y_pred = _same_rank(*_pair(y_true, y_pred))
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals the 0/1 label."""
    y_true, y_pred = _same_rank(*_pair(y_true, y_pred))
    return (y_true == (y_pred > threshold)).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the argmax of the one-hot y_true is the argmax of y_pred (first maximum on
    ties, as NumPy and TensorFlow)."""
    y_true, y_pred = _pair(y_true, y_pred)
    xp = array_module(y_pred)
    return (xp.argmax(y_true, -1) == xp.argmax(y_pred, -1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label is the argmax of y_pred; labels (N,) or (N, 1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == array_module(y_pred).argmax(y_pred, -1)).astype(np.float64)


def _in_top_k(labels, y_pred, k, check_range=True):
    """1.0 where fewer than k classes score strictly above the label's (ties all count as in
    the top k, as TensorFlow's in_top_k); labels of any batch shape (checked to be classes
    unless `check_range` is false: argmax labels)."""
    xp = array_module(y_pred)
    labels = _array(labels, y_pred)
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    flat = labels.reshape(-1).astype(np.int64)
    if check_range and flat.size and bool(((flat < 0) | (flat >= scores.shape[1])).any()):
        bad = int(flat.min()) if flat.min() < 0 else int(flat.max())
        raise ValueError(f"label {bad} is out of range for {scores.shape[1]} classes")
    if flat.size != scores.shape[0]:
        raise ValueError(f"labels of shape {labels.shape} do not match predictions of shape "
                         f"{y_pred.shape}")
    target = scores[xp.arange(flat.size), flat]
    above = (scores > target[:, None]).sum(axis=1)
    return ((above < k) & xp.isfinite(target)).astype(np.float64).reshape(labels.shape)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot label is among the k highest predictions."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _in_top_k(array_module(y_pred).argmax(y_true, -1), y_pred, k,
                     check_range=y_true.shape[-1:] > y_pred.shape[-1:])   # else in range


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k highest predictions."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _in_top_k(y_true, y_pred, k)


# ---- metric objects ------------------------------------------------------------------------
class Metric:
    """Keras' metric contract: `update_state(y_true, y_pred, sample_weight=None)`, `result()`,
    `reset_state()`; calling the metric updates it and returns the result."""

    def __init__(self, name=None, dtype=None):
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = dtype

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__} must define reset_state")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _samplewise(values, sample_weight):
    """Per-sample values (mean over the non-batch axes) and weights, as Keras' Mean: values
    are weighted before the mean, weights of rank > 1 are averaged per sample (on the device of
    `values`)."""
    xp = array_module(values)
    values = xp.asarray(values, dtype=np.float64)
    weights = None
    if sample_weight is not None:
        weights = xp.asarray(_array(sample_weight, values), dtype=np.float64)
        values, weights = _same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        try:
            values = values * xp.broadcast_to(weights, values.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {weights.shape} does not match values "
                             f"of shape {values.shape}") from None
        if weights.ndim > 1:
            weights = weights.mean(axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, weights


class Mean(Metric):
    """The weighted mean of the values given to `update_state(values, sample_weight=None)`."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None):
        values, weights = _samplewise(_array(values), sample_weight)
        self.total = _add(self.total, values.sum())
        if weights is not None:
            xp = array_module(values)
            self.count = _add(self.count, xp.broadcast_to(weights, values.shape).sum())
        else:
            self.count += values.shape[0] if values.ndim else 1

    def result(self):
        total, count = float(self.total), float(self.count)
        return total / count if count else 0.0


class MeanMetricWrapper(Mean):
    """The running mean of `fn(y_true, y_pred, **kwargs)`, a function giving per-sample values
    (NumPy arrays or tensors)."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or to_snake_case(getattr(fn, "__name__", type(fn).__name__)),
                         dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(y_true, y_pred)
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name, dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(losses.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses.mean_squared_logarithmic_error, name, dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses.binary_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name, dtype,
                         from_logits=from_logits, axis=axis)


class RootMeanSquaredError(Mean):
    """√(weighted mean of the squared errors)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _same_rank(*_pair(y_true, y_pred))
        super().update_state((y_pred - y_true) ** 2, sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class _ConfusionMetric(Metric):
    """Weighted true/false positive and false negative counts over every entry: an entry is
    predicted positive when y_pred > threshold (0.5), actually positive when y_true != 0.
    `top_k` keeps only the k highest predictions of each row, `class_id` one column."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        if thresholds is not None and not np.isscalar(thresholds):
            raise ValueError(f"{type(self).__name__}: one threshold is supported, "
                             f"got {thresholds!r}")
        self.thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self._threshold = thresholds if thresholds is not None else \
            (0.5 if top_k is None else -np.inf)
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(y_true, y_pred)
        y_pred, y_true = _same_rank(y_pred.astype(np.float64), y_true)
        xp = array_module(y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: y_true of shape {y_true.shape} does not match "
                             f"y_pred of shape {y_pred.shape}")
        if self.top_k is not None:
            stable = {"kind": "stable"} if xp is np else {}   # CuPy's sorts are all stable
            rank = xp.argsort(-y_pred, axis=-1, **stable).argsort(axis=-1, **stable)
            y_pred = xp.where(rank < self.top_k, y_pred, -np.inf)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        predicted, actual = y_pred > self._threshold, y_true.astype(bool)
        weights = self._weights(sample_weight, y_pred)
        self.true_positives = _add(self.true_positives, (weights * (predicted & actual)).sum())
        self.false_positives = _add(self.false_positives,
                                    (weights * (predicted & ~actual)).sum())
        self.false_negatives = _add(self.false_negatives,
                                    (weights * (~predicted & actual)).sum())

    def _weights(self, sample_weight, y_pred):
        """Weights broadcast over the entries of y_pred (on its device): (N,) or (N, 1)
        per-sample weights spread along the other axes."""
        xp, shape = array_module(y_pred), y_pred.shape
        if sample_weight is None:
            return xp.ones(shape)
        weights = xp.asarray(_array(sample_weight, y_pred), dtype=np.float64)
        if weights.ndim == len(shape) + 1 and weights.shape[-1] == 1:
            weights = weights[..., 0]
        if 0 < weights.ndim < len(shape):
            weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
        try:
            return xp.broadcast_to(weights, shape)
        except ValueError:
            raise ValueError(f"{self.name}: sample_weight of shape {weights.shape} does not "
                             f"match y_pred of shape {shape}") from None

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """tp / (tp + fp): the share of predicted positives that are positive (0 when none)."""

    def result(self):
        true_positives = float(self.true_positives)
        predicted = true_positives + float(self.false_positives)
        return true_positives / predicted if predicted else 0.0


class Recall(_ConfusionMetric):
    """tp / (tp + fn): the share of positives predicted positive (0 when none)."""

    def result(self):
        true_positives = float(self.true_positives)
        positives = true_positives + float(self.false_negatives)
        return true_positives / positives if positives else 0.0


# ---- lookup ----------------------------------------------------------------------------------
_CLASSES = (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
            MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            RootMeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy, Precision, Recall)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({to_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update({"mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
                 "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
                 "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
                 "MSLE": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy,
                 "BCE": BinaryCrossentropy})


def _accuracy_class(loss, y_true, y_pred):
    """Keras 3's choice for 'accuracy' from the shapes: binary when y_pred has one column,
    sparse categorical when y_true has one axis fewer or one column against several,
    categorical otherwise. Without data, tf.keras 2's choice from the loss."""
    if y_true is not None and y_pred is not None:
        true_shape, pred_shape = _array(y_true).shape, _array(y_pred).shape
        if pred_shape[-1:] == (1,):
            return BinaryAccuracy
        if len(true_shape) < len(pred_shape) or \
                (true_shape[-1:] == (1,) and pred_shape[-1:] > (1,)):
            return SparseCategoricalAccuracy
        return CategoricalAccuracy
    if loss is None:
        raise ValueError("metric 'accuracy' needs y_true and y_pred (or the loss) to choose "
                         "between binary, categorical and sparse categorical accuracy")
    loss = losses.get(loss)
    if isinstance(loss, losses.BinaryCrossentropy):
        return BinaryAccuracy
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, loss=None, y_true=None, y_pred=None):
    """The Metric for a name ('accuracy'/'acc' chosen from y_true/y_pred as Keras 3 does,
    'mse', 'categorical_accuracy', 'Precision'…), a config dict, a Metric class or instance,
    or any callable(y_true, y_pred) giving per-sample values (wrapped in a mean). A name is
    kept as the metric's name (the key of `history.history`)."""
    if identifier is None:
        raise ValueError("a metric cannot be None")
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_class(loss, y_true, y_pred)(name=identifier)
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"unknown metric {identifier!r}; known: "
                             f"{', '.join(sorted(set(_BY_NAME) | {'acc'}))}, a Metric, "
                             "or any callable(y_true, y_pred)")
        metric = cls()
        metric.name = identifier
        return metric
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown metric class {identifier.get('class_name')!r}; known: "
                             f"{', '.join(sorted(c.__name__ for c in _CLASSES))}")
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"a metric must be a name, a Metric or a callable, got {identifier!r}")


def serialize(metric):
    """A name as given, else {'module', 'class_name', 'config', 'registered_name'} as Keras 3
    writes it."""
    if isinstance(metric, str):
        return metric
    metric = get(metric)
    return {"module": "keras.metrics", "class_name": type(metric).__name__,
            "config": metric.get_config(), "registered_name": None}
