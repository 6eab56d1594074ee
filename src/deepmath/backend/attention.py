"""Scaled dot-product attention kernels (see _families.py): REFERENCE and NATIVE tables.

    attention_forward(q, k, v, mask=None, causal=False, scale=None) -> (out, lse)
    attention_backward(q, k, v, out, lse, grad, mask=None, causal=False, scale=None)
        -> (dq, dk, dv)

q (B, H, Tq, d), k and v (B, H, Tk, d); S = q·kᵀ·scale + mask (scale defaults to 1/√d),
P = softmax(S) over the keys, out = P·v, lse = logsumexp(S) over the keys, (B, H, Tq).
`causal`: query i attends keys j <= i (PyTorch's `is_causal`, top-left aligned when Tq != Tk).
`mask`: additive float mask broadcastable to (B, H, Tq, Tk), or bool (True = attend).
A fully masked row (every score -inf) gives out = 0, lse = -inf and zero gradients — where
PyTorch gives NaN — so that padding rows do not poison a batch.

The reference below is the textbook formula in NumPy (or CuPy, the inputs' module): it
materialises the (Tq, Tk) scores, which is what the native kernels (src/_kernels/dm_attention.c)
avoid — they run tile by tile with an online softmax and keep only lse for the backward pass.
"""
import numpy as np

from ._arrays import array_module
from ._native_import import kernels


def _prepare(q, k, v, mask, causal, scale):
    """Arrays, the full additive mask (or None) and the scale, checked."""
    xp = array_module(q, k, v, mask)
    q, k, v = (xp.asarray(a) for a in (q, k, v))
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim != 4:
            raise ValueError(f"attention: {name} must have 4 dimensions (B, H, T, d), got "
                             f"shape {a.shape}")
        if a.dtype.kind != "f":
            raise TypeError(f"attention: {name} has dtype {a.dtype}; expected float32 or "
                            "float64")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise TypeError(f"attention: q, k, v have dtypes {q.dtype}, {k.dtype}, {v.dtype}; they "
                        "must be the same")
    if k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3] or v.shape != k.shape:
        raise ValueError(f"attention: q {q.shape}, k {k.shape}, v {v.shape} do not match: "
                         "expected q (B, H, Tq, d), k and v (B, H, Tk, d)")
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    dt = q.dtype
    add = None
    if mask is not None:
        m = xp.asarray(mask)
        if m.dtype == np.bool_:
            m = xp.where(m, 0, -np.inf)
        elif m.dtype.kind != "f":
            raise TypeError(f"attention: mask has dtype {m.dtype}; expected a float "
                            "(additive) or bool mask")
        try:
            add = xp.broadcast_to(m.astype(dt, copy=False), (B, H, Tq, Tk))
        except ValueError:
            raise ValueError(f"attention: mask of shape {m.shape} does not broadcast to "
                             f"(B, H, Tq, Tk) = {(B, H, Tq, Tk)}") from None
    if causal:
        keep = xp.tril(xp.ones((Tq, Tk), dtype=bool))
        cm = xp.where(keep, 0, -np.inf).astype(dt)
        add = cm if add is None else add + cm
    if scale is None:
        scale = 1.0 / np.sqrt(d) if d > 0 else 1.0
    return q, k, v, add, dt.type(scale)


def _scores(q, k, add, scale):
    xp = array_module(q, k, add)
    s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * scale
    return s if add is None else s + add


def attention_forward_reference(q, k, v, mask=None, causal=False, scale=None):
    """(out, lse): softmax(q·kᵀ·scale + mask)·v and the rows' log-sum-exp (NumPy or CuPy)."""
    q, k, v, add, scale = _prepare(q, k, v, mask, causal, scale)
    xp = array_module(q)
    s = _scores(q, k, add, scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        if s.shape[-1] == 0:
            m = xp.full(s.shape[:-1] + (1,), -np.inf, dtype=s.dtype)
        else:
            m = s.max(axis=-1, keepdims=True)
        m = xp.where(m == -np.inf, 0, m).astype(s.dtype)   # fully masked rows: shift by 0
        e = xp.exp(s - m)
        l = e.sum(axis=-1, keepdims=True)
        p = xp.where(l == 0, 0, e / xp.where(l == 0, 1, l)).astype(s.dtype)
        lse = (m + xp.log(l))[..., 0]
    return xp.matmul(p, v).astype(q.dtype, copy=False), lse.astype(q.dtype, copy=False)


def attention_backward_reference(q, k, v, out, lse, grad, mask=None, causal=False, scale=None):
    """(dq, dk, dv) of attention_forward_reference, from its out and lse and d loss / d out."""
    q, k, v, add, scale = _prepare(q, k, v, mask, causal, scale)
    xp = array_module(q)
    out, lse, grad = (xp.asarray(a, dtype=q.dtype) for a in (out, lse, grad))
    s = _scores(q, k, add, scale)
    L = lse[..., None]
    with np.errstate(invalid="ignore", over="ignore"):
        p = xp.where(L == -np.inf, 0, xp.exp(s - xp.where(L == -np.inf, 0, L)))
    p = p.astype(q.dtype, copy=False)
    dv = xp.matmul(xp.swapaxes(p, -1, -2), grad)
    dp = xp.matmul(grad, xp.swapaxes(v, -1, -2))
    D = xp.sum(grad * out, axis=-1, keepdims=True)
    ds = p * (dp - D) * scale
    dq = xp.matmul(ds, k)
    dk = xp.matmul(xp.swapaxes(ds, -1, -2), q)
    return tuple(a.astype(q.dtype, copy=False) for a in (dq, dk, dv))


REFERENCE = {"attention_forward": attention_forward_reference,
             "attention_backward": attention_backward_reference}
NATIVE = {} if kernels is None else {"attention_forward": kernels.attention_forward,
                                     "attention_backward": kernels.attention_backward}
