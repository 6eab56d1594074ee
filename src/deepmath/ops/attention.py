"""Scaled dot-product attention (book, chapter on attention and ChatGPT):

    out = softmax(q·kᵀ·scale + mask)·v,   scale = 1/√d by default,

for q (B, H, Tq, d) and k, v (B, H, Tk, d). Differentiable with respect to q, k and v; the
mask is a constant. As in FlashAttention, the forward pass keeps only `out` and the row
log-sum-exp `lse` (B, H, Tq) for the backward pass, which recomputes the attention weights
tile by tile: memory O(B·H·T), never a (T, T) matrix per head.

`causal=True`: query i attends keys j <= i (PyTorch's `is_causal`). `mask`: additive float
mask broadcastable to (B, H, Tq, Tk), or bool (True = attend), numpy array or Tensor.
A query whose every key is masked gets output 0 and zero gradients (PyTorch gives NaN).
"""
import numpy as np

from ..backend import get_backend
from ..tensor import Tensor
from ._base import as_tensor, make


def scaled_dot_product_attention(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q·kᵀ·scale + mask)·v over the last two axes of (B, H, T, d) tensors."""
    q = as_tensor(q)
    k = as_tensor(k, q)
    v = as_tensor(v, q)
    if isinstance(mask, Tensor):
        mask = mask.data
    if mask is not None:
        mask = np.asarray(mask)
    bk = get_backend()
    out, lse = bk.attention_forward(q.data, k.data, v.data, mask, causal, scale)

    def backward(g):
        dq, dk, dv = bk.attention_backward(q.data, k.data, v.data, out, lse, g, mask, causal,
                                           scale)
        return (dq if q.requires_grad else None, dk if k.requires_grad else None,
                dv if v.requires_grad else None)
    return make(out, "scaled_dot_product_attention", (q, k, v), backward)
