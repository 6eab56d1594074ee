"""Elementwise and row-wise kernels: activations and their gradients, softmax / log_softmax,
softmax cross-entropy fused with its gradient, and in-place optimizer updates (Adam, SGD).

`REFERENCE` holds the plain-NumPy versions (the numpy backend, and what the tests compare
against); `NATIVE` the C kernels of `deepmath._kernels` (src/_kernels/dm_fused.c). Interface,
the same in both tables (arrays are float32 or float64):

- activations, elementwise, any shape: `sigmoid(x)`, `sigmoid_backward(y, grad)` (y: the
  forward's output), `tanh(x)`, `tanh_backward(y, grad)`, `gelu(x, approximate=False)`,
  `gelu_backward(x, grad, approximate=False)` (x: the input), `leaky_relu(x, negative_slope)`,
  `leaky_relu_backward(x, grad, negative_slope)`, `softplus(x)`, `softplus_backward(x, grad)`,
  `relu(x)`, `relu_backward(x, grad)`;
- over the last axis: `softmax(x)`, `softmax_backward(y, grad)`, `log_softmax(x)`,
  `log_softmax_backward(y, grad)`;
- cross-entropy from logits z of shape (..., C), per row (all axes but the last):
  `sparse_softmax_cross_entropy(z, labels) -> (loss, lse)` with integer labels of shape
  z.shape[:-1], `sparse_softmax_cross_entropy_backward(z, labels, lse, grad) -> dz`;
  `softmax_cross_entropy(z, targets) -> (loss, lse)` with target distributions of z's shape
  (one-hot or soft), `softmax_cross_entropy_backward(z, targets, lse, grad) -> dz`
  (= (softmax(z)·Σt - t)·grad). loss = lse - z[label] = -Σ t (z - lse), lse = log Σ exp z;
- optimizer steps in place, Keras' formulas (return None):
  `adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay=0.0)`:
  alpha = lr·√(1-β2^t)/(1-β1^t); m += (g-m)(1-β1); v += (g²-v)(1-β2);
  param -= alpha·m/(√v + eps); with weight_decay > 0 first param -= param·wd·lr (decoupled
  weight decay, as Keras applies it for Adam and AdamW). No amsgrad.
  `sgd_momentum_update(param, grad, velocity, lr, momentum=0.0, nesterov=False)`:
  velocity = velocity·momentum - grad·lr; param += velocity, or with nesterov
  param += velocity·momentum - grad·lr; velocity may be None when momentum is 0.
  param, m, v, velocity must be writeable C-contiguous arrays of one shape and dtype
  (ValueError otherwise: they are never silently copied).

The NATIVE wrappers send arrays too small for the C call to pay, or of other dtypes, to the
reference (thresholds measured with bench/bench_fused.py on the 2-core development machine).
"""
import numpy as np

from ._arrays import array_module, erfc
from ._native_import import kernels

_SQRT_2_OVER_PI = float(np.sqrt(2 / np.pi))
_SQRT1_2 = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1 / np.sqrt(2 * np.pi))
_GELU_C = 0.044715


# ---- references (NumPy, or CuPy: xp = the inputs' array module) ---------------------------------

def relu_reference(x):
    return array_module(x).maximum(x, 0)


def relu_backward_reference(x, grad):
    return grad * (x > 0)


def sigmoid_reference(x):
    """σ(x) with e = exp(-|x|) (never overflows): 1/(1+e) for x ≥ 0, e/(1+e) below."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(xp.result_type(x), copy=False)


def sigmoid_backward_reference(y, grad):
    return grad * y * (1 - y)


def tanh_reference(x):
    return array_module(x).tanh(x)


def tanh_backward_reference(y, grad):
    return grad * (1 - y * y)


def _is_tanh_form(approximate):
    return bool(approximate) and approximate != "none"


def _sigmoid_pair(u):
    """σ(u) and 1 - σ(u), both from e = exp(-|u|): exact complements, no cancellation."""
    xp = array_module(u)
    e = xp.exp(-xp.abs(u))
    a, b = 1 / (1 + e), e / (1 + e)
    pos = u >= 0
    return xp.where(pos, a, b), xp.where(pos, b, a)


def gelu_reference(x, approximate=False):
    """x·Φ(x) (erf form), or 0.5·x·(1 + tanh(√(2/π)(x + 0.044715 x³))) when approximate.

    Written without cancellation for x << 0: Φ(x) = erfc(-x/√2)/2 and 1 + tanh u = 2σ(2u)."""
    x = array_module(x).asarray(x)
    if _is_tanh_form(approximate):
        u = _SQRT_2_OVER_PI * (x + _GELU_C * (x * x * x))
        out = x * _sigmoid_pair(2 * u)[0]
    else:
        out = x * (0.5 * erfc(-x * _SQRT1_2))
    return out.astype(x.dtype, copy=False)


def gelu_backward_reference(x, grad, approximate=False):
    """erf form: Φ(x) + x·φ(x); tanh form: s + 2x·s·(1-s)·√(2/π)(1 + 3·0.044715 x²), s = σ(2u)."""
    xp = array_module(x, grad)
    x = xp.asarray(x)
    if _is_tanh_form(approximate):
        u = _SQRT_2_OVER_PI * (x + _GELU_C * (x * x * x))
        s, s1 = _sigmoid_pair(2 * u)
        d = s + 2 * x * s * s1 * _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
    else:
        cdf = 0.5 * erfc(-x * _SQRT1_2)
        d = cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return (grad * d).astype(x.dtype, copy=False)


def leaky_relu_reference(x, negative_slope=0.01):
    return x * array_module(x).where(x > 0, 1, negative_slope).astype(x.dtype, copy=False)


def leaky_relu_backward_reference(x, grad, negative_slope=0.01):
    xp = array_module(x, grad)
    return grad * xp.where(x > 0, 1, negative_slope).astype(x.dtype, copy=False)


def softplus_reference(x):
    """max(x, 0) + log1p(exp(-|x|)): finite for every finite x."""
    xp = array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_backward_reference(x, grad):
    return grad * sigmoid_reference(x)


def _need_axis(x, name):
    if np.ndim(x) == 0:
        raise ValueError(f"{name}: needs an array with at least one dimension (the class axis)")


def softmax_reference(x):
    _need_axis(x, "softmax")
    if x.shape[-1] == 0:
        return x.copy()
    e = array_module(x).exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward_reference(y, grad):
    return y * (grad - (grad * y).sum(axis=-1, keepdims=True))


def log_softmax_reference(x):
    _need_axis(x, "log_softmax")
    if x.shape[-1] == 0:
        return x.copy()
    xp = array_module(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward_reference(y, grad):
    return grad - array_module(y, grad).exp(y) * grad.sum(axis=-1, keepdims=True)


def _lse(z):
    """log Σ exp(z) over the last axis, keepdims (-inf for an empty axis)."""
    xp = array_module(z)
    if z.shape[-1] == 0:
        return xp.full(z.shape[:-1] + (1,), -np.inf, z.dtype)
    m = z.max(axis=-1, keepdims=True)
    return m + xp.log(xp.exp(z - m).sum(axis=-1, keepdims=True))


def check_labels(labels, batch_shape, n_classes, name="sparse_softmax_cross_entropy"):
    """Labels as an int64 array of `batch_shape`, each in [0, n_classes); else an error."""
    xp = array_module(labels)
    labels = xp.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels have dtype {labels.dtype}; expected an integer dtype")
    if labels.shape != tuple(batch_shape):
        raise ValueError(f"{name}: labels of shape {labels.shape} do not match logits of batch "
                         f"shape {tuple(batch_shape)}")
    if labels.size:
        lo, hi = xp.stack((labels.min(), labels.max())).tolist()   # one copy from the device
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{name}: label {lo if lo < 0 else hi} is out of range for "
                             f"{n_classes} classes")
    return labels.astype(np.int64, copy=False)


def sparse_softmax_cross_entropy_reference(logits, labels):
    _need_axis(logits, "sparse_softmax_cross_entropy")
    labels = array_module(logits).asarray(check_labels(labels, logits.shape[:-1],
                                                        logits.shape[-1]))
    lse = _lse(logits)
    picked = array_module(logits, labels).take_along_axis(logits, labels[..., None], -1)
    return (lse - picked)[..., 0], lse[..., 0]


def sparse_softmax_cross_entropy_backward_reference(logits, labels, lse, grad):
    xp = array_module(logits, lse, grad)
    labels = xp.asarray(check_labels(labels, logits.shape[:-1], logits.shape[-1],
                                     "sparse_softmax_cross_entropy_backward"))
    p = xp.exp(logits - lse[..., None])
    rows = tuple(xp.indices(labels.shape)) + (labels,)
    p[rows] -= 1
    return p * grad[..., None]


def softmax_cross_entropy_reference(logits, targets):
    _need_axis(logits, "softmax_cross_entropy")
    if np.shape(targets) != np.shape(logits):
        raise ValueError(f"softmax_cross_entropy: targets of shape {np.shape(targets)} do not "
                         f"match logits of shape {np.shape(logits)}")
    lse = _lse(logits)
    return -(targets * (logits - lse)).sum(axis=-1), lse[..., 0]


def softmax_cross_entropy_backward_reference(logits, targets, lse, grad):
    p = array_module(logits, lse).exp(logits - lse[..., None])
    return (p * targets.sum(axis=-1, keepdims=True) - targets) * grad[..., None]


def _check_inplace(fn, name, a, like=None):
    xp = array_module(a, like)
    if not isinstance(a, xp.ndarray):
        raise TypeError(f"{fn}: {name} must be a {xp.__name__}.ndarray, not {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: {name} has dtype {a.dtype}; expected float32 or float64")
    if like is not None and (a.shape != like.shape or a.dtype != like.dtype):
        raise ValueError(f"{fn}: {name} has shape {a.shape} and dtype {a.dtype} but param has "
                         f"shape {like.shape} and dtype {like.dtype}; they must be the same")
    flags = a.flags   # CuPy's have neither writeable nor aligned: its arrays always are
    if not (flags.c_contiguous and getattr(flags, "writeable", True)
            and getattr(flags, "aligned", True) and a.dtype.isnative):
        raise ValueError(f"{fn}: {name} must be a C-contiguous, aligned, writeable array in "
                         f"native byte order (it is updated in place)")


def _check_grad(fn, param, grad):
    grad = array_module(param).asarray(grad)
    if grad.shape != param.shape or grad.dtype != param.dtype:
        raise ValueError(f"{fn}: param has shape {param.shape} and dtype {param.dtype} but grad "
                         f"has shape {grad.shape} and dtype {grad.dtype}; they must be the same")
    return grad


def check_adam(param, grad, m, v, lr, beta1, beta2, step):
    """adam_update's arguments checked; returns grad (as an array) and the step size
    α = lr·√(1 - β2^t) / (1 - β1^t) in param's dtype (shared with the CUDA launcher)."""
    fn = "adam_update"
    _check_inplace(fn, "param", param)
    grad = _check_grad(fn, param, grad)
    _check_inplace(fn, "m", m, param)
    _check_inplace(fn, "v", v, param)
    if int(step) != step or step < 1:
        raise ValueError(f"{fn}: step must be an integer >= 1, got {step!r}")
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"{fn}: beta1 and beta2 must lie in [0, 1), got {beta1!r}, {beta2!r}")
    t = int(step)
    return grad, param.dtype.type(lr * (1.0 - beta2 ** t) ** 0.5 / (1.0 - beta1 ** t))


def adam_update_reference(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay=0.0):
    grad, alpha = check_adam(param, grad, m, v, lr, beta1, beta2, step)
    dt = param.dtype.type
    if weight_decay:
        param -= param * dt(weight_decay) * dt(lr)
    m += (grad - m) * dt(1.0 - beta1)
    v += (grad * grad - v) * dt(1.0 - beta2)
    param -= alpha * m / (array_module(param).sqrt(v) + dt(eps))


def sgd_momentum_update_reference(param, grad, velocity, lr, momentum=0.0, nesterov=False):
    fn = "sgd_momentum_update"
    _check_inplace(fn, "param", param)
    grad = _check_grad(fn, param, grad)
    dt = param.dtype.type
    lr = dt(lr)
    if velocity is None:
        if momentum != 0:
            raise ValueError(f"{fn}: velocity is None but momentum is {momentum!r}")
        param -= grad * lr
        return
    _check_inplace(fn, "velocity", velocity, param)
    mom = dt(momentum)
    velocity[...] = velocity * mom - grad * lr
    if nesterov:
        param += velocity * mom - grad * lr
    else:
        param += velocity


REFERENCE = {
    "relu": relu_reference, "relu_backward": relu_backward_reference,
    "sigmoid": sigmoid_reference, "sigmoid_backward": sigmoid_backward_reference,
    "tanh": tanh_reference, "tanh_backward": tanh_backward_reference,
    "gelu": gelu_reference, "gelu_backward": gelu_backward_reference,
    "leaky_relu": leaky_relu_reference, "leaky_relu_backward": leaky_relu_backward_reference,
    "softplus": softplus_reference, "softplus_backward": softplus_backward_reference,
    "softmax": softmax_reference, "softmax_backward": softmax_backward_reference,
    "log_softmax": log_softmax_reference,
    "log_softmax_backward": log_softmax_backward_reference,
    "sparse_softmax_cross_entropy": sparse_softmax_cross_entropy_reference,
    "sparse_softmax_cross_entropy_backward": sparse_softmax_cross_entropy_backward_reference,
    "softmax_cross_entropy": softmax_cross_entropy_reference,
    "softmax_cross_entropy_backward": softmax_cross_entropy_backward_reference,
    "adam_update": adam_update_reference,
    "sgd_momentum_update": sgd_momentum_update_reference,
}


# ---- native wrappers -------------------------------------------------------------------------

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _dispatch(native, reference, min_size=0, same=()):
    """`native` for float32/float64 ndarrays x (first argument) of at least `min_size` elements
    whose arguments at positions `same` are ndarrays of x's shape and dtype; `reference`
    otherwise (other dtypes, Python scalars, broadcasting, arrays too small for the C call to
    pay): the reference's NumPy semantics then apply.
    """
    def function(x, *args, **kwargs):
        if isinstance(x, np.ndarray) and x.dtype in _FLOATS and x.size >= min_size and all(
                isinstance(args[i - 1], np.ndarray) and args[i - 1].dtype == x.dtype
                and args[i - 1].shape == x.shape for i in same if i - 1 < len(args)):
            return native(x, *args, **kwargs)
        return reference(x, *args, **kwargs)
    function.__name__ = getattr(native, "__name__", "native")
    function.__doc__ = getattr(native, "__doc__", None)
    function.native = native
    function.reference = reference
    return function


def _native_table():
    k = kernels
    pairs = {
        "relu": k.relu_forward, "relu_backward": k.relu_backward,
        "sigmoid": k.sigmoid_forward, "sigmoid_backward": k.sigmoid_backward,
        "tanh": k.tanh_forward, "tanh_backward": k.tanh_backward,
        "gelu": k.gelu_forward, "gelu_backward": k.gelu_backward,
        "leaky_relu": k.leaky_relu_forward, "leaky_relu_backward": k.leaky_relu_backward,
        "softplus": k.softplus_forward, "softplus_backward": k.softplus_backward,
        "softmax": k.softmax_forward, "softmax_backward": k.softmax_backward,
        "log_softmax": k.log_softmax_forward, "log_softmax_backward": k.log_softmax_backward,
        "sparse_softmax_cross_entropy": k.sparse_softmax_cross_entropy_forward,
        "sparse_softmax_cross_entropy_backward": k.sparse_softmax_cross_entropy_backward,
        "softmax_cross_entropy": k.softmax_cross_entropy_forward,
        "softmax_cross_entropy_backward": k.softmax_cross_entropy_backward,
    }
    table = {name: _dispatch(fn, REFERENCE[name], MIN_SIZE.get(name, 0),
                             (1,) if name.endswith("_backward") and "entropy" not in name
                             or name.startswith("softmax_cross_entropy") else ())
             for name, fn in pairs.items()}
    # numpy's own SIMD tanh is as fast as the kernel's (float32 through the vector exp, float64
    # libm tanh) or faster, and its log1p/exp passes beat libm's log1pf: these two forwards stay
    # NumPy (their backwards are native). Measured with bench/bench_fused.py, 1 and 2 threads.
    for name in NUMPY_FASTER:
        table[name] = REFERENCE[name]
    # in-place updates: always the kernel (it validates and refuses what it cannot update)
    table["adam_update"] = k.adam_update
    table["sgd_momentum_update"] = k.sgd_momentum_update
    return table


#: Below this many elements the NATIVE table calls the reference (numpy is as fast or faster).
#: Empty: measured on the 2-core AVX2 development machine, the kernels win from 1e3 elements
#: (one call instead of several numpy passes) up to 1e6.
MIN_SIZE = {}
#: Kernels for which NumPy itself is faster: the NATIVE table uses the reference.
NUMPY_FASTER = ("tanh", "softplus")

NATIVE = {} if kernels is None else _native_table()
