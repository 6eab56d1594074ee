"""Layer normalization over the last axis (see _families.py): REFERENCE (NumPy) and NATIVE (C)
tables. The formulas are in ops/normalization.py; here the row statistics are returned so
that the backward needs nothing else:

    layer_norm_forward(x, gamma, beta, epsilon) -> (y, mean, rstd)     mean, rstd: x.shape[:-1]
    layer_norm_backward(x, gamma, mean, rstd, grad, need_dx, need_dgamma, need_dbeta)
        -> (dx, dgamma, dbeta), None where not needed

gamma and beta are (C,) arrays of x's dtype, or None (no scale, no shift).
"""
from ._arrays import array_module
from ._native_import import kernels


def layer_norm_forward_reference(x, gamma=None, beta=None, epsilon=1e-5):
    xp = array_module(x, gamma, beta)
    mean = x.mean(axis=-1)
    centred = x - mean[..., None]
    rstd = (1.0 / xp.sqrt((centred * centred).mean(axis=-1) + epsilon)).astype(x.dtype)
    y = centred * rstd[..., None]
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y, mean, rstd


def layer_norm_backward_reference(x, gamma, mean, rstd, grad, need_dx=True, need_dgamma=True,
                                  need_dbeta=True):
    rstd = rstd[..., None]
    xhat = (x - mean[..., None]) * rstd
    rows = (-1, x.shape[-1])
    dgamma = (grad * xhat).reshape(rows).sum(axis=0) if need_dgamma else None
    dbeta = grad.reshape(rows).sum(axis=0) if need_dbeta else None
    dx = None
    if need_dx:
        d = grad if gamma is None else grad * gamma
        dx = rstd * (d - d.mean(axis=-1, keepdims=True)
                     - xhat * (d * xhat).mean(axis=-1, keepdims=True))
    return dx, dgamma, dbeta


REFERENCE = {"layer_norm_forward": layer_norm_forward_reference,
             "layer_norm_backward": layer_norm_backward_reference}
NATIVE = {} if kernels is None else {"layer_norm_forward": kernels.layer_norm_forward,
                                     "layer_norm_backward": kernels.layer_norm_backward}
