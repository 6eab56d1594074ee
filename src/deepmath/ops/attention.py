"""Scaled dot-product attention (book, chapter on attention and ChatGPT):

    out = softmax(q·kᵀ·scale + mask)·v,   scale = 1/√d by default,

for q (B, H, Tq, d) and k, v (B, H, Tk, d). Differentiable with respect to q, k and v; the
mask is a constant. As in FlashAttention, the forward pass keeps only `out` and the row
log-sum-exp `lse` (B, H, Tq) for the backward pass, which recomputes the attention weights
tile by tile: memory O(B·H·T), never a (T, T) matrix per head.

`causal=True`: query i attends keys j <= i (PyTorch's `is_causal`). `mask`: additive float
mask broadcastable to (B, H, Tq, Tk), or bool (True = attend), numpy array or Tensor.
A query whose every key is masked gets output 0 and zero gradients (PyTorch gives NaN).

`self_attention(qkv, n_head)` is the GPT block's case as one op: the fused projection
qkv (B, T, 3C), read as q | k | v each split into n_head heads of C/n_head, gives the heads'
outputs side by side (B, T, C); its backward writes dq | dk | dv into one (B, T, 3C) array
(the split, transposes and concatenation would otherwise be half a dozen graph nodes, each
with full-size temporaries).
"""
from ..backend import backend_of, to_device
from ..tensor import Tensor
from ._base import as_tensor, make, same_device, xp


def scaled_dot_product_attention(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q·kᵀ·scale + mask)·v over the last two axes of (B, H, T, d) tensors."""
    q = as_tensor(q)
    k = as_tensor(k, q)
    v = as_tensor(v, q)
    if isinstance(mask, Tensor):
        mask = mask.data
    same_device("scaled_dot_product_attention", q, k, v)
    if mask is not None:
        mask = to_device(mask, q.device)
    bk = backend_of(q.data)
    out, lse = bk.attention_forward(q.data, k.data, v.data, mask, causal, scale)

    def backward(g):
        dq, dk, dv = bk.attention_backward(q.data, k.data, v.data, out, lse, g, mask, causal,
                                           scale)
        return (dq if q.requires_grad else None, dk if k.requires_grad else None,
                dv if v.requires_grad else None)
    return make(out, "scaled_dot_product_attention", (q, k, v), backward)


def self_attention(qkv, n_head, causal=True, scale=None):
    """Multi-head self-attention from a fused projection qkv (B, T, 3C) → (B, T, C)."""
    qkv = as_tensor(qkv)
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * n_head):
        raise ValueError(f"self_attention: qkv must be (B, T, 3C) with C a multiple of "
                         f"n_head={n_head}, got shape {qkv.shape}")
    b, t, c3 = qkv.shape
    d = c3 // (3 * n_head)
    heads = qkv.data.reshape(b, t, 3, n_head, d).transpose(2, 0, 3, 1, 4)   # (3, B, H, T, d)
    m, bk = xp(qkv.data), backend_of(qkv.data)
    q, k, v = (m.ascontiguousarray(heads[i]) for i in range(3))
    out, lse = bk.attention_forward(q, k, v, None, causal, scale)
    y = m.ascontiguousarray(out.transpose(0, 2, 1, 3)).reshape(b, t, c3 // 3)

    def backward(g):
        g = m.ascontiguousarray(g.reshape(b, t, n_head, d).transpose(0, 2, 1, 3))
        grads = bk.attention_backward(q, k, v, out, lse, g, None, causal, scale)
        dqkv = m.empty((b, t, 3, n_head, d), dtype=qkv.dtype)
        for i, gi in enumerate(grads):
            dqkv[:, :, i] = gi.transpose(0, 2, 1, 3)
        return (dqkv.reshape(b, t, c3),)
    return make(y, "self_attention", (qkv,), backward)
