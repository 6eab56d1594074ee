"""MultiHeadAttention, Keras 3's layer (book, "ChatGPT – partie 2", attention):

    q_h = x_q·W_q[:, h] + b_q[h],  k_h = x_k·W_k[:, h] + b_k[h],  v_h = x_v·W_v[:, h] + b_v[h]
    o_h = softmax(q_h·k_hᵀ / √key_dim + mask)·v_h,     out = Σ_h o_h·W_o[h] + b_o

with Keras' weights and order: query, key, value kernels (d, heads, key_dim) and biases
(heads, key_dim); output kernel (heads, value_dim, d_out) and bias (d_out,). The attention
runs on the fused kernel (no T×T matrix kept); the probabilities are materialised only when
asked for (`return_attention_scores`), dropped out (`dropout` in training), or when
value_dim differs from key_dim (the kernel takes one head size).
"""
import numpy as np

from .. import initializers, ops
from ..backend import to_numpy
from ..tensor import Tensor
from ._validation import who
from .base import Layer, shape_str


class MultiHeadAttention(Layer):
    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim),
                            ("value_dim", value_dim if value_dim is not None else key_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{who(self)}: {name} must be a positive integer, got "
                                 f"{value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{who(self)}: dropout must be in [0, 1), got {dropout!r}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        self.output_dim = None if output_shape is None else int(
            output_shape[-1] if isinstance(output_shape, (list, tuple)) else output_shape)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._with_key = False

    # ---- Keras' signature ------------------------------------------------------------------
    def __call__(self, query, value, key=None, attention_mask=None,
                 return_attention_scores=False, training=None, use_causal_mask=False):
        """mha(query, value, key=None, attention_mask=None, use_causal_mask=False): key
        defaults to value; attention_mask (B, T, S), True/1 where a query may attend."""
        self._with_key = key is not None
        inputs = [query, value] + ([key] if key is not None else [])
        options = {"use_causal_mask": bool(use_causal_mask)}
        if attention_mask is not None:
            if isinstance(attention_mask, (Tensor, np.ndarray, list)) or np.isscalar(
                    attention_mask):
                options["attention_mask"] = to_numpy(
                    attention_mask.data if isinstance(attention_mask, Tensor)
                    else attention_mask)
            else:
                raise TypeError(f"{who(self)}: attention_mask must be an array (a symbolic mask "
                                "is not supported)")
        if return_attention_scores:
            options["return_attention_scores"] = True
        return super().__call__(inputs, training=training, **options)

    def build(self, input_shape):
        shapes = list(input_shape)
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        for name, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) < 3 or shape[-1] is None:
                raise ValueError(f"{who(self)}: {name} must be (batch, length, features) with "
                                 f"known features, got {shape_str(shape)}")
        h, dk, dv = self.num_heads, self.key_dim, self.value_dim
        out_dim = self.output_dim or query[-1]

        def dense(name, shape, bias_shape):
            kernel = self.add_weight(f"{name}/kernel", shape, self.kernel_initializer)
            bias = self.add_weight(f"{name}/bias", bias_shape, self.bias_initializer) \
                if self.use_bias else None
            return kernel, bias
        self.query_kernel, self.query_bias = dense("query", (query[-1], h, dk), (h, dk))
        self.key_kernel, self.key_bias = dense("key", (key[-1], h, dk), (h, dk))
        self.value_kernel, self.value_bias = dense("value", (value[-1], h, dv), (h, dv))
        self.output_kernel, self.output_bias = dense("attention_output", (h, dv, out_dim),
                                                     (out_dim,))

    def compute_output_shape(self, input_shape):
        query = tuple(input_shape[0])
        return query[:-1] + (self.output_dim or query[-1],)

    # ---- computing -------------------------------------------------------------------------
    def call(self, inputs, training=False, use_causal_mask=False, attention_mask=None,
             return_attention_scores=False):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        for name, x in (("query", query), ("value", value), ("key", key)):
            if x.ndim != 3:
                raise ValueError(f"{who(self)}: {name} must be (batch, length, features), got "
                                 f"shape {shape_str(x.shape)}")
        if key.shape[:2] != value.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(f"{who(self)}: key {shape_str(key.shape)} and value "
                             f"{shape_str(value.shape)} must share batch and length, and the "
                             f"query {shape_str(query.shape)} the batch")
        q = self._heads(query, self.query_kernel, self.query_bias)
        k = self._heads(key, self.key_kernel, self.key_bias)
        v = self._heads(value, self.value_kernel, self.value_bias)
        mask = self._mask(attention_mask, query.shape[1], key.shape[1], query.shape[0])
        scale = 1.0 / np.sqrt(self.key_dim)
        drop = self.dropout > 0 and training
        if return_attention_scores or drop or self.value_dim != self.key_dim:
            scores = ops.mul(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), scale)
            scores = ops.softmax(scores + _additive(mask, use_causal_mask, q.shape[2],
                                                    k.shape[2], scores.dtype), axis=-1)
            probs = ops.dropout(scores, self.dropout) if drop else scores
            out = ops.matmul(probs, v)
        else:
            out = ops.scaled_dot_product_attention(q, k, v, mask=mask, causal=use_causal_mask,
                                                   scale=scale)
        b, t = query.shape[0], query.shape[1]
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (b, t, -1))   # (B, T, H·dv)
        kernel = ops.reshape(self.output_kernel, (-1, self.output_kernel.shape[-1]))
        out = ops.dense(out, kernel, self.output_bias)
        return (out, scores) if return_attention_scores else out

    def _heads(self, x, kernel, bias):
        """(B, T, d) · (d, H, k) + (H, k) → (B, H, T, k)."""
        b, t, _ = x.shape
        h, k = kernel.shape[1], kernel.shape[2]
        y = ops.dense(x, ops.reshape(kernel, (kernel.shape[0], h * k)),
                      None if bias is None else ops.reshape(bias, (h * k,)))
        return ops.transpose(ops.reshape(y, (b, t, h, k)), (0, 2, 1, 3))

    def _mask(self, mask, t, s, batch):
        """A (B, 1, T, S) bool mask (True: attend) from Keras' (B, T, S) or (T, S), or None."""
        if mask is None:
            return None
        mask = to_numpy(mask).astype(bool)
        if mask.ndim == 2:
            mask = mask[None]
        if mask.ndim != 3 or mask.shape[1:] != (t, s) or mask.shape[0] not in (1, batch):
            raise ValueError(f"{who(self)}: attention_mask must be (batch, {t}, {s}), got shape "
                             f"{mask.shape}")
        return mask[:, None]

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias, "output_shape": self.output_dim,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


def _additive(mask, causal, t, s, dtype):
    """The additive mask of a bool mask and causality (query i sees keys j <= i): 0 where
    attended, -1e9 elsewhere as Keras' masked softmax (a fully masked row then averages all
    values, where the fused kernel gives 0)."""
    allowed = np.ones((1, 1, t, s), dtype=bool) if mask is None else mask
    if causal:
        allowed = allowed & np.tril(np.ones((t, s), dtype=bool))
    return np.where(allowed, 0.0, -1e9).astype(dtype)
