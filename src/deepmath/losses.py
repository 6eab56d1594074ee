"""Loss objects and functions by Keras' names (`keras.losses`), on the differentiable losses of
`deepmath.ops.losses` (book, chapters "Rétropropagation" and "Probabilités").

    loss = CategoricalCrossentropy()
    value = loss(y_true, y_pred, sample_weight=None)    # a 0-d Tensor, differentiable in y_pred

The functions (`mean_squared_error`, `categorical_crossentropy`…) give one loss per sample, as
Keras' do; a `Loss` object reduces them: 'sum_over_batch_size' (the default) is Σ w·l / N,
'sum' is Σ w·l, 'mean_with_sample_weight' is Σ w·l / Σ w, 'none' keeps the per-sample losses.
`get` turns what `model.compile(loss=...)` accepts into a Loss; `logits_loss` gives the model
the same loss computed from the logits of its last softmax/sigmoid layer (the fused kernels).

On the GPU (issue 8) a loss computes on y_pred's device: targets and sample weights given as
NumPy arrays, lists or numbers are copied there, a Tensor (or GPU array) on the other device
raises an error naming both devices, and no value is read back to the host.
"""
import numpy as np

from . import ops
from .backend import array_module, device_of, is_device_array, to_device
from .layers.base import to_snake_case
from .ops import losses as _ops
from .ops._base import as_tensor
from .tensor import Tensor

EPSILON = _ops.EPSILON
_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# ---- helpers ---------------------------------------------------------------------------------
def _array(x, y_pred, what="y_true"):
    """x's array on y_pred's device: NumPy arrays, lists and numbers are copied there, a
    Tensor or GPU array on the other device raises an error naming both devices."""
    if isinstance(x, Tensor) or is_device_array(x):
        array = x.data if isinstance(x, Tensor) else x
        _same_device(array, y_pred, what)
        return array
    array = np.asarray(x)
    return array if y_pred.device == "cpu" else to_device(array, y_pred.device)


def _same_device(array, y_pred, what):
    if device_of(array) != y_pred.device:
        raise ValueError(f"{what} is on the {device_of(array)} but y_pred on the "
                         f"{y_pred.device}: move them to one device with .to('cpu') or "
                         ".to('gpu')")


def _target(y_true, y_pred, name=None):
    """y_true as a tensor of y_pred's dtype (Keras casts it), a trailing axis of 1 dropped
    when y_pred lacks it ((N, 1) targets against (N,) predictions). With the loss's `name`,
    y_true must then have y_pred's shape ((N,) targets against (N, 1) predictions are
    reshaped)."""
    if not isinstance(y_true, Tensor):
        y_true = Tensor(_array(y_true, y_pred), dtype=y_pred.dtype, device=y_pred.device)
    else:
        _same_device(y_true.data, y_pred, "y_true")
        if y_true.dtype != y_pred.dtype:
            y_true = ops.cast(y_true, y_pred.dtype)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = ops.reshape(y_true, y_true.shape[:-1])
    if name is None or y_true.shape == y_pred.shape:
        return y_true
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        return ops.reshape(y_true, y_pred.shape)
    raise ValueError(f"{name}: y_true of shape {y_true.shape} does not match y_pred of shape "
                     f"{y_pred.shape}")


def _is_integral(a):
    if a.dtype.kind in "biu":
        return True
    xp = array_module(a)
    return a.dtype.kind == "f" and bool(xp.all(a == xp.floor(a)))


def _per_sample(per_entry, reduction):
    """Mean over the last axis (one loss per sample), then the reduction of `deepmath.ops`."""
    per_sample = ops.mean(per_entry, -1) if per_entry.ndim >= 2 else per_entry
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return ops.sum(per_sample)
    return ops.mean(per_sample)


def _align_weights(weights, shape):
    """Sample weights shaped to broadcast against per-sample losses of `shape`: a trailing
    axis of 1 dropped or added as Keras does, then per-sample weights of shape (N,) spread
    over the other axes of (N, T…) losses."""
    if weights.shape == shape or weights.ndim == 0 or shape == ():
        return weights  # a scalar loss times (N,) weights: l·mean(w) once reduced, as Keras
    if weights.ndim == len(shape) + 1 and weights.shape[-1] == 1:
        weights = weights[..., 0]
    elif len(shape) == weights.ndim + 1 and shape[-1] == 1:
        weights = weights[..., None]
    if weights.ndim < len(shape) and weights.shape == shape[:weights.ndim]:
        weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    try:
        if np.broadcast_shapes(weights.shape, shape) == shape:
            return weights
    except ValueError:
        pass
    raise ValueError(f"sample_weight of shape {weights.shape} does not match the per-sample "
                     f"losses of shape {shape}")


def _reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras' reduction of per-sample losses `values` weighted by `sample_weight`."""
    values = as_tensor(values)
    if sample_weight is not None:
        weights = _array(sample_weight, values, "sample_weight").astype(values.dtype)
        weights = _align_weights(weights, values.shape)
        values = values * Tensor(weights)
    if reduction in ("none", None) or values.ndim == 0:
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        xp = array_module(weights)
        divisor = xp.broadcast_to(weights, values.shape).sum()
        if xp is not np:   # on the device: no read-back, the CPU's numbers
            nonzero = divisor != 0
            return total / Tensor(xp.where(nonzero, divisor, 1)) * \
                Tensor(nonzero.astype(values.dtype))
        divisor = float(divisor)
    else:
        divisor = float(values.size)
    return total / divisor if divisor else total * 0.0


# ---- per-sample loss functions (Keras' names) -----------------------------------------------
# Each returns one loss per sample; `reduction` ('none', 'mean' or 'sum') lets the Loss objects
# reduce inside the fused node of `deepmath.ops.losses` (not a Keras argument).
def mean_squared_error(y_true, y_pred, reduction="none"):
    """mean((y_pred - y_true)²) over the last axis."""
    y_pred = as_tensor(y_pred)
    return _ops.mean_squared_error(_target(y_true, y_pred), y_pred, reduction=reduction)


def mean_absolute_error(y_true, y_pred, reduction="none"):
    """mean(|y_pred - y_true|) over the last axis."""
    y_pred = as_tensor(y_pred)
    return _ops.mean_absolute_error(_target(y_true, y_pred), y_pred, reduction=reduction)


def mean_squared_logarithmic_error(y_true, y_pred, reduction="none"):
    """mean((ln(1 + y_pred) - ln(1 + y_true))²), both clipped at ε = 1e-7 below."""
    y_pred = as_tensor(y_pred)
    return _ops.mean_squared_logarithmic_error(_target(y_true, y_pred), y_pred,
                                               reduction=reduction)


def mean_absolute_percentage_error(y_true, y_pred, reduction="none"):
    """100 · mean(|y_true - y_pred| / max(|y_true|, ε)) over the last axis."""
    y_pred = as_tensor(y_pred)
    y_true = _target(y_true, y_pred, "mean_absolute_percentage_error")
    scale = ops.clip(ops.abs(y_true), EPSILON, None)
    return _per_sample(100.0 * ops.abs(y_pred - y_true) / scale, reduction)


def huber(y_true, y_pred, delta=1.0, reduction="none"):
    """½e² where |e| ≤ δ, δ|e| - ½δ² beyond (e = y_pred - y_true), averaged over the last axis;
    written ½q² + δ(|e| - q) with q = min(|e|, δ)."""
    y_pred = as_tensor(y_pred)
    error = ops.abs(y_pred - _target(y_true, y_pred, "huber"))
    quadratic = ops.clip(error, None, delta)
    return _per_sample(0.5 * quadratic ** 2 + delta * (error - quadratic), reduction)


def _last_axis_only(name, axis, y_pred):
    if axis not in (-1, y_pred.ndim - 1):
        raise ValueError(f"{name}: only axis=-1 is supported, got axis={axis}")


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                        reduction="none"):
    """-(y ln p + (1-y) ln(1-p)) averaged over the last axis; label smoothing moves the
    targets towards ½: y(1 - s) + s/2."""
    y_pred = as_tensor(y_pred)
    _last_axis_only("binary_crossentropy", axis, y_pred)
    y_true = _target(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return _ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits, reduction=reduction)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                             reduction="none"):
    """-Σ_classes y ln p with one-hot (or soft) targets; label smoothing: y(1 - s) + s/C."""
    y_pred = as_tensor(y_pred)
    labels = _array(y_true, y_pred)
    if labels.shape != y_pred.shape and y_pred.ndim >= 1 and y_pred.shape[-1] > 1 \
            and labels.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,)) \
            and _is_integral(labels):
        raise ValueError(
            f"categorical_crossentropy: y_true of shape {labels.shape} holds class indices but "
            f"y_pred of shape {y_pred.shape} has {y_pred.shape[-1]} classes; use "
            f"loss='sparse_categorical_crossentropy' for integer labels, or one-hot encode "
            f"them with to_categorical(y, {y_pred.shape[-1]})")
    y_true = _target(y_true if isinstance(y_true, Tensor) else labels, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    return _ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis,
                                         reduction=reduction)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1,
                                    reduction="none"):
    """-ln p[label] with integer labels of shape (N,) or (N, 1)."""
    y_pred = as_tensor(y_pred)
    # host labels stay on the host: checked there, copied by the kernel (no wait for the GPU)
    labels = _array(y_true, y_pred) if isinstance(y_true, Tensor) or is_device_array(y_true) \
        else np.asarray(y_true)
    if y_pred.ndim:  # (a scalar y_pred is refused by deepmath.ops)
        axis %= y_pred.ndim
        batch_shape = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
        if labels.shape == y_pred.shape and y_pred.shape[axis] > 1:
            raise ValueError(
                f"sparse_categorical_crossentropy: y_true of shape {labels.shape} looks one-hot "
                f"(the shape of y_pred); use loss='categorical_crossentropy' for one-hot "
                f"labels, or pass class indices (y.argmax(axis=-1)) of shape {batch_shape}")
        if labels.shape not in (batch_shape, batch_shape + (1,)):
            raise ValueError(f"sparse_categorical_crossentropy: y_true of shape {labels.shape} "
                             f"does not match y_pred of shape {y_pred.shape} (class indices "
                             f"of shape {batch_shape} expected)")
    return _ops.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits,
                                                axis=axis, reduction=reduction)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error
bce = BCE = binary_crossentropy


# ---- Loss objects --------------------------------------------------------------------------
class Loss:
    """Keras' loss base class: `loss(y_true, y_pred, sample_weight=None)` reduces the
    per-sample losses of `call(y_true, y_pred)` (the method a subclass writes)."""

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
                             f"got {reduction!r}")
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = reduction

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = as_tensor(y_pred)
        if sample_weight is None and self.reduction not in ("none", None):
            return self._reduced(y_true, y_pred)
        return _reduce_weighted(self.call(y_true, y_pred), sample_weight, self.reduction)

    def _reduced(self, y_true, y_pred):
        """The unweighted reduced loss (built-in losses reduce inside their own node)."""
        return _reduce_weighted(self.call(y_true, y_pred), None, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A Loss from a function `fn(y_true, y_pred, **kwargs)` giving per-sample losses (a
    user's loss: y_true arrives as a tensor of y_pred's dtype and shape rank)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(name or to_snake_case(getattr(fn, "__name__", type(fn).__name__)),
                         reduction)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        y_pred = as_tensor(y_pred)
        y_true = _target(y_true, y_pred)
        if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
            y_true = ops.reshape(y_true, y_true.shape + (1,))
        return as_tensor(self.fn(y_true, y_pred, **self._fn_kwargs))

    def get_config(self):
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", repr(self.fn)),
                **self._fn_kwargs}


class _Builtin(Loss):
    """A loss of this module: its function reduces in one node when there are no weights."""
    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(name or _DEFAULT_NAMES.get(type(self).__name__), reduction)
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, reduction="none", **self._fn_kwargs)

    def _reduced(self, y_true, y_pred):
        reduction = "sum" if self.reduction == "sum" else "mean"
        return type(self).fn(y_true, y_pred, reduction=reduction, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(_Builtin):
    fn = mean_squared_error


class MeanAbsoluteError(_Builtin):
    fn = mean_absolute_error


class MeanSquaredLogarithmicError(_Builtin):
    fn = mean_squared_logarithmic_error


class MeanAbsolutePercentageError(_Builtin):
    fn = mean_absolute_percentage_error


class Huber(_Builtin):
    fn = huber

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, delta=delta)


class BinaryCrossentropy(_Builtin):
    fn = binary_crossentropy

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(_Builtin):
    fn = categorical_crossentropy

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_Builtin):
    fn = sparse_categorical_crossentropy

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name=None):
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported")
        super().__init__(reduction, name, from_logits=from_logits, axis=axis)


_DEFAULT_NAMES = {"Huber": "huber_loss"}
_CLASSES = (MeanSquaredError, MeanAbsoluteError, MeanSquaredLogarithmicError,
            MeanAbsolutePercentageError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy)
_CLASS_OF_FUNCTION = {cls.fn: cls for cls in _CLASSES}
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({fn.__name__: fn for fn in _CLASS_OF_FUNCTION})
_BY_NAME.update({alias: globals()[alias]
                 for alias in ("mse", "MSE", "mae", "MAE", "msle", "MSLE", "mape", "MAPE",
                               "bce", "BCE")})


# ---- lookup and serialization ----------------------------------------------------------------
def _unknown(identifier):
    return ValueError(f"unknown loss {identifier!r}; known: {', '.join(sorted(_BY_NAME))}, "
                      "a Loss, a {'class_name', 'config'} dict, or any callable(y_true, y_pred)")


def get(identifier):
    """The Loss for a name (function or class), a config dict (`serialize`'s), a Loss class or
    instance, or any callable(y_true, y_pred) returning per-sample losses."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        obj = _BY_NAME.get(identifier)
        if obj is None:
            raise _unknown(identifier)
        if obj in _CLASS_OF_FUNCTION:  # a function's name: the loss named as Keras' compile
            return _CLASS_OF_FUNCTION[obj](name=identifier)
        return get(obj)
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        cls = _CLASS_OF_FUNCTION.get(identifier)
        return cls(name=identifier.__name__) if cls else LossFunctionWrapper(identifier)
    raise TypeError(f"a loss must be a name, a config dict, a Loss or a callable, "
                    f"got {identifier!r}")


def _from_dict(config):
    class_name = config.get("class_name")
    if class_name == "function":  # Keras 3's serialization of a loss function
        return get(config.get("config"))
    cls = _BY_NAME.get(class_name)
    if not isinstance(cls, type):
        raise _unknown(class_name)
    return cls.from_config(dict(config.get("config") or {}))


def serialize(loss):
    """The config Keras 3 writes: a name for a name, {'module', 'class_name', 'config',
    'registered_name'} for a Loss or a function of this module."""
    if isinstance(loss, str):
        return loss
    if callable(loss) and loss in _CLASS_OF_FUNCTION:
        return {"module": "builtins", "class_name": "function", "config": loss.__name__,
                "registered_name": "function"}
    loss = get(loss)
    return {"module": "keras.losses", "class_name": type(loss).__name__,
            "config": loss.get_config(), "registered_name": None}


def deserialize(config):
    return get(config)


# ---- fusion with the model's last activation ------------------------------------------------
_FUSABLE = {CategoricalCrossentropy: "softmax", SparseCategoricalCrossentropy: "softmax",
            BinaryCrossentropy: "sigmoid"}


def logits_loss(loss, activation_name):
    """The same loss computed from the logits z of a last layer whose activation is
    `activation_name` (softmax for the categorical cross-entropies, sigmoid for the binary
    one), or None when it does not apply. Keras computes these losses from the logits too
    when the probabilities come from that activation; exact types only: a subclass may have
    changed the computation."""
    loss = get(loss)
    if _FUSABLE.get(type(loss)) != activation_name:
        return None
    config = loss.get_config()
    if config["from_logits"] or config.get("axis", -1) != -1:
        return None
    return type(loss).from_config({**config, "from_logits": True})
