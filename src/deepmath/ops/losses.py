"""Loss functions of the book (chapters "Rétropropagation" and "Probabilités"), with Keras'
argument order `loss(y_true, y_pred)` and Keras' numerics (probabilities clipped to
[1e-7, 1 - 1e-7]; from_logits variants computed stably).

`reduction`: 'mean' (Keras' default: mean of the per-sample losses), 'sum', or 'none' (the
per-sample losses: the last axis is reduced when y has two or more axes)."""
import numpy as np

from . import activations, reduce, shape, unary
from ._base import as_tensor, make, same_device, xp
from ..backend import backend_of, device_of
from ..tensor import Tensor

EPSILON = 1e-7


def _align(name, y_true, y_pred):
    """Tensors of one shape; a (N,) target against (N, 1) predictions is reshaped, as Keras."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, y_pred)
    same_device(name, y_true, y_pred)
    if y_true.shape != y_pred.shape:
        if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
            y_true = shape.reshape(y_true, y_pred.shape)
        else:
            raise ValueError(f"{name}: y_true of shape {y_true.shape} does not match y_pred of "
                             f"shape {y_pred.shape}")
    return y_true, y_pred


def _reduce(per_entry, reduction, last_axis_mean=True):
    """Per-sample losses from per-entry terms, then the requested reduction."""
    if per_entry.ndim >= 2:
        per_sample = (reduce.mean if last_axis_mean else reduce.sum)(per_entry, -1)
    else:
        per_sample = per_entry
    if reduction == "mean":
        return reduce.mean(per_sample)
    if reduction == "sum":
        return reduce.sum(per_sample)
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mean_squared_error(y_true, y_pred, reduction="mean"):
    y_true, y_pred = _align("mean_squared_error", y_true, y_pred)
    return _reduce((y_pred - y_true) ** 2, reduction)


def mean_absolute_error(y_true, y_pred, reduction="mean"):
    y_true, y_pred = _align("mean_absolute_error", y_true, y_pred)
    return _reduce(unary.abs(y_pred - y_true), reduction)


def mean_squared_logarithmic_error(y_true, y_pred, reduction="mean"):
    """(ln(1 + y_pred) - ln(1 + y_true))², both clipped at ε below, as Keras."""
    y_true, y_pred = _align("mean_squared_logarithmic_error", y_true, y_pred)
    first = unary.log(shape.clip(y_pred, EPSILON, None) + 1)
    second = unary.log(shape.clip(y_true, EPSILON, None) + 1)
    return _reduce((first - second) ** 2, reduction)


def _binary_from_logits(y, z):
    """max(z,0) - z·y + ln(1 + e^(-|z|)); d/dz = σ(z) - y, d/dy = -z."""
    m, Z, Y = xp(z.data), z.data, y.data
    out = m.maximum(Z, 0) - Z * Y + m.log1p(m.exp(-m.abs(Z)))
    return make(out, "binary_crossentropy_logits", (y, z),
                lambda g: (-g * Z, g * (activations._stable_sigmoid(Z) - Y)))


def binary_crossentropy(y_true, y_pred, from_logits=False, reduction="mean"):
    """-(y ln p + (1-y) ln(1-p)), averaged over the last axis (book, "Probabilités")."""
    y, p = _align("binary_crossentropy", y_true, y_pred)
    if from_logits:
        return _reduce(_binary_from_logits(y, p), reduction)
    p = shape.clip(p, EPSILON, 1 - EPSILON)
    return _reduce(-(y * unary.log(p) + (1 - y) * unary.log(1 - p)), reduction)


def _class_axis_last(name, p, axis):
    if p.ndim == 0:
        raise ValueError(f"{name}: y_pred needs a class axis, got a scalar")
    if axis not in (-1, p.ndim - 1):
        p = shape.transpose(p, [i for i in range(p.ndim) if i != axis % p.ndim] + [axis % p.ndim])
    return p


def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1, reduction="mean"):
    """-Σ_classes y ln p, with one-hot (or soft) targets y."""
    y, p = _align("categorical_crossentropy", y_true, y_pred)
    y = _class_axis_last("categorical_crossentropy", y, axis)
    p = _class_axis_last("categorical_crossentropy", p, axis)
    if from_logits:
        return _categorical_from_logits(y, p, reduction)
    log_p = unary.log(shape.clip(p / reduce.sum(p, -1, keepdims=True), EPSILON, 1 - EPSILON))
    return _reduce_classes(-reduce.sum(y * log_p, -1), reduction)


def _categorical_from_logits(y, z, reduction):
    """-Σ_j y_j (z_j - ln Σ_k e^(z_k)) over the last axis, fused (backend kernel):
    d/dz = softmax(z)·Σ_j y_j - y (softmax - y for one-hot targets), d/dy = -log_softmax(z)."""
    bk, m = backend_of(z.data), xp(z.data)
    Z, Y = m.ascontiguousarray(z.data), m.ascontiguousarray(y.data)
    if Y.dtype != Z.dtype:  # e.g. integer one-hot targets: compute in the logits' float type
        Y = Y.astype(m.result_type(Y.dtype, Z.dtype))
        Z = Z.astype(Y.dtype, copy=False)
    out, lse = bk.softmax_cross_entropy(Z, Y)

    def backward(g):
        g = m.ascontiguousarray(g, dtype=Z.dtype)
        dz = bk.softmax_cross_entropy_backward(Z, Y, lse, g)
        dy = -(Z - lse[..., None]) * g[..., None] if y.requires_grad else None
        return dy, dz
    return _reduced_node("categorical_crossentropy_logits", out, (y, z), backward, reduction)


def _reduced_node(op, per_sample, parents, backward, reduction):
    """One graph node for a fused loss and its reduction: `backward` takes the gradient of the
    per-sample losses (for 'mean' every sample gets g/N: the mean costs no node of its own)."""
    if reduction == "none":
        return make(per_sample, op, parents, backward)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    m = xp(per_sample)
    if reduction == "sum":
        value, scale = per_sample.sum(), 1.0
    else:
        value = per_sample.mean() if per_sample.size else m.asarray(m.nan, per_sample.dtype)
        scale = 1.0 / max(per_sample.size, 1)
    return make(m.asarray(value, per_sample.dtype), op, parents,
                lambda g: backward(m.full(per_sample.shape, g * scale, per_sample.dtype)))


def _reduce_classes(per_sample, reduction):
    """Reduce per-sample losses of any batch shape (one loss per class vector)."""
    if reduction == "none":
        return per_sample
    return _reduce(shape.reshape(per_sample, -1), reduction)


def _labels(y_true, n_classes, batch_shape, device, kernel_checks_range=False):
    """Integer labels of shape `batch_shape`, checked to lie in [0, n_classes) (by the fused
    kernel itself when `kernel_checks_range`). Labels given as an array stay where they are:
    host labels of GPU predictions are checked on the host (no wait for the GPU) and copied
    over by the kernel; a label Tensor must be on the predictions' device."""
    if isinstance(y_true, Tensor):
        labels = y_true.data
        if device_of(labels) != device:
            raise ValueError(f"sparse_categorical_crossentropy: labels on the "
                             f"{device_of(labels)} and predictions on the {device}; move them "
                             "to one device")
    else:
        labels = y_true if device_of(y_true) == "gpu" else np.asarray(y_true)
    m = xp(labels)
    if kernel_checks_range and labels.dtype.kind in "iu" and labels.shape == batch_shape:
        return labels
    if labels.shape != batch_shape:
        if labels.shape == batch_shape + (1,):
            labels = labels.reshape(batch_shape)
        else:
            raise ValueError(f"sparse_categorical_crossentropy: labels of shape {labels.shape} "
                             f"do not match predictions of batch shape {batch_shape}")
    if labels.dtype.kind == "f":
        if not (labels == m.floor(labels)).all():
            raise ValueError("sparse_categorical_crossentropy: labels must be integers")
    elif labels.dtype.kind not in "iu":
        raise TypeError(f"sparse_categorical_crossentropy: labels must be integers, "
                        f"got dtype {labels.dtype}")
    labels = labels.astype(m.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"sparse_categorical_crossentropy: label {bad} is out of range for "
                         f"{n_classes} classes")
    return labels


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1,
                                    reduction="mean"):
    """-ln p[label]: categorical cross-entropy with integer labels instead of one-hot."""
    p = _class_axis_last("sparse_categorical_crossentropy", as_tensor(y_pred), axis)
    labels = _labels(y_true, p.shape[-1], p.shape[:-1], p.device,
                     kernel_checks_range=from_logits)
    if from_logits:
        return _sparse_from_logits(p, labels, reduction)
    log_p = unary.log(shape.clip(p / reduce.sum(p, -1, keepdims=True), EPSILON, 1 - EPSILON))
    picked = shape.getitem(log_p, tuple(xp(labels).indices(labels.shape)) + (labels,))
    return _reduce_classes(-picked, reduction)


def _sparse_from_logits(z, labels, reduction):
    """ln Σ_j e^(z_j) - z[label], fused (backend kernel): d/dz = softmax(z) - one_hot(label)."""
    bk, m = backend_of(z.data), xp(z.data)
    Z = m.ascontiguousarray(z.data)
    labels = xp(labels).ascontiguousarray(labels)
    out, lse = bk.sparse_softmax_cross_entropy(Z, labels)

    def backward(g):
        g = m.ascontiguousarray(g, dtype=Z.dtype)
        return (bk.sparse_softmax_cross_entropy_backward(Z, labels, lse, g),)
    return _reduced_node("sparse_crossentropy_logits", out, (z,), backward, reduction)


mse = mean_squared_error
mae = mean_absolute_error
msle = mean_squared_logarithmic_error
