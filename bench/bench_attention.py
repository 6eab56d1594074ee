"""Causal scaled dot-product attention, forward + backward, float32: deepmath vs PyTorch.

deepmath: `deepmath.ops.attention.scaled_dot_product_attention(q, k, v, causal=True)` on
tensors requiring grad, then `backward(grad_output)`: the native tile kernels (online softmax
forward, FlashAttention-2 backward from the saved log-sum-exp). PyTorch:
`F.scaled_dot_product_attention(q, k, v, is_causal=True)` then `out.backward(grad_output)`.
Same inputs (numpy, fixed seed), same thread count, grad_output fixed; the output and the three
gradients are compared across libraries before the timings are trusted.

Cases (B, H, T, d): the book's small GPT block (12, 4, 64, 32), a mid-size one (64, 6, 256, 64)
and a long context (8, 12, 1024, 64). With `--quick` every case runs the smallest shape
(a smoke run: bench/run.py has no per-benchmark case list for --quick).
"""
import numpy as np

import _harness  # noqa: F401  (bench/ convention: run through bench/run.py)

SHAPES = {"causal_12x4x64x32": (12, 4, 64, 32), "causal_64x6x256x64": (64, 6, 256, 64),
          "causal_8x12x1024x64": (8, 12, 1024, 64)}
CASES = list(SHAPES)
TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}  # float32, different summation orders
SEED = 0


def libraries(case):
    return ["deepmath", "torch"]


def data(case, quick=False):
    """q, k, v, grad_output as float32 arrays of shape (B, H, T, d)."""
    rng = np.random.default_rng(SEED)
    shape = SHAPES[CASES[0] if quick else case]
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]


def _deepmath(case, quick):
    import deepmath as dm
    from deepmath.ops.attention import scaled_dot_product_attention
    q, k, v, g = data(case, quick)
    q, k, v = (dm.tensor(a, requires_grad=True) for a in (q, k, v))
    g = dm.tensor(g)

    def step():
        for t in (q, k, v):
            t.grad = None
        out = scaled_dot_product_attention(q, k, v, causal=True)
        out.backward(g)
        return out, [q.grad, k.grad, v.grad]
    return step


def _torch(case, quick):
    import torch
    import torch.nn.functional as F
    q, k, v, g = data(case, quick)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    g = torch.tensor(g)

    def step():
        for t in (q, k, v):
            t.grad = None
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
        return out, [q.grad, k.grad, v.grad]
    return step


_BUILDERS = {"deepmath": _deepmath, "torch": _torch}


def run_case(case, library, repeats, quick=False):
    step = _BUILDERS[library](case, quick)
    return _harness.time_calls(step, repeats)


def outputs(case, library, quick=False):
    out, grads = _BUILDERS[library](case, quick)()
    arrays = {"out": _to_numpy(out)}
    arrays.update(zip(["dq", "dk", "dv"], map(_to_numpy, grads)))
    return arrays


def _to_numpy(t):
    t = t.detach() if hasattr(t, "detach") else t
    return np.array(t.numpy())
