"""Fused kernels: activations, softmax, softmax cross-entropy (forward + backward) and optimizer steps.

Each activation / softmax / loss case is one forward and one backward through each library's
autodiff, as a user writes it (deepmath ops on the native backend, torch eager with autograd;
numpy: the same formulas written by hand, forward then backward). Sizes are those of the
book: activations of 1e4 to 1e6 elements, logits of batch 32-128 x 10-1000 classes.
Optimizer cases time one in-place update of a 1M-parameter float32 tensor: deepmath's
`adam_update` / `sgd_momentum_update` kernels (Keras' formulas), numpy's in-place expressions,
`torch.optim.Adam` (default, `foreach=False`, `fused=True`) and `torch.optim.SGD`.

Inputs are generated with numpy from a fixed seed, the same for every library; outputs()
returns the value and the gradient (or the parameters after 3 steps) for bench/run.py to
compare across libraries before trusting the timings.
"""
import math

import numpy as np

import _harness

SEED = 0
# Keras puts eps beside sqrt(v), torch beside sqrt(v / (1 - beta2^t)): with a negligible eps
# both compute the same step, so their results can be compared (the cost does not depend on it).
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-12
MOMENTUM = 0.9

# case -> (kind, shape)
_SPECS = {
    "sigmoid_1e4": ("sigmoid", (100, 100)),
    "sigmoid_1e6": ("sigmoid", (1000, 1000)),
    "tanh_1e6": ("tanh", (1000, 1000)),
    "gelu_1e4": ("gelu", (100, 100)),
    "gelu_1e6": ("gelu", (1000, 1000)),
    "gelu_tanh_1e6": ("gelu_tanh", (1000, 1000)),
    "gelu_768x512": ("gelu", (768, 512)),  # GPT-2 small's MLP activation, batch 1 x 256 tokens
    "gelu_tanh_768x512": ("gelu_tanh", (768, 512)),
    "softmax_32x10": ("softmax", (32, 10)),
    "softmax_128x1000": ("softmax", (128, 1000)),
    "xent_32x10": ("xent", (32, 10)),
    "xent_128x1000": ("xent", (128, 1000)),
    "adam_1M": ("adam", (1_000_000,)),
    "adam_1M_foreach_false": ("adam_foreach_false", (1_000_000,)),
    "adam_1M_fused": ("adam_fused", (1_000_000,)),
    "sgd_momentum_1M": ("sgd", (1_000_000,)),
}
CASES = list(_SPECS)
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # float32: libm vs SIMD exp/tanh, summation orders,
# and the 1 + tanh cancellation of the textbook GELU formula (numpy, torch) for x << 0


def libraries(case):
    return ["deepmath", "numpy", "torch"]


def _inputs(case):
    kind, shape = _SPECS[case]
    rng = np.random.default_rng(SEED)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    labels = rng.integers(0, shape[-1], shape[:-1]) if kind == "xent" else None
    return kind, x, g, labels


def run_case(case, library, repeats, quick=False):
    step = _BUILDERS[library](case)
    return _harness.time_calls(step, repeats)


def outputs(case, library, quick=False):
    step = _BUILDERS[library](case)
    kind = _SPECS[case][0]
    if kind.startswith(("adam", "sgd")):
        for _ in range(2):
            step()
    value, grad = step()
    if kind == "sgd":  # Keras' velocity is -lr times torch's momentum buffer: compare params
        grad = value
    return {"value": _np(value), "grad": _np(grad)}


def _np(t):
    if isinstance(t, (np.ndarray, np.generic)):
        return np.array(t)
    if hasattr(t, "detach"):
        return t.detach().numpy().copy()
    return np.array(t.data if hasattr(t, "data") else t)


# ---- deepmath ------------------------------------------------------------------------------

def _deepmath(case):
    import deepmath as dm
    from deepmath.ops.losses import sparse_categorical_crossentropy
    kind, x, g, labels = _inputs(case)
    if kind.startswith("adam") or kind == "sgd":
        return _deepmath_optimizer(kind, x, g)
    f = {"sigmoid": dm.sigmoid, "tanh": dm.tanh, "gelu": dm.gelu,
         "gelu_tanh": lambda t: dm.gelu(t, approximate=True), "softmax": dm.softmax,
         "xent": lambda t: sparse_categorical_crossentropy(labels, t, from_logits=True)}[kind]
    xt = dm.tensor(x, requires_grad=True)

    def step():
        xt.grad = None
        y = f(xt)
        y.backward(None if kind == "xent" else g)
        return y, xt.grad
    return step


def _deepmath_optimizer(kind, p0, g):
    import deepmath as dm
    bk = dm.get_backend()
    p, m, v, g = _harness.deepmath_arrays(p0.copy(), np.zeros_like(p0), np.zeros_like(p0), g)
    state = {"t": 0}

    def adam():
        state["t"] += 1
        bk.adam_update(p, g, m, v, LR, BETA1, BETA2, EPS, state["t"])
        return p, m

    def sgd():
        bk.sgd_momentum_update(p, g, m, LR, MOMENTUM, False)
        return p, m
    return sgd if kind == "sgd" else adam


# ---- numpy: the same formulas, forward then backward by hand --------------------------------

def _numpy(case):
    kind, x, g, labels = _inputs(case)
    if kind.startswith("adam"):
        p, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
        state = {"t": 0}

        def adam():
            state["t"] += 1
            t = state["t"]
            alpha = np.float32(LR * math.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t))
            m[...] += (g - m) * np.float32(1 - BETA1)
            v[...] += (g * g - v) * np.float32(1 - BETA2)
            p[...] -= alpha * m / (np.sqrt(v) + np.float32(EPS))
            return p, m
        return adam
    if kind == "sgd":
        p, vel = x.copy(), np.zeros_like(x)

        def sgd():
            vel[...] = vel * np.float32(MOMENTUM) - g * np.float32(LR)
            p[...] += vel
            return p, vel
        return sgd

    def sigmoid():
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return y, g * y * (1 - y)

    def tanh():
        y = np.tanh(x)
        return y, g * (1 - y * y)

    def gelu():
        from scipy.special import erfc
        cdf = 0.5 * erfc(-x * np.float32(math.sqrt(0.5)))
        y = x * cdf
        return y, g * (cdf + x * np.exp(-0.5 * x * x) * np.float32(1 / math.sqrt(2 * math.pi)))

    def gelu_tanh():
        c = np.float32(math.sqrt(2 / math.pi))
        t = np.tanh(c * (x + np.float32(0.044715) * x * x * x))
        y = 0.5 * x * (1 + t)
        return y, g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * np.float32(0.044715)
                                                                      * x * x))

    def softmax():
        e = np.exp(x - x.max(-1, keepdims=True))
        y = e / e.sum(-1, keepdims=True)
        return y, y * (g - (g * y).sum(-1, keepdims=True))

    rows = np.arange(x.shape[0])

    def xent():
        lse = x.max(-1, keepdims=True)
        lse = lse + np.log(np.exp(x - lse).sum(-1, keepdims=True))
        loss = np.mean(lse[:, 0] - x[rows, labels])
        d = np.exp(x - lse)
        d[rows, labels] -= 1
        return loss, d * np.float32(1 / x.shape[0])
    return {"sigmoid": sigmoid, "tanh": tanh, "gelu": gelu, "gelu_tanh": gelu_tanh,
            "softmax": softmax, "xent": xent}[kind]


# ---- torch ---------------------------------------------------------------------------------

def _torch(case):
    import torch
    import torch.nn.functional as F
    kind, x, g, labels = _inputs(case)
    if kind.startswith("adam") or kind == "sgd":
        p = torch.nn.Parameter(torch.from_numpy(x.copy()))
        p.grad = torch.from_numpy(g.copy())
        if kind == "sgd":
            opt = torch.optim.SGD([p], lr=LR, momentum=MOMENTUM)
        else:
            extra = {"adam_foreach_false": {"foreach": False}, "adam_fused": {"fused": True},
                     "adam": {}}[kind]
            opt = torch.optim.Adam([p], lr=LR, betas=(BETA1, BETA2), eps=EPS, **extra)
        state = opt.state

        def step():
            opt.step()
            st = state[p]
            return p, st.get("exp_avg", st.get("momentum_buffer"))
        return step
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu,
         "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
         "softmax": lambda t: torch.softmax(t, -1),
         "xent": lambda t: F.cross_entropy(t, torch.from_numpy(labels))}[kind]
    xt = torch.from_numpy(x).requires_grad_(True)
    gt = torch.from_numpy(g)

    def step():
        xt.grad = None
        y = f(xt)
        y.backward(None if kind == "xent" else gt)
        return y, xt.grad
    return step


_BUILDERS = {"deepmath": _deepmath, "numpy": _numpy, "torch": _torch}
