"""The Tensor and its computational graph (book, chapters 1 "Dérivée", 7 "Gradient" and 9
"Rétropropagation").

A Tensor wraps an array. An operation on tensors that require a gradient records a `Node`: the
operation's name, its operands and a closure mapping the output's gradient to the operands'
gradients (the *local derivatives* of chapter 1, multiplied along each path). `backward()` walks
the graph once in reverse topological order, summing what arrives from every path (the book's
"somme sur les chemins"), without recursion so that deep graphs never reach Python's recursion
limit.
"""
import threading

import numpy as np

from .backend import _arrays, check_device, device_of, get_backend, to_device, to_numpy
from .backend.cupy_backend import load as load_gpu

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = np.dtype(np.float32)
_mode = threading.local()


def set_default_dtype(dtype):
    """Set the dtype of tensors built from Python numbers and integer arrays (float32 default)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    return _default_dtype


def is_grad_enabled():
    return getattr(_mode, "enabled", True)


class _GradMode:
    """Context manager (and decorator) switching graph recording off or on."""

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.previous = is_grad_enabled()
        _mode.enabled = self.enabled

    def __exit__(self, *exc):
        _mode.enabled = self.previous

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with _GradMode(self.enabled):
                return func(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


def no_grad():
    """`with deepmath.no_grad():` computes without recording the graph (evaluation, updates)."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


def as_array(data, dtype=None, device=None):
    """Convert `data` to an array of a supported dtype: float32/float64 arrays are kept; Python
    numbers and lists, bool, integer and float16 arrays take the default float dtype (unless
    `dtype` says otherwise); anything else (complex, strings, long double…) is rejected.
    The array lives on `device` ('cpu'/'gpu'); by default a GPU array stays on the GPU and
    other data goes where the selected backend creates tensors."""
    if isinstance(data, Tensor):
        data = data.data
    if device is not None:
        if check_device(device) == "cpu":
            data, xp = (to_numpy(data) if _arrays.is_device_array(data) else data), np
        else:
            xp = load_gpu().xp
    else:
        xp = _arrays.gpu.xp if _arrays.is_device_array(data) else get_backend().xp
    from_python = not isinstance(data, (np.ndarray, xp.ndarray, np.generic))
    arr = data if type(data) is xp.ndarray else xp.asarray(data)
    kind = arr.dtype.kind
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in _FLOAT_DTYPES and dtype != np.bool_:
            raise TypeError(f"unsupported dtype {dtype}: deepmath tensors are float32 or float64")
        if kind not in "biuf":
            raise TypeError(f"cannot convert an array of dtype {arr.dtype} to {dtype}")
        return arr if arr.dtype == dtype else arr.astype(dtype)
    if arr.dtype in _FLOAT_DTYPES and not from_python:
        return arr
    if kind in "biu" or arr.dtype == np.float16 or (from_python and kind == "f"):
        return arr.astype(_default_dtype)
    raise TypeError(f"unsupported dtype {arr.dtype}: deepmath tensors hold real numbers "
                    "(float32 or float64; bool and integer data are converted)")


class Node:
    """How a tensor was made: operation name, operands, and the backward closure."""
    __slots__ = ("op", "parents", "backward")

    def __init__(self, op, parents, backward):
        self.op, self.parents, self.backward = op, parents, backward


class Tensor:
    """An array with an optional gradient: `Tensor(data, requires_grad=False, dtype=None,
    device=None)` (device 'cpu' or 'gpu'; by default where the selected backend puts it).

    Arithmetic operators, NumPy-style methods and the functions of `deepmath.ops` build the
    graph; `backward()` fills `.grad` of the leaves that require a gradient.
    """
    __slots__ = ("data", "requires_grad", "grad", "_node", "name", "_retain", "__weakref__")

    def __init__(self, data, requires_grad=False, dtype=None, name=None, device=None):
        self.data = as_array(data, dtype, device)
        if requires_grad and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"only float tensors can require a gradient, not {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None
        self._retain = False
        self.name = name

    @classmethod
    def _make(cls, data, op, parents, backward):
        """Output of an operation: records a Node when an operand requires a gradient."""
        t = object.__new__(cls)
        t.data = data if type(data) is np.ndarray or _arrays.is_device_array(data) \
            else np.asarray(data)
        t.grad, t.name, t._retain = None, None, False
        t.requires_grad, t._node = False, None
        for p in parents:
            if p.requires_grad:
                if getattr(_mode, "enabled", True):
                    t.requires_grad, t._node = True, Node(op, parents, backward)
                break
        return t

    # ---- properties -----------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    is_leaf = property(lambda self: self._node is None)
    grad_fn = property(lambda self: self._node)
    T = property(lambda self: _ops.transpose(self))
    device = property(lambda self: device_of(self.data), doc="'cpu' or 'gpu'")

    def to(self, device):
        """This tensor on `device` ('cpu', 'gpu' or 'cuda'): itself when already there, else a
        copy whose gradient flows back to this one (PyTorch's `Tensor.to`)."""
        device, source = check_device(device), self.device
        if device == source:
            return self
        return Tensor._make(to_device(self.data, device), "to", (self,),
                            lambda g: (to_device(g, source),))

    def cpu(self):
        return self.to("cpu")

    def numpy(self):
        """The values as a NumPy array, as TensorFlow's `.numpy()`: the array itself (shared)
        on the CPU, a copy from the GPU."""
        return to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._make(self.data, "detach", (), None)

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"only float tensors can require a gradient, not {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retain = True

    def astype(self, dtype):
        return _ops.cast(self, dtype)

    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf requiring a gradient.

        `grad` is required unless self is a scalar (it weights the outputs, as in PyTorch).
        The graph is freed afterwards unless `retain_graph=True`."""
        run_backward([self], [grad], retain_graph=retain_graph)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy functions on tensors run deepmath's differentiable ops: `np.cos(2 * x**2)`
        with a tensor x builds the graph as `deepmath.cos` would."""
        op = _UFUNCS.get(ufunc.__name__)
        if method != "__call__" or kwargs or op is None:
            return NotImplemented
        return op(*inputs)

    def __array__(self, dtype=None, copy=None):
        data = to_numpy(self.data)
        return data if dtype is None else data.astype(dtype)

    def __repr__(self):
        body = np.array2string(to_numpy(self.data), precision=4, separator=", ",
                               prefix="tensor(")
        extra = "" if self.dtype == _default_dtype else f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self._node is not None:
            extra += f", grad_fn={self._node.op}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    __hash__ = object.__hash__

    # ---- operators ------------------------------------------------------------------------
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __pow__(self, other): return _ops.pow(self, other)
    def __rpow__(self, other): return _ops.pow(other, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __getitem__(self, index): return _ops.getitem(self, index)
    def __lt__(self, other): return _ops.compare(self, other, "lt")
    def __le__(self, other): return _ops.compare(self, other, "le")
    def __gt__(self, other): return _ops.compare(self, other, "gt")
    def __ge__(self, other): return _ops.compare(self, other, "ge")
    def __eq__(self, other): return _ops.compare(self, other, "eq")
    def __ne__(self, other): return _ops.compare(self, other, "ne")

    def _update(self, op, other):
        """In-place update (`w -= lr * w.grad`), allowed where no graph is being recorded.

        The new values go into a fresh array, so arrays saved by earlier operations for their
        backward pass keep the values they were computed with."""
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("in-place update of a tensor that requires grad: wrap it in "
                               "`with deepmath.no_grad():`")
        other = other.data if isinstance(other, Tensor) else other
        result = op(self.data, other)
        if result.shape != self.shape:
            raise ValueError(f"in-place update cannot change shape {self.shape} to {result.shape}")
        self.data = result.astype(self.dtype, copy=False)
        return self

    def __iadd__(self, other): return self._update(np.add, other)
    def __isub__(self, other): return self._update(np.subtract, other)
    def __imul__(self, other): return self._update(np.multiply, other)
    def __itruediv__(self, other): return self._update(np.true_divide, other)

    # ---- methods mirroring deepmath.ops ---------------------------------------------------
    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def sin(self): return _ops.sin(self)
    def cos(self): return _ops.cos(self)
    def tan(self): return _ops.tan(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def sum(self, axis=None, keepdims=False): return _ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops.min(self, axis, keepdims)
    def reshape(self, *shape): return _ops.reshape(self, *shape)
    def transpose(self, *axes): return _ops.transpose(self, *axes)
    def permute(self, *axes): return _ops.transpose(self, *axes)
    def flatten(self, start_axis=0, end_axis=-1): return _ops.flatten(self, start_axis, end_axis)
    def clip(self, low=None, high=None): return _ops.clip(self, low, high)
    def softmax(self, axis=-1): return _ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return _ops.log_softmax(self, axis)


def _unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the backward of NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _topological_order(roots):
    """Tensors requiring a gradient reachable from `roots`, each after its operands.
    Iterative depth-first search: a chain of 100 000 operations is fine."""
    order, seen = [], set()
    stack = [(r, False) for r in roots]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._node is not None:
            stack.extend((p, False) for p in t._node.parents
                         if p.requires_grad and id(p) not in seen)
    return order


def _seed(output, grad):
    """The gradient that starts the backward pass at `output`."""
    if grad is None:
        if output.data.size != 1:
            raise RuntimeError(f"backward of a non-scalar output (shape {output.shape}) needs "
                               "an explicit gradient of the same shape")
        return _arrays.array_module(output.data).ones_like(output.data)
    g = grad.data if isinstance(grad, Tensor) else to_device(grad, output.device)
    if g.shape != output.shape:
        raise ValueError(f"gradient shape {g.shape} does not match output shape {output.shape}")
    return g.astype(output.dtype, copy=True)


def run_backward(outputs, grads, inputs=None, retain_graph=False):
    """Back-propagate from `outputs` (seeded with `grads`, None meaning 1 for a scalar).

    With `inputs=None`, gradients are accumulated into `.grad` of leaves (and of tensors marked
    `retain_grad`). Otherwise the gradients with respect to `inputs` are returned as arrays
    (None for an input the outputs do not depend on), and no `.grad` is touched."""
    for out in outputs:
        if not out.requires_grad:
            raise RuntimeError("backward: the output does not require grad (no operand had "
                               "requires_grad=True, or it was computed under no_grad)")
    pending = {}
    for out, g in zip(outputs, grads):
        g = _seed(out, g)
        pending[id(out)] = pending[id(out)] + g if id(out) in pending else g
    wanted = None if inputs is None else {id(t) for t in inputs}
    found, stored = {}, set()
    for t in reversed(_topological_order(outputs)):
        g = pending.pop(id(t), None)
        if g is None:
            continue
        if wanted is not None:
            if id(t) in wanted:
                found[id(t)] = g
        elif t._node is None or t._retain:
            _store_grad(t, g, stored)
        node = t._node
        if node is None:
            continue
        if node.backward is None:
            raise RuntimeError(f"backward through the graph a second time ('{node.op}' already "
                               "freed): pass retain_graph=True to the first backward")
        parent_grads = node.backward(g)
        for p, pg in zip(node.parents, parent_grads):
            if pg is None or not p.requires_grad:
                continue
            pg = _unbroadcast(pg, p.data.shape)
            if pg.dtype != p.data.dtype:
                pg = pg.astype(p.data.dtype)
            key = id(p)
            pending[key] = pending[key] + pg if key in pending else pg
        if not retain_graph:
            node.backward = None
    if inputs is not None:
        return [found.get(id(t)) for t in inputs]
    return None


def _store_grad(t, g, stored):
    """Accumulate into `t.grad`. An array that is a view, read-only, or already given to
    another tensor in this pass (`stored`: ids) is copied: no two tensors share a gradient."""
    if t.grad is not None:
        g = t.grad.data + g
    elif id(g) in stored or g.base is not None or not getattr(g.flags, "writeable", True):
        g = g.copy()
    stored.add(id(g))
    t.grad = Tensor._make(g, "grad", (), None)


from . import ops as _ops  # noqa: E402  (ops need Tensor; Tensor's methods need ops)

_UFUNCS = {
    "add": _ops.add, "subtract": _ops.sub, "multiply": _ops.mul, "true_divide": _ops.div,
    "divide": _ops.div, "power": _ops.pow, "negative": _ops.neg, "positive": lambda x: x,
    "exp": _ops.exp, "log": _ops.log, "sqrt": _ops.sqrt, "absolute": _ops.abs,
    "sin": _ops.sin, "cos": _ops.cos, "tan": _ops.tan, "tanh": _ops.tanh,
    "square": _ops.square, "matmul": _ops.matmul,
}
_UFUNCS.update({name: (lambda how: lambda a, b: _ops.compare(a, b, how))(how) for name, how in
                [("less", "lt"), ("less_equal", "le"), ("greater", "gt"),
                 ("greater_equal", "ge"), ("equal", "eq"), ("not_equal", "ne")]})
