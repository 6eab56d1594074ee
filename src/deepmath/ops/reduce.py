"""Reductions along axes: sum, mean, max, min (the gradient of a sum is spread back to every
term; that of a max goes to the maximal entries, shared equally between ties)."""
from ._base import as_tensor, expand_reduced, make, normalize_axis


def sum(x, axis=None, keepdims=False):
    x = as_tensor(x)
    axes, shape = normalize_axis(axis, x.ndim), x.shape
    out = x.data.sum(axis=axes, keepdims=keepdims)
    return make(out, "sum", (x,), lambda g: (expand_reduced(g, shape, axes, keepdims),))


def mean(x, axis=None, keepdims=False):
    x = as_tensor(x)
    axes, shape = normalize_axis(axis, x.ndim), x.shape
    count = 1
    for a in axes:
        count *= shape[a]
    if count == 0:
        raise ValueError(f"mean over an empty axis of a tensor of shape {shape}")
    out = x.data.mean(axis=axes, keepdims=keepdims)
    return make(out, "mean", (x,), lambda g: (expand_reduced(g / count, shape, axes, keepdims),))


def _extremum(name, x, axis, keepdims):
    x = as_tensor(x)
    axes, shape = normalize_axis(axis, x.ndim), x.shape
    if x.size == 0:
        raise ValueError(f"{name} of an empty tensor of shape {shape}")
    reduce = x.data.max if name == "max" else x.data.min
    out = reduce(axis=axes, keepdims=keepdims)

    def backward(g):
        hit = x.data == expand_reduced(out, shape, axes, keepdims)
        share = hit / hit.sum(axis=axes, keepdims=True)
        return (expand_reduced(g, shape, axes, keepdims) * share,)
    return make(out, name, (x,), backward)


def max(x, axis=None, keepdims=False):
    return _extremum("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return _extremum("min", x, axis, keepdims)
