"""Gradients as functions: `grad(f)` (the book's derivative of a formula) and TensorFlow's
`GradientTape` (book, chapter "Tenseurs", §2: dérivée et gradient avec tensorflow)."""
import numbers

import numpy as np

from .backend import array_module
from .tensor import Tensor, run_backward


def gradients(outputs, inputs, grad_outputs=None, retain_graph=False):
    """d(outputs)/d(inputs) as a list of arrays (None where an input is unreachable), without
    touching any `.grad` (PyTorch's `torch.autograd.grad`)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs)
    return run_backward(outputs, list(grad_outputs), inputs=list(inputs),
                        retain_graph=retain_graph)


def _as_leaf(value):
    """A fresh leaf requiring grad; Python numbers are taken in float64 for accuracy."""
    if isinstance(value, Tensor):
        return Tensor(value.data, requires_grad=True)
    if isinstance(value, numbers.Real):
        return Tensor(np.float64(value), requires_grad=True)
    return Tensor(value, requires_grad=True)


def _like(arg, grad):
    """The gradient in the kind of value the argument was: float, array or Tensor."""
    if isinstance(arg, Tensor):
        return Tensor(grad)
    if isinstance(arg, numbers.Real):
        return float(grad)
    return grad


def grad(f, argnums=None):
    """The gradient function of a scalar function f: `grad(f)(*args)`.

    With one argument it returns df/dx; with several, the tuple of partial derivatives (only
    those in `argnums` if given). `deepmath.grad(lambda x: deepmath.cos(2*x**2))(3.0)` is
    -12 sin 18, the book's chapter-1 example."""
    def gradient(*args):
        which = range(len(args)) if argnums is None else \
            ((argnums,) if isinstance(argnums, int) else tuple(argnums))
        leaves = [_as_leaf(a) if i in which else a for i, a in enumerate(args)]
        out = f(*leaves)
        if not isinstance(out, Tensor) or out.size != 1:
            shape = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"grad(f): f must return a scalar tensor, got {shape}; sum it or "
                             "use GradientTape for a vector of derivatives")
        targets = [leaves[i] for i in which]
        if out.requires_grad:
            found = run_backward([out], [None], inputs=targets)
        else:
            found = [None] * len(targets)
        result = tuple(_like(args[i], g if g is not None else
                             array_module(t.data).zeros_like(t.data))
                       for i, t, g in zip(which, targets, found))
        single = isinstance(argnums, int) or (argnums is None and len(args) == 1)
        return result[0] if single else result
    gradient.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    return gradient


class GradientTape:
    """Record operations to differentiate them, as `tf.GradientTape`:

        x = deepmath.Variable(3.0)
        with deepmath.GradientTape() as tape:
            y = x ** 2
        tape.gradient(y, [x])        # [tensor(6.)]

    Variables are watched automatically; `tape.watch(t)` makes a constant tensor require a
    gradient. A non-scalar target is summed (the gradient of Σ y_i, as TensorFlow). The tape
    answers one `gradient` call unless `persistent=True`."""

    def __init__(self, persistent=False):
        self.persistent = persistent
        self._used = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def watch(self, tensor):
        for t in (tensor if isinstance(tensor, (list, tuple)) else [tensor]):
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch needs deepmath tensors, got "
                                f"{type(t).__name__}")
            t.requires_grad_(True)

    def gradient(self, target, sources, output_gradients=None):
        if self._used and not self.persistent:
            raise RuntimeError("GradientTape.gradient can only be called once on a "
                               "non-persistent tape: use GradientTape(persistent=True)")
        self._used = True
        single = isinstance(sources, Tensor)
        sources = [sources] if single else list(sources)
        targets = [target] if isinstance(target, Tensor) else list(target)
        seeds = output_gradients if output_gradients is not None else \
            [array_module(t.data).ones_like(t.data) for t in targets]
        seeds = [seeds] if isinstance(seeds, Tensor) or hasattr(seeds, "shape") else list(seeds)
        live = [(t, s) for t, s in zip(targets, seeds) if t.requires_grad]
        found = [None] * len(sources)
        if live:
            found = run_backward([t for t, _ in live], [s for _, s in live], inputs=sources,
                                 retain_graph=self.persistent)
        grads = [None if g is None else Tensor(g) for g in found]
        return grads[0] if single else grads
