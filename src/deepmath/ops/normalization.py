"""Layer and batch normalization, each ONE differentiable op (Keras' LayerNormalization and
BatchNormalization; Ba et al. 2016, Ioffe & Szegedy 2015).

    x̂ = (x - μ) / √(σ² + ε),    y = γ·x̂ + β              μ, σ² over the normalized axes
    dβ = Σ dy,   dγ = Σ dy·x̂                             Σ over the axes γ does not span
    dx = (dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂)) / √(σ² + ε),   dx̂ = γ·dy

The closed-form dx (the gradient through μ and σ² included) makes one backward step instead
of the dozen small ops the formula would record. `layer_norm` normalizes every sample over
`axis`, γ and β lying along those axes; `batch_norm` normalizes every feature of `axis` over
all the other axes (batch, height, width) in training, and with the moving statistics in
inference, where it is affine: y = x·γ/√(σ²+ε) + (β - μ·γ/√(σ²+ε)).
"""
import math

import numpy as np

from ..backend import backend_of
from ..tensor import Tensor
from ._base import as_tensor, make, normalize_axis, same_device, xp


def _broadcast_shape(shape, axes):
    """`shape` with 1 on every axis but `axes`: (N, H, W, C), (3,) -> (1, 1, 1, C)."""
    return tuple(n if i in axes else 1 for i, n in enumerate(shape))


def _params(x, gamma, beta, param_axes):
    """Tensors (or None) γ, β and their arrays in x's dtype, shaped to broadcast over x."""
    shape = _broadcast_shape(x.shape, param_axes)
    tensors, arrays = [], []
    for name, p in (("gamma", gamma), ("beta", beta)):
        p = None if p is None else as_tensor(p, x)
        if p is not None and p.size != math.prod(shape):
            raise ValueError(f"normalization: {name} has shape {p.shape}, expected "
                             f"{tuple(x.shape[i] for i in param_axes)} for an input of "
                             f"shape {x.shape}")
        same_device("normalization", x, p)
        tensors.append(p)
        arrays.append(None if p is None else p.data.reshape(shape).astype(x.dtype, copy=False))
    return tensors, arrays


def _output(op, x, gamma, beta, forward, backward):
    """The op's tensor: parents x and the given γ, β; the gradients in the same order."""
    parents = tuple(p for p in (x, gamma, beta) if p is not None)

    def grads(g):
        dx, dgamma, dbeta = backward(g)
        pairs = ((x, dx), (gamma, dgamma), (beta, dbeta))
        return tuple(None if d is None else d.reshape(p.shape) for p, d in pairs
                     if p is not None)
    return make(forward, op, parents, grads)


def _normalize(op, x, gamma, beta, axes, param_axes, epsilon):
    """y = γ·x̂ + β with statistics over `axes`; returns (y, μ, σ²), μ and σ² keepdims.
    In place where it can: every fresh array of this size costs as much as a pass over it."""
    (gamma, beta), (G, B) = _params(x, gamma, beta, param_axes)
    X, np_ = x.data, xp(x.data)
    mean = X.mean(axis=axes, keepdims=True)
    xhat = X - mean
    out = xhat * xhat                          # (x - μ)², then the output's buffer
    var = out.mean(axis=axes, keepdims=True)
    rstd = 1.0 / np_.sqrt(var + epsilon)
    xhat *= rstd
    if G is not None:
        np_.multiply(xhat, G, out=out)
        if B is not None:
            out += B
    elif B is not None:
        np_.add(xhat, B, out=out)
    else:
        out = xhat                             # kept for the backward: never modified
    other = tuple(i for i in range(X.ndim) if i not in param_axes)

    def backward(g):
        gx = g * xhat
        dgamma = gx.sum(axis=other) if gamma is not None and gamma.requires_grad else None
        dbeta = g.sum(axis=other) if beta is not None and beta.requires_grad else None
        if not x.requires_grad:
            return None, dgamma, dbeta
        if G is not None:
            gx *= G                            # dx̂·x̂
            dx = g * G                         # dx̂
        else:
            dx = g.copy()
        dx -= dx.mean(axis=axes, keepdims=True)
        dx -= np_.multiply(xhat, gx.mean(axis=axes, keepdims=True), out=gx)
        dx *= rstd
        return dx, dgamma, dbeta
    return _output(op, x, gamma, beta, out, backward), mean, var


def layer_norm(x, gamma=None, beta=None, axis=-1, epsilon=1e-3):
    """Normalize each sample of x over `axis` (an int or a list of axes), then scale by γ and
    shift by β, whose shape is that of the normalized axes: (C,) for axis=-1."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    if axes == (x.ndim - 1,) and x.shape[-1] and x.dtype in (np.float32, np.float64):
        return _layer_norm_last_axis(x, gamma, beta, epsilon)
    return _normalize("layer_norm", x, gamma, beta, axes, axes, epsilon)[0]


def _layer_norm_last_axis(x, gamma, beta, epsilon):
    """The Transformer's case, on the backend's layer_norm kernels (one pass per row)."""
    (gamma, beta), (G, B) = _params(x, gamma, beta, (x.ndim - 1,))
    G = None if G is None else G.reshape(-1)
    B = None if B is None else B.reshape(-1)
    bk, X = backend_of(x.data), x.data
    y, mean, rstd = bk.layer_norm_forward(X, G, B, epsilon)

    def backward(g):
        return bk.layer_norm_backward(
            X, G, mean, rstd, g, need_dx=x.requires_grad,
            need_dgamma=gamma is not None and gamma.requires_grad,
            need_dbeta=beta is not None and beta.requires_grad)
    return _output("layer_norm", x, gamma, beta, y, backward)


def _array(stat):
    return stat.data if isinstance(stat, Tensor) else stat


def batch_norm(x, moving_mean=None, moving_variance=None, gamma=None, beta=None,
               training=False, momentum=0.99, epsilon=1e-3, axis=-1):
    """Normalize each feature (along `axis`) of x, then γ·x̂ + β; the statistics' shape is (C,).

    training=True: the batch's mean and (biased) variance over the other axes; the moving
    statistics, when given (tensors or arrays), are updated in place as Keras does:
    moving = moving·momentum + batch·(1 - momentum). training=False: the moving ones."""
    x = as_tensor(x)
    if x.ndim < 1:
        raise ValueError("batch_norm: x must have at least one axis")
    feature = normalize_axis(axis, x.ndim)
    if len(feature) != 1:
        raise ValueError(f"batch_norm: axis must be one axis, got {axis!r}")
    reduce = tuple(i for i in range(x.ndim) if i not in feature)
    if training:
        out, mean, var = _normalize("batch_norm", x, gamma, beta, reduce, feature, epsilon)
        for stat, batch in ((moving_mean, mean), (moving_variance, var)):
            if stat is not None:
                stat = _array(stat)
                stat[...] = stat * momentum + batch.reshape(stat.shape) * (1.0 - momentum)
        return out
    if moving_mean is None or moving_variance is None:
        raise ValueError("batch_norm: inference (training=False) needs moving_mean and "
                         "moving_variance")
    return _batch_norm_inference(x, _array(moving_mean), _array(moving_variance), gamma, beta,
                                 feature, reduce, epsilon)


def _batch_norm_inference(x, mean, var, gamma, beta, feature, reduce, epsilon):
    """y = x·scale + shift with constant statistics: dx = dy·scale."""
    (gamma, beta), (G, B) = _params(x, gamma, beta, feature)
    X = x.data
    shape = _broadcast_shape(X.shape, feature)
    if mean.size != X.shape[feature[0]] or var.size != X.shape[feature[0]]:
        raise ValueError(f"batch_norm: moving statistics of shapes {mean.shape} and "
                         f"{var.shape} do not match {X.shape[feature[0]]} features")
    mean = mean.reshape(shape).astype(X.dtype, copy=False)
    rstd = 1.0 / xp(X).sqrt(var.reshape(shape).astype(X.dtype, copy=False) + epsilon)
    scale = rstd if G is None else G * rstd
    out = X * scale
    out -= mean * scale
    if B is not None:
        out += B

    def backward(g):
        dx = g * scale if x.requires_grad else None
        dbeta = g.sum(axis=reduce) if beta is not None and beta.requires_grad else None
        dgamma = None
        if gamma is not None and gamma.requires_grad:
            gsum = dbeta if dbeta is not None else g.sum(axis=reduce)
            dgamma = ((g * X).sum(axis=reduce) - mean.reshape(-1) * gsum.reshape(-1)) \
                * rstd.reshape(-1)
        return dx, dgamma, dbeta
    return _output("batch_norm", x, gamma, beta, out, backward)
