"""Arithmetic with broadcasting: + - * / ** and negation (book, chapter 1: the derivative of
a sum, a product, a quotient and a power)."""
import numpy as np

from ._base import as_tensor, binary_data, make, pair, xp
from ..tensor import Tensor


def add(a, b):
    a, b = pair(a, b, "add")
    return make(binary_data("add", np.add, a, b), "add", (a, b), lambda g: (g, g))


def sub(a, b):
    a, b = pair(a, b, "sub")
    return make(binary_data("sub", np.subtract, a, b), "sub", (a, b), lambda g: (g, -g))


def mul(a, b):
    a, b = pair(a, b, "mul")
    A, B = a.data, b.data
    return make(binary_data("mul", np.multiply, a, b), "mul", (a, b),
                lambda g: (g * B if a.requires_grad else None,
                           g * A if b.requires_grad else None))


def div(a, b):
    a, b = pair(a, b, "div")
    B = b.data
    out = binary_data("div", np.true_divide, a, b)
    return make(out, "div", (a, b),
                lambda g: (g / B if a.requires_grad else None,
                           -g * out / B if b.requires_grad else None))


def neg(a):
    a = as_tensor(a)
    return make(-a.data, "neg", (a,), lambda g: (-g,))


def pow(a, b):
    """a ** b. d/da = b·a^(b-1); d/db = a^b·ln a (taken as 0 where a = 0, as PyTorch)."""
    a, b = pair(a, b, "pow")
    A, B = a.data, b.data
    out = binary_data("pow", np.power, a, b)

    def backward(g):
        ga = gb = None
        if a.requires_grad:
            ga = g * (2 * A) if B.ndim == 0 and B == 2 else g * B * A ** (B - 1)
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * xp(A).where(A == 0, 0, out * xp(A).log(xp(A).where(A == 0, 1, A)))
        return ga, gb
    return make(out, "pow", (a, b), backward)


def cast(a, dtype):
    """The same values in another float dtype; the gradient is cast back."""
    a = as_tensor(a)
    source = a.dtype
    return make(Tensor(a.data, dtype=dtype).data, "cast", (a,), lambda g: (g.astype(source),))
