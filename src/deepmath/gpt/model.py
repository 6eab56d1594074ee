"""A GPT (book, "ChatGPT – partie 2"): token and learned position embeddings, `n_layer`
pre-LayerNorm Transformer blocks on a residual stream, a final LayerNorm and the output
projection tied to the token embedding, as GPT-2 and nanoGPT:

    x = wte[idx] + wpe[0..T-1]
    x = x + attn(ln_1(x))          causal multi-head self-attention, fused kernel
    x = x + mlp(ln_2(x))           Dense 4C, GELU, Dense C
    logits = ln_f(x) · wteᵀ

Weights are plain `Tensor`s named as nanoGPT's state dict (`transformer.h.0.attn.c_attn.weight`
...), Dense kernels stored (n_in, n_out) as Keras (nanoGPT's Linear stores the transpose).
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import ops
from ..backend import check_device, to_device, to_numpy
from ..creation import tensor
from ..tensor import Tensor, no_grad


@dataclass
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    activation: str = "gelu"            # 'gelu' (erf, nanoGPT) or 'gelu_tanh' (GPT-2's gelu_new)
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"GPTConfig: {name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be a multiple of n_head "
                             f"({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout!r}")
        if self.activation not in ("gelu", "gelu_tanh"):
            raise ValueError(f"GPTConfig: activation must be 'gelu' or 'gelu_tanh', got "
                             f"{self.activation!r}")


class GPT:
    """`GPT(config, seed)`: `model(idx)` → logits (B, T, vocab); `model(idx, targets)` →
    (logits, mean cross-entropy). Initialised as GPT-2: N(0, 0.02), residual projections
    N(0, 0.02/√(2·n_layer)), zero biases, unit LayerNorm scales."""

    def __init__(self, config, seed=0, dtype=np.float32):
        self.config = config
        self.training = True
        self._attention_maps = None     # a list while `attention_maps` runs
        self.params = _init_params(config, np.random.default_rng(seed), np.dtype(dtype))

    # ---- parameters ------------------------------------------------------------------------
    def parameters(self):
        return list(self.params.values())

    def named_parameters(self):
        return list(self.params.items())

    def num_params(self, non_embedding=True):
        """Parameter count; without the position embedding by default (nanoGPT's figure)."""
        n = sum(p.size for p in self.params.values())
        return n - self.params["transformer.wpe.weight"].size if non_embedding else n

    def decayed(self):
        """The parameters AdamW decays: matrices and embeddings, not biases nor LayerNorm."""
        return [p for p in self.params.values() if p.ndim >= 2]

    @property
    def device(self):
        """Where the parameters live: 'cpu' or 'gpu'."""
        return self.params["transformer.wte.weight"].device

    def to(self, device):
        """Move the parameters to `device` ('cpu', 'gpu' or 'cuda'); returns the model."""
        device = check_device(device)
        for p in self.params.values():
            if p.device != device:
                p.data, p.grad = to_device(p.data, device), None
        return self

    def state_dict(self):
        """NumPy copies of the parameters (from any device)."""
        return {name: np.array(to_numpy(p.data)) for name, p in self.params.items()}

    def load_state_dict(self, state):
        missing = set(self.params) - set(state)
        unexpected = set(state) - set(self.params)
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing {sorted(missing)}, unexpected "
                             f"{sorted(unexpected)}")
        for name, p in self.params.items():
            value = to_numpy(state[name])
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: {name} has shape {value.shape}, the model "
                                 f"{p.shape}")
            p.data[...] = to_device(value.astype(p.dtype, copy=False), p.device)

    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # ---- forward ---------------------------------------------------------------------------
    def __call__(self, idx, targets=None):
        idx = _token_array(idx, self.config)
        p, c = self.params, self.config
        _, t = idx.shape
        x = ops.embedding(idx, p["transformer.wte.weight"]) + \
            ops.embedding(np.arange(t), p["transformer.wpe.weight"])
        x = self._dropout(x)
        for i in range(c.n_layer):
            x = self._block(x, f"transformer.h.{i}.")
        x = self._layer_norm(x, "transformer.ln_f.")
        logits = ops.matmul(x, ops.transpose(p["transformer.wte.weight"]))
        if targets is None:
            return logits
        targets = _token_array(targets, c, "targets")
        if targets.shape != idx.shape:
            raise ValueError(f"targets have shape {targets.shape}, idx {idx.shape}")
        loss = ops.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        return logits, loss

    def _block(self, x, prefix):
        x = x + self._attention(self._layer_norm(x, prefix + "ln_1."), prefix + "attn.")
        return x + self._mlp(self._layer_norm(x, prefix + "ln_2."), prefix + "mlp.")

    def _attention(self, x, prefix):
        b, t, c = x.shape
        h = self.config.n_head
        qkv = self._dense(x, prefix + "c_attn.")                       # (B, T, 3C)
        if self._attention_maps is not None:
            q, k, _ = qkv.data.reshape(b, t, 3, h, c // h).transpose(2, 0, 3, 1, 4)
            self._attention_maps.append(_causal_softmax(to_numpy(q), to_numpy(k)))  # (B,H,T,T)
        y = ops.self_attention(qkv, h, causal=True)                     # (B, T, C)
        return self._dropout(self._dense(y, prefix + "c_proj."))

    def _mlp(self, x, prefix):
        x = self._dense(x, prefix + "c_fc.", self.config.activation)
        return self._dropout(self._dense(x, prefix + "c_proj."))

    def _dense(self, x, prefix, activation=None):
        return ops.dense(x, self.params[prefix + "weight"], self.params.get(prefix + "bias"),
                         activation)

    def _layer_norm(self, x, prefix):
        return ops.layer_norm(x, self.params[prefix + "weight"], self.params.get(prefix + "bias"),
                              epsilon=self.config.layer_norm_epsilon)

    def _dropout(self, x):
        rate = self.config.dropout
        return ops.dropout(x, rate) if self.training and rate > 0 else x

    def attention_maps(self, idx):
        """The attention weights of every layer for tokens `idx` (B, T): a list of n_layer
        arrays (B, n_head, T, T), row i the weights query i gives to keys 0..i (book,
        "ChatGPT – partie 2": what each head looks at)."""
        self._attention_maps = []
        was_training, self.training = self.training, False
        try:
            with no_grad():
                self(idx)
            return self._attention_maps
        finally:
            self._attention_maps, self.training = None, was_training

    # ---- sampling --------------------------------------------------------------------------
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, greedy=False,
                 rng=None):
        """Extend each row of `idx` (B, T) by `max_new_tokens` tokens, each drawn from
        softmax(logits / temperature) of the last position (restricted to the `top_k` most
        likely), or the most likely one when `greedy`; the context is cropped to block_size."""
        if not greedy and not temperature > 0:
            raise ValueError(f"generate: temperature must be > 0, got {temperature!r}")
        if top_k is not None and (int(top_k) != top_k or top_k < 1):
            raise ValueError(f"generate: top_k must be a positive integer, got {top_k!r}")
        if int(max_new_tokens) != max_new_tokens or max_new_tokens < 0:
            raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens!r}")
        idx = _token_array(idx, self.config)
        rng = rng if rng is not None else np.random.default_rng()
        was_training, self.training = self.training, False
        try:
            with no_grad():
                for _ in range(int(max_new_tokens)):
                    logits = to_numpy(self(idx[:, -self.config.block_size:]).data[:, -1, :])
                    idx = np.concatenate([idx, _next_tokens(logits, temperature, top_k,
                                                            greedy, rng)], axis=1)
        finally:
            self.training = was_training
        return idx


def _next_tokens(logits, temperature, top_k, greedy, rng):
    """(B, 1) tokens from the last position's logits (float64 for the sampling)."""
    logits = logits.astype(np.float64)
    if greedy:
        return logits.argmax(axis=-1)[:, None]
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.sort(logits, axis=-1)[:, -int(top_k)][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.array([[rng.choice(len(row), p=row)] for row in probs])


def _causal_softmax(q, k):
    """softmax(q·kᵀ/√d) with keys after the query masked, (B, H, T, T), in float64."""
    d = q.shape[-1]
    scores = np.einsum("bhtd,bhsd->bhts", q.astype(np.float64), k.astype(np.float64)) / np.sqrt(d)
    t = scores.shape[-1]
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def _token_array(idx, config, what="idx"):
    """(B, T) int64 tokens, checked against the vocabulary and the context length."""
    idx = to_numpy(idx.data if isinstance(idx, Tensor) else idx)
    if idx.ndim == 1:
        idx = idx[None, :]
    if idx.ndim != 2 or idx.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integer tokens of shape (B, T), got {idx.dtype} "
                         f"{idx.shape}")
    if idx.shape[1] == 0:
        raise ValueError(f"{what} is empty: give at least one token")
    if idx.shape[1] > config.block_size:
        raise ValueError(f"{what} has {idx.shape[1]} tokens, more than the context length "
                         f"block_size={config.block_size}")
    if idx.min() < 0 or idx.max() >= config.vocab_size:
        raise ValueError(f"{what}: token {idx.max() if idx.max() >= config.vocab_size else idx.min()}"
                         f" is outside the vocabulary [0, {config.vocab_size})")
    return idx.astype(np.int64, copy=False)


def _init_params(c, rng, dtype):
    def normal(shape, std=0.02):
        return tensor(rng.normal(0.0, std, shape).astype(dtype), requires_grad=True)

    def const(shape, value):
        return tensor(np.full(shape, value, dtype), requires_grad=True)

    proj_std = 0.02 / math.sqrt(2 * c.n_layer)
    params = {"transformer.wte.weight": normal((c.vocab_size, c.n_embd)),
              "transformer.wpe.weight": normal((c.block_size, c.n_embd))}

    def layer_norm(prefix):
        params[prefix + "weight"] = const(c.n_embd, 1.0)
        if c.bias:
            params[prefix + "bias"] = const(c.n_embd, 0.0)

    def dense(prefix, n_in, n_out, std=0.02):
        params[prefix + "weight"] = normal((n_in, n_out), std)
        if c.bias:
            params[prefix + "bias"] = const(n_out, 0.0)

    for i in range(c.n_layer):
        p = f"transformer.h.{i}."
        layer_norm(p + "ln_1.")
        dense(p + "attn.c_attn.", c.n_embd, 3 * c.n_embd)
        dense(p + "attn.c_proj.", c.n_embd, c.n_embd, proj_std)
        layer_norm(p + "ln_2.")
        dense(p + "mlp.c_fc.", c.n_embd, 4 * c.n_embd)
        dense(p + "mlp.c_proj.", 4 * c.n_embd, c.n_embd, proj_std)
    layer_norm("transformer.ln_f.")
    for name, p in params.items():
        p.name = name
    return params

