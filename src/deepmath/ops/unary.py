"""Elementary functions and their derivatives (book, chapter 1 "Dérivée": exp, ln, √, |x|,
sin, cos, tan)."""
from ._base import as_tensor, make, xp


def _unary(name, forward, derivative):
    """Build the op `name`: out = forward(x), dx = g · derivative(x, out)."""
    def op(x):
        x = as_tensor(x)
        X = x.data
        out = forward(X)
        return make(out, name, (x,), lambda g: (g * derivative(X, out),))
    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, differentiable."
    return op


exp = _unary("exp", lambda x: xp(x).exp(x), lambda x, y: y)
log = _unary("log", lambda x: xp(x).log(x), lambda x, y: 1 / x)
sqrt = _unary("sqrt", lambda x: xp(x).sqrt(x), lambda x, y: 0.5 / y)
abs = _unary("abs", lambda x: xp(x).abs(x), lambda x, y: xp(x).sign(x))
sin = _unary("sin", lambda x: xp(x).sin(x), lambda x, y: xp(x).cos(x))
cos = _unary("cos", lambda x: xp(x).cos(x), lambda x, y: -xp(x).sin(x))
tan = _unary("tan", lambda x: xp(x).tan(x), lambda x, y: 1 + y * y)


def square(x):
    """x², the book's most used power."""
    return as_tensor(x) ** 2

