"""Calculus of the book's chapters "Dérivée", "Fonctions de plusieurs variables" and "Gradient".

One variable: numerical and automatic derivatives, second derivative, tangent, linear
approximation, Newton's method (floats, `fractions.Fraction` or `decimal.Decimal` for arbitrary
precision) and n-th roots. Several variables: partial derivatives, gradient, directional
derivative, critical points, and the three elementary minimisers of "Fonctions de plusieurs
variables" §2.4 (grid, random and slice-by-slice search).

Conventions. A function of several variables is called as the book writes it, `f(x, y, ...)`,
with one scalar per variable; a point is a sequence `(x, y, ...)`. Functions given to the
automatic versions (`method="auto"`, `autodiff_*`) are written with deepmath's differentiable
functions (`dm.cos`, `dm.exp`, `dm.log`...) and operators, and run on the autodiff engine in
float64; the numerical versions take any function of floats (numpy's or math's).

Step sizes of the finite differences. A central difference (f(x+h) - f(x-h)) / 2h has a truncation
error of order h² f''' and a rounding error of order eps |f| / h, so the total error is smallest
for h ≈ eps^(1/3) ≈ 6e-6 (relative to max(1, |x|)), which leaves about 10 correct digits. The second
difference (f(x+h) - 2f(x) + f(x-h)) / h² balances h² against eps / h², hence h ≈ eps^(1/4).
"""
import decimal
import math
import numbers
from decimal import Decimal
from typing import Callable, NamedTuple

import numpy as np

_EPS = np.finfo(np.float64).eps
_STEP_FIRST = _EPS ** (1 / 3)
_STEP_SECOND = _EPS ** (1 / 4)
_METHODS = ("numeric", "auto")

__all__ = [
    "ConvergenceError", "Tangent", "SearchResult",
    "derivative", "second_derivative", "autodiff_derivative", "tangent", "linear_approximation",
    "newton", "nth_root",
    "partial_derivative", "gradient", "autodiff_gradient", "directional_derivative",
    "level_line_tangent", "tangente_ligne_de_niveau", "hessian",
    "critical_point", "grid_search", "random_search", "slice_search",
    "derivee", "derivee_seconde", "derivee_automatique", "tangente", "calcul_approche",
    "derivee_partielle", "derivee_directionnelle", "point_critique",
    "recherche_grille", "recherche_hasard", "recherche_tranche",
]


class ConvergenceError(RuntimeError):
    """An iteration did not reach its tolerance; `iterates` holds the points it visited."""

    def __init__(self, message, iterates):
        super().__init__(message)
        self.iterates = iterates


class Tangent(NamedTuple):
    """The tangent y = slope x + intercept at a point ("Dérivée", §1.3); `line` evaluates it."""
    slope: float
    intercept: float
    line: Callable


class SearchResult(NamedTuple):
    """A point found by a search, the value of f there, and the points visited, in order."""
    point: object
    value: float
    visited: np.ndarray


# ----------------------------------------------------------------------------- validation

def _check_callable(f, name="f"):
    if not callable(f):
        raise TypeError(f"{name} must be callable, got {type(f).__name__}")


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_step(h):
    if h is not None and not (np.all(np.isfinite(h)) and np.all(np.asarray(h) > 0)):
        raise ValueError(f"h must be a positive finite step, got {h!r}")


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _as_point(point, name="point"):
    """A point of R^n as a 1-D float64 array (a scalar is a point of R)."""
    try:
        p = np.atleast_1d(np.asarray(point, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {point!r}") \
            from None
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be a non-empty flat sequence of finite numbers, "
                         f"got {point!r}")
    return p


def _as_scalar(x, name):
    if np.ndim(x) != 0:
        raise ValueError(f"{name} must be a single number, got {x!r}")
    return float(_as_point(x, name)[0])


def _scale(x):
    return np.maximum(1.0, np.abs(x))


# ----------------------------------------------------------------------------- one variable

def derivative(f, x, h=None):
    """f'(x) by the central difference (f(x+h) - f(x-h)) / 2h ("Dérivée", §1).

    `h` defaults to eps^(1/3) max(1, |x|) (see the module notes); x may be an array when f
    works elementwise."""
    _check_callable(f)
    _check_step(h)
    x = np.asarray(x, dtype=np.float64)
    h = _STEP_FIRST * _scale(x) if h is None else h
    h = (x + h) - x                       # a step exactly representable around x
    result = (f(x + h) - f(x - h)) / (2 * h)
    return float(result) if np.ndim(result) == 0 else result


def second_derivative(f, x, h=None):
    """f''(x) by (f(x+h) - 2 f(x) + f(x-h)) / h², h = eps^(1/4) max(1, |x|) ("Dérivée", §4)."""
    _check_callable(f)
    _check_step(h)
    x = np.asarray(x, dtype=np.float64)
    h = _STEP_SECOND * _scale(x) if h is None else h
    h = (x + h) - x
    result = (f(x + h) - 2 * f(x) + f(x - h)) / (h * h)
    return float(result) if np.ndim(result) == 0 else result


def autodiff_derivative(f, x):
    """f'(x) exactly, by automatic differentiation on deepmath's graph ("Dérivée", §2).

    f is written with deepmath functions: `autodiff_derivative(lambda x: dm.cos(2*x**2), 3)` is
    -12 sin 18. For an array x, f must act elementwise; the derivative is then elementwise too."""
    from .autograd import grad
    from .ops import sum as dm_sum
    _check_callable(f)
    if np.ndim(x) == 0:
        return grad(f)(float(x))
    return grad(lambda t: dm_sum(f(t)))(np.asarray(x, dtype=np.float64))


def _derivative_by(method, f, x):
    _check_method(method)
    return autodiff_derivative(f, x) if method == "auto" else derivative(f, x)


def tangent(f, x0, method="numeric"):
    """The tangent to the graph of f at x0: y = f'(x0)(x - x0) + f(x0) ("Dérivée", §1.3).

    Returns `Tangent(slope, intercept, line)`; f'(x0) is numerical or, with `method="auto"`,
    automatic."""
    _check_callable(f)
    x0 = _as_scalar(x0, "x0")
    slope = _derivative_by(method, f, x0)
    intercept = float(f(x0)) - slope * x0
    return Tangent(slope, intercept, lambda x: slope * np.asarray(x) + intercept)


def linear_approximation(f, a, x, method="numeric"):
    """f(a) + <grad f(a) | x - a>: f'(a)(x - a) for one variable ("Dérivée", §1.2), and the
    tangent plane of "Gradient", §2.6 when a and x are points (x, y, ...)."""
    _check_callable(f)
    if np.ndim(a) == 0:
        a0 = _as_scalar(a, "a")
        return float(f(a0)) + _derivative_by(method, f, a0) * (np.asarray(x) - a0)
    a = _as_point(a, "a")
    step = _as_point(x, "x") - a
    if step.size != a.size:
        raise ValueError(f"x has {step.size} coordinates but a has {a.size}")
    return float(f(*a)) + float(_gradient_by(method, f, a) @ step)


# ----------------------------------------------------------------------------- Newton

def _is_finite(x):
    check = getattr(x, "is_finite", None)        # Decimal
    return check() if callable(check) else math.isfinite(x)


def _default_close(new, old):
    """|new - old| within a few units of the working precision (Decimal's context or float64)."""
    unit = Decimal(10) ** (2 - decimal.getcontext().prec) if isinstance(new, Decimal) \
        else 4 * _EPS
    return abs(new - old) <= unit * max(1, abs(new))


def _iterate(step, x0, n_iter, tol, max_iter, distance, what):
    """The iterates x0, step(x0), ... : n_iter steps, or until distance(x_{k+1}, x_k) <= tol
    (raising ConvergenceError if that takes more than n_iter, or max_iter, steps)."""
    iterates = [x0]
    if n_iter is not None and tol is None:
        for _ in range(n_iter):
            iterates.append(step(iterates[-1]))
        return iterates
    limit = max_iter if n_iter is None else n_iter
    close = _default_close if tol is None else (lambda new, old: distance(new, old) <= tol)
    for _ in range(limit):
        iterates.append(step(iterates[-1]))
        if close(iterates[-1], iterates[-2]):
            return iterates
    raise ConvergenceError(f"{what} did not converge in {limit} iterations (last iterate "
                           f"{iterates[-1]!r}); try another starting point or more iterations",
                           iterates)


def newton(f, df, x0, n_iter=None, tol=None, max_iter=100):
    """Newton's method x_{n+1} = x_n - f(x_n) / f'(x_n) ("Dérivée", §5); returns [x0, x1, ...].

    - `n_iter` alone: exactly that many steps, as the book's algorithm (§5.3).
    - `tol`: stop once |x_{n+1} - x_n| <= tol, within `n_iter` (or `max_iter`) steps, else
      raise ConvergenceError. Neither: stop at the working precision.
    Arithmetic is that of x0: float, `Fraction` (exact iterates: 10, 7, 262/49 for x³ - 100) or
    `Decimal` (any precision, set by `decimal.localcontext()`). `df=None` uses the numerical
    derivative (floats only). A zero derivative raises ZeroDivisionError."""
    _check_callable(f)
    if df is None:
        def df(x):
            return derivative(f, x)
    _check_callable(df, "df")
    if not isinstance(x0, numbers.Number) or isinstance(x0, (bool, complex)):
        raise TypeError(f"x0 must be a real number (int, float, Fraction, Decimal), got {x0!r}")
    if n_iter is not None:
        n_iter = _check_int(n_iter, "n_iter", 0)
    max_iter = _check_int(max_iter, "max_iter", 1)
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")

    def step(x):
        slope = df(x)
        if slope == 0:
            raise ZeroDivisionError(f"newton: f'(x) = 0 at x = {x!r}, the tangent is horizontal; "
                                    "choose another starting point x0")
        new = x - f(x) / slope
        if not _is_finite(new):
            raise ConvergenceError(f"newton: the iterate after x = {x!r} is {new!r}", [x, new])
        return new

    return _iterate(step, x0, n_iter, tol, max_iter, lambda a, b: abs(a - b), "newton")


def nth_root(a, n, x0=None, digits=50):
    """The n-th root of a as a Decimal with its first `digits` decimals (truncated, as the book
    prints them), by Newton's method on x^n - a ("Dérivée", §5.2: ∛100 to 1000 digits).
    a is an int, str, Decimal or float (taken by its repr: 0.1 is 1/10); x0 defaults to
    max(1, a)."""
    n = _check_int(n, "n", 1)
    digits = _check_int(digits, "digits", 0)
    try:
        a = Decimal(a) if not isinstance(a, float) else Decimal(repr(a))
    except (TypeError, ValueError, decimal.InvalidOperation):
        raise TypeError(f"a must be an int, float, str or Decimal, got {a!r}") from None
    if not a.is_finite():
        raise ValueError(f"a must be finite, got {a!r}")
    if a < 0:
        if n % 2 == 0:
            raise ValueError(f"a must be >= 0 for an even root (n={n}), got {a}")
        return -nth_root(-a, n, None if x0 is None else -Decimal(x0), digits)
    if a == 0:
        return Decimal(0).quantize(Decimal(10) ** -digits)
    with decimal.localcontext() as context:
        context.prec = digits + max(a.adjusted(), 0) + 12
        start = max(Decimal(1), a) if x0 is None else Decimal(x0)
        if start <= 0:
            raise ValueError(f"x0 must be positive, got {x0!r}")
        iterates = newton(lambda x: x ** n - a, lambda x: n * x ** (n - 1), start,
                          tol=Decimal(10) ** -(digits + 6), max_iter=100 + 4 * n)
        # round off the last guard digits first, so that 2.99...9 (rounding noise) truncates to 3
        guarded = iterates[-1].quantize(Decimal(10) ** -(digits + 4))
        return guarded.quantize(Decimal(10) ** -digits, rounding=decimal.ROUND_DOWN)


# ----------------------------------------------------------------------------- several variables

def _replace(p, i, t):
    """A copy of the point p with coordinate i set to t."""
    q = p.copy()
    q[i] = t
    return q


def _along(f, p, i):
    """The slice t -> f(p with p_i = t) ("Fonctions de plusieurs variables", §2.2: tranches)."""
    return lambda t: f(*_replace(p, i, t))


def partial_derivative(f, point, i, h=None):
    """∂f/∂x_i at `point`, the derivative of the slice along coordinate i ("Gradient", §1)."""
    _check_callable(f)
    p = _as_point(point)
    if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not -p.size <= i < p.size:
        raise ValueError(f"i must be a coordinate index in [0, {p.size}), got {i!r}")
    return derivative(_along(f, p, i), p[i], h)


def gradient(f, point, h=None):
    """grad f(point), the vector of the partial derivatives, by central differences
    ("Gradient", §2)."""
    p = _as_point(point)
    return np.array([partial_derivative(f, p, i, h) for i in range(p.size)])


def autodiff_gradient(f, point):
    """grad f(point) by automatic differentiation ("Gradient", §3): f(x, y, ...) is written with
    deepmath functions, e.g. `lambda x, y: dm.log(x**2*y + dm.sin(y))`."""
    from .autograd import grad
    _check_callable(f)
    p = _as_point(point)
    return np.atleast_1d(np.array(grad(f)(*map(float, p)), dtype=np.float64))


def _gradient_by(method, f, p):
    _check_method(method)
    return autodiff_gradient(f, p) if method == "auto" else gradient(f, p)


def directional_derivative(f, point, v, method="numeric"):
    """D_v f(point) = <grad f(point) | v> ("Gradient", §2.4); v is not normalised (as in the
    book)."""
    p = _as_point(point)
    v = _as_point(v, "v")
    if v.size != p.size:
        raise ValueError(f"v has {v.size} coordinates but point has {p.size}")
    return float(_gradient_by(method, f, p) @ v)


def level_line_tangent(f, point, method="numeric"):
    """The tangent at (x0, y0) to the level line of f through it ("Gradient", §2.2,
    Proposition 2): ∂f/∂x (x - x0) + ∂f/∂y (y - y0) = 0, returned as (a, b, c) with
    a·x + b·y = c, (a, b) = grad f(x0, y0). ValueError where the gradient is zero (no tangent)."""
    p = _as_point(point)
    if p.size != 2:
        raise ValueError(f"level_line_tangent: f must have two variables, the point has "
                         f"{p.size} coordinates")
    a, b = _gradient_by(method, f, p)
    if a == 0 and b == 0:
        raise ValueError(f"level_line_tangent: grad f is zero at {tuple(p)}: no tangent there")
    return float(a), float(b), float(a * p[0] + b * p[1])


def hessian(f, point, h=None):
    """The matrix of second partial derivatives by the symmetric four-point difference
    [f(x+h_i e_i+h_j e_j) - f(x+h_i e_i-h_j e_j) - f(x-h_i e_i+h_j e_j) + f(x-h_i e_i-h_j e_j)]
    / 4 h_i h_j, steps h_i = eps^(1/4) max(1, |x_i|) unless `h` is given."""
    _check_callable(f)
    _check_step(h)
    p = _as_point(point)
    steps = _STEP_SECOND * _scale(p) if h is None else np.broadcast_to(h, p.shape)
    steps = (p + steps) - p
    basis = np.diag(steps)                # row i is h_i e_i
    H = np.empty((p.size, p.size))
    for i in range(p.size):
        for j in range(i, p.size):
            di, dj = basis[i], basis[j]
            corners = f(*(p + di + dj)) - f(*(p + di - dj)) - f(*(p - di + dj)) \
                + f(*(p - di - dj))
            H[i, j] = H[j, i] = corners / (4 * steps[i] * steps[j])
    return H


def critical_point(f, x0, tol=1e-10, max_iter=50):
    """A point where grad f = 0 ("point critique", "Gradient", §2.7), by Newton's method on the
    gradient, x <- x - H(x)^-1 grad f(x), numerical gradient and Hessian. For one variable this is
    the book's §5.4 of "Dérivée" (Newton applied to g'). Returns SearchResult(point, f(point),
    iterates); the point is a float when x0 is a number. It may be a minimum, a maximum or a
    saddle: check the Hessian (or the second derivative)."""
    _check_callable(f)
    scalar = np.ndim(x0) == 0
    start = _as_point(x0, "x0")
    max_iter = _check_int(max_iter, "max_iter", 1)
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")

    def step(x):
        try:
            return x - np.linalg.solve(hessian(f, x), gradient(f, x))
        except np.linalg.LinAlgError:
            raise ValueError(f"critical_point: the Hessian is singular at {x}; choose another "
                             "starting point x0") from None

    iterates = _iterate(step, start, None, tol, max_iter,
                        lambda a, b: np.linalg.norm(a - b) / max(1.0, np.linalg.norm(a)),
                        "critical_point")
    point = iterates[-1]
    return SearchResult(float(point[0]) if scalar else point, float(f(*point)),
                        np.array(iterates))


# ----------------------------------------------------------------------------- minimisers

def _as_bounds(bounds):
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] == 0 or not np.all(np.isfinite(b)) \
            or not np.all(b[:, 0] < b[:, 1]):
        raise ValueError("bounds must be a sequence of finite (low, high) pairs with low < high, "
                         f"one per variable, got {bounds!r}")
    return b


def _evaluate_many(f, points):
    """f at each row of `points`: one vectorised call f(X, Y, ...) when f accepts arrays (as the
    book's numpy functions do), else one call per point."""
    try:
        values = np.asarray(f(*points.T), dtype=np.float64)
        if values.shape == (len(points),):
            return values
    except (TypeError, ValueError):
        pass
    return np.array([f(*p) for p in points], dtype=np.float64)


def _best(f, points):
    values = _evaluate_many(f, points)
    if np.all(np.isnan(values)):
        raise ValueError("f is NaN at every point searched")
    k = int(np.nanargmin(values))
    return SearchResult(points[k].copy(), float(values[k]), points)


def grid_search(f, bounds, n=100):
    """Minimum of f over an n x n (x ... ) grid of the box `bounds` = [(a, b), (c, d), ...]
    ("Fonctions de plusieurs variables", §2.4: recherche sur une grille, n^d evaluations)."""
    _check_callable(f)
    b = _as_bounds(bounds)
    n = _check_int(n, "n", 2)
    axes = [np.linspace(low, high, n) for low, high in b]
    points = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    return _best(f, points)


def random_search(f, bounds, n=1000, seed=None):
    """Minimum of f over n points drawn uniformly in the box `bounds` (§2.4: recherche au
    hasard); `seed` makes the draw reproducible."""
    _check_callable(f)
    b = _as_bounds(bounds)
    n = _check_int(n, "n", 1)
    rng = np.random.default_rng(seed)
    return _best(f, rng.uniform(b[:, 0], b[:, 1], size=(n, len(b))))


def slice_search(f, start, n_sweeps=5, bounds=None, order=None):
    """Minimum of f slice by slice (§2.4: recherche par tranche): each sweep minimises f along
    each coordinate in turn, the others fixed, with a 1-D minimiser (Brent; bounded when `bounds`
    is given). The default order moves the last coordinate first: from x = x0 the book minimises
    over y, then over x on the slice y = y0, and so on. Returns the point, its value, and the
    start followed by the point after each 1-D minimisation."""
    from scipy.optimize import minimize_scalar
    _check_callable(f)
    p = _as_point(start, "start")
    n_sweeps = _check_int(n_sweeps, "n_sweeps", 1)
    b = None if bounds is None else _as_bounds(bounds)
    if b is not None and len(b) != p.size:
        raise ValueError(f"bounds has {len(b)} pairs but start has {p.size} coordinates")
    order = list(range(p.size))[::-1] if order is None else list(order)
    if sorted(set(order)) != sorted(order) or not set(order) <= set(range(p.size)):
        raise ValueError(f"order must list distinct coordinate indices < {p.size}, got {order!r}")
    visited = [p.copy()]
    for _ in range(n_sweeps):
        for i in order:
            along = _along(f, p, i)
            if b is None:
                found = minimize_scalar(along)
            else:
                found = minimize_scalar(along, bounds=tuple(b[i]), method="bounded",
                                        options={"xatol": 1e-10})
            p = _replace(p, i, found.x)
            visited.append(p.copy())
    return SearchResult(p, float(f(*p)), np.array(visited))


# ----------------------------------------------------------------------------- the book's names

derivee = derivative
derivee_seconde = second_derivative
derivee_automatique = autodiff_derivative
tangente = tangent
calcul_approche = linear_approximation
derivee_partielle = partial_derivative
derivee_directionnelle = directional_derivative
point_critique = critical_point
recherche_grille = grid_search
recherche_hasard = random_search
recherche_tranche = slice_search
tangente_ligne_de_niveau = level_line_tangent
