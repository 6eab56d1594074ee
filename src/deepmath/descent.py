"""Gradient descent as a library (book, chapter "Descente de gradient").

Every run returns a `DescentResult` holding the whole trajectory: the points P_0, P_1, …, the
values f(P_k) and the gradients used, so the chapter's tables can be printed or plotted.

    from deepmath.descent import gradient_descent
    r = gradient_descent(lambda p: p[0]**2 + 3*p[1]**2, [2, 1], step=0.2, n_iter=20)
    r.points[1], r.values[1]          # (1.2, -0.2), 1.56       (§1.2)

The gradient is the user's `grad(P)` when given, else computed by deepmath's autodiff
(`grad=None`: f must be written with operations a `deepmath.Tensor` supports) or by central
finite differences (`grad="numerical"`).

Sections:
  §1.4 algorithme du gradient: `gradient_descent` (`descente_gradient`), stop on ‖grad‖ ≤ ε
       or after `n_iter` steps;
  §2.1 faire varier le pas: `linear_decay`, `quadratic_decay`, `exponential_decay`,
       `inverse_time_decay` (Keras' `decay`), French aliases `decroissance_*`;
  §2.2–2.4 régression linéaire: `fit_line`, `fit_plane`, `fit_polynomial` (closed form, normal
       equations) and their `*_descent` versions;
  §3.1 descente stochastique: `stochastic_gradient_descent` (`descente_stochastique`);
  §3.3 descente par lots: `mini_batch_descent` (`descente_par_lots`), `fit_circle(_descent)`;
  §4   moment et Nesterov: the `momentum` and `nesterov` arguments of every descent.

The book's tables truncate rather than round (0.1868 is printed 0.186). Erratum (the correct
value is the one tested):
  §2.2, 5 points A_1…A_5: the extrapolation at x = 6 is 2.266 (0.7880·6 − 2.4620), not 2.22,
       which comes from the truncated 0.78·6 − 2.46.
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["DescentResult", "gradient_descent", "descente_gradient",
           "stochastic_gradient_descent", "descente_stochastique", "mini_batch_descent",
           "descente_par_lots", "numerical_gradient", "linear_decay", "quadratic_decay",
           "exponential_decay", "inverse_time_decay", "decroissance_lineaire",
           "decroissance_quadratique", "decroissance_exponentielle", "decroissance_keras",
           "fit_line", "fit_line_descent", "fit_plane", "fit_plane_descent", "fit_polynomial",
           "fit_polynomial_descent", "fit_circle", "fit_circle_descent", "regression_lineaire",
           "regression_cercle"]


@dataclass(frozen=True)
class DescentResult:
    """The trajectory of a descent.

    points[k] is P_k (k = 0 … n_iter), values[k] = f(P_k) (the total error for the stochastic
    and mini-batch descents), gradients[k] the gradient used for step k (for Nesterov, taken at
    the look-ahead point; for stochastic descents, that of the batch) and gradients[-1] the full
    gradient at the last point. `converged` is True when a tolerance ε was given and reached."""
    points: np.ndarray
    values: np.ndarray
    gradients: np.ndarray
    converged: bool = False

    @property
    def x(self):
        """The last point, the approximation of the minimum."""
        return self.points[-1]

    @property
    def n_iter(self):
        """The number of steps made."""
        return len(self.points) - 1


# ---- validation -------------------------------------------------------------------------------
def _real(value, name, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def _positive(value, name, where):
    if _real(value, name, where) <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return float(value)


def _count(value, name, where, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _callable(f, name, where):
    if not callable(f):
        raise TypeError(f"{where}: {name} must be callable, got {type(f).__name__}")
    return f


def _point(x0, where):
    try:
        p = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: x0 must be a number or an array of numbers, "
                        f"got {type(x0).__name__}") from None
    if p.ndim > 1 or p.size == 0 or not np.all(np.isfinite(p)):
        raise ValueError(f"{where}: x0 must be a finite number or a non-empty 1-D array, "
                         f"got shape {p.shape}")
    return p


def _step_function(step, where):
    """δ_k as a function of k: a fixed step, or a schedule (any callable k -> δ_k)."""
    if callable(step):
        return step
    delta = _positive(step, "step", where)
    return lambda k: delta


def _as_array(value):
    """A number, array or deepmath Tensor as a float64 array."""
    return np.asarray(getattr(value, "data", value), dtype=np.float64)


def _scalar(value, where):
    """f's output as a float (f may return a number, a 0-d array or a deepmath Tensor)."""
    out = _as_array(value)
    if out.size != 1:
        raise ValueError(f"{where}: f must return a scalar, got shape {out.shape}")
    return float(out.reshape(()))


# ---- gradients --------------------------------------------------------------------------------
def numerical_gradient(f, x, *args, h=1e-6):
    """Central differences (f(x + h e_i) − f(x − h e_i)) / 2h for each coordinate i (the
    "limite" the book mentions in §1.4, slower and less precise than the exact formula)."""
    x = np.array(x, dtype=np.float64)
    g = np.empty_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (_scalar(f(x + e, *args), "numerical_gradient")
                - _scalar(f(x - e, *args), "numerical_gradient")) / (2 * h)
    return g


def _gradient_function(f, grad, where):
    """grad(P, *batch) as an array: the user's, deepmath autodiff's or central differences."""
    if grad is None:
        from .autograd import grad as autodiff
        raw = autodiff(f, argnums=0)
    elif isinstance(grad, str):
        if grad != "numerical":
            raise ValueError(f"{where}: grad must be a callable, None (autodiff) or "
                             f"'numerical', got {grad!r}")
        return lambda p, *args: numerical_gradient(f, p, *args)
    else:
        raw = _callable(grad, "grad", where)

    def gradient(p, *args):
        g = _as_array(raw(p, *args))
        if g.shape != p.shape:
            raise ValueError(f"{where}: grad must return an array of shape {p.shape} (the "
                             f"shape of x0), got {g.shape}")
        return g
    return gradient


# ---- the engine ---------------------------------------------------------------------------------
def _nesterov_form(nesterov, where):
    forms = {False: None, True: "book", "book": "book", "keras": "keras"}
    if not isinstance(nesterov, (bool, str)) or nesterov not in forms:
        raise ValueError(f"{where}: nesterov must be False, True, 'book' or 'keras', "
                         f"got {nesterov!r}")
    return forms[nesterov]


def _descend(value, step_gradient, full_gradient, x0, n_steps, step, momentum, nesterov, eps):
    """The loop shared by every descent. With v the velocity (v_0 = 0):
    classic / momentum  v ← μ v − δ_k grad f(P),          P ← P + v;
    Nesterov ('book')   v ← μ v − δ_k grad f(P + μ v),    P ← P + v;
    Nesterov ('keras')  v ← μ v − δ_k grad f(P),          P ← P + μ v − δ_k grad f(P)."""
    p, v = x0, np.zeros_like(x0)
    points, values, grads = [p], [value(p)], []
    for k in range(n_steps):
        g = step_gradient(p + momentum * v if nesterov == "book" else p, k)
        grads.append(g)
        if eps is not None and np.linalg.norm(g) <= eps:
            return DescentResult(np.array(points), np.array(values), np.array(grads), True)
        delta = step(k)
        v = momentum * v - delta * g
        p = p + (momentum * v - delta * g if nesterov == "keras" else v)
        points.append(p)
        values.append(value(p))
    grads.append(full_gradient(p))
    converged = eps is not None and bool(np.linalg.norm(grads[-1]) <= eps)
    return DescentResult(np.array(points), np.array(values), np.array(grads), converged)


def _options(step, momentum, nesterov, eps, where):
    momentum = _real(momentum, "momentum", where)
    if momentum < 0:
        raise ValueError(f"{where}: momentum must be ≥ 0, got {momentum!r}")
    if eps is not None and _real(eps, "eps", where) < 0:
        raise ValueError(f"{where}: eps must be ≥ 0 or None, got {eps!r}")
    return _step_function(step, where), momentum, _nesterov_form(nesterov, where)


def gradient_descent(f, x0, step=0.01, n_iter=100, grad=None, eps=None, momentum=0.0,
                     nesterov=False):
    """Minimise f from x0 by P_{k+1} = P_k − δ_k grad f(P_k) (§1.4, "Algorithme du gradient").

    step: a fixed δ, or a schedule k -> δ_k (`linear_decay(0.1)`, a keras schedule…).
    n_iter: at most this many steps; eps: stop as soon as ‖grad f(P_k)‖ ≤ ε.
    grad: grad(P) -> array, None for deepmath autodiff, or 'numerical'.
    momentum μ (§4.1): P_{k+1} = P_k + μ P_{k−1}P_k − δ grad f(P_k), at rest at the start.
    nesterov (§4.2): True or 'book' computes the gradient at the look-ahead point
    P'_k = P_k + μ P_{k−1}P_k: P_{k+1} = P'_k − δ grad f(P'_k). 'keras' is Keras'
    `SGD(nesterov=True)`, which stores the look-ahead point itself: its iterates are the book's
    P'_k = P_k + μ(P_k − P_{k−1}), the same run seen through this change of variable."""
    where = "gradient_descent"
    f = _callable(f, "f", where)
    x0 = _point(x0, where)
    n_iter = _count(n_iter, "n_iter", where, minimum=0)
    step, momentum, nesterov = _options(step, momentum, nesterov, eps, where)
    gradient = _gradient_function(f, grad, where)
    return _descend(lambda p: _scalar(f(p), where), lambda p, k: gradient(p),
                    gradient, x0, n_iter, step, momentum, nesterov, eps)


def _data(data, where):
    if not isinstance(data, (tuple, list)) or not data:
        raise TypeError(f"{where}: data must be a non-empty tuple of arrays (x, y, …), "
                        f"got {type(data).__name__}")
    arrays = tuple(np.asarray(d, dtype=np.float64) for d in data)
    lengths = {len(a) if a.ndim else -1 for a in arrays}
    if len(lengths) != 1 or -1 in lengths or 0 in lengths:
        raise ValueError(f"{where}: the arrays of data must have the same non-zero length, "
                         f"got shapes {[a.shape for a in arrays]}")
    return arrays


def mini_batch_descent(f, x0, data, batch_size=1, step=0.01, epochs=1, grad=None, shuffle=True,
                       seed=None, momentum=0.0, nesterov=False):
    """Descent by lots of K = batch_size samples (§3.3, "Descente par lots").

    f(P, *batch) is the error of a batch, the sum of the local errors E_i (the book sums; Keras
    takes the mean); data = (x, y, …) are arrays of N samples. Each epoch cuts the N samples in
    lots of K (the last one may be smaller) and makes one step per lot:
    P_{k+1} = P_k − δ_k grad(E_{j+1} + … + E_{j+K})(P_k). With shuffle the samples are mixed
    before each epoch by a generator seeded with `seed` (same seed, same run). K = 1 without
    shuffle is the book's stochastic descent, K = N the classic descent. values[k] is the total
    error f(P_k, *data)."""
    where = "mini_batch_descent"
    f = _callable(f, "f", where)
    x0 = _point(x0, where)
    data = _data(data, where)
    n = len(data[0])
    batch_size = _count(batch_size, "batch_size", where)
    epochs = _count(epochs, "epochs", where, minimum=0)
    step, momentum, nesterov = _options(step, momentum, nesterov, None, where)
    gradient = _gradient_function(f, grad, where)
    rng = np.random.default_rng(seed)
    lots = []
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        lots += [order[j:j + batch_size] for j in range(0, n, batch_size)]
    return _descend(lambda p: _scalar(f(p, *data), where),
                    lambda p, k: gradient(p, *(d[lots[k]] for d in data)),
                    lambda p: gradient(p, *data), x0, len(lots), step, momentum, nesterov, None)


def stochastic_gradient_descent(f, x0, data, step=0.01, epochs=1, grad=None, shuffle=False,
                                seed=None, momentum=0.0, nesterov=False):
    """One sample per step (§3.1): P_{k+1} = P_k − δ grad E_{(k % N)+1}(P_k), the samples taken
    in order (or mixed at each epoch with shuffle=True and a seed). f(P, *batch) as in
    `mini_batch_descent`; after `epochs` epochs, N·epochs steps were made."""
    return mini_batch_descent(f, x0, data, 1, step, epochs, grad, shuffle, seed, momentum,
                              nesterov)


# ---- §2.1: schedules ----------------------------------------------------------------------------
def _schedule(name, formula, delta0, *constants):
    delta0 = _positive(delta0, "delta0", name)

    def schedule(k):
        return formula(delta0, k, *constants)
    schedule.__name__ = name
    return schedule


def linear_decay(delta0):
    """δ_k = δ_0 / (k + 1) (§2.1, "décroissance linéaire")."""
    return _schedule("linear_decay", lambda d, k: d / (k + 1), delta0)


def quadratic_decay(delta0):
    """δ_k = δ_0 / (k + 1)² (§2.1, "décroissance quadratique")."""
    return _schedule("quadratic_decay", lambda d, k: d / (k + 1) ** 2, delta0)


def exponential_decay(delta0, beta):
    """δ_k = δ_0 e^(−βk), β > 0 (§2.1, "décroissance exponentielle")."""
    beta = _positive(beta, "beta", "exponential_decay")
    return _schedule("exponential_decay", lambda d, k, b: d * math.exp(-b * k), delta0, beta)


def inverse_time_decay(delta0, alpha):
    """δ_k = δ_0 / (αk + 1), α ≥ 0 (§2.1, "décroissance linéaire utilisée par keras": its
    `decay` option); α = 0 keeps δ constant."""
    alpha = _real(alpha, "alpha", "inverse_time_decay")
    if alpha < 0:
        raise ValueError(f"inverse_time_decay: alpha must be ≥ 0, got {alpha!r}")
    return _schedule("inverse_time_decay", lambda d, k, a: d / (a * k + 1), delta0, alpha)


# ---- §2.2–2.4, §3.3: regressions --------------------------------------------------------------
def _samples(where, *columns):
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    for name, a in zip("xyz", arrays):
        if a.ndim != 1 or not np.all(np.isfinite(a)):
            raise ValueError(f"{where}: {name} must be a 1-D array of finite numbers, "
                             f"got shape {a.shape}")
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"{where}: x, y{', z' if len(arrays) > 2 else ''} must have the same "
                         f"length, got {[len(a) for a in arrays]}")
    return arrays


def _normal_equations(design, target, where):
    """The θ minimising ‖target − design θ‖², solution of (AᵀA) θ = Aᵀ target."""
    gram = design.T @ design
    if np.linalg.matrix_rank(gram) < gram.shape[0]:
        raise ValueError(f"{where}: the points do not determine the {gram.shape[0]} "
                         "coefficients (too few or degenerate points)")
    return np.linalg.solve(gram, design.T @ target)


def _squared_error(theta, design, target):
    """E(θ) = Σ (target_i − (Aθ)_i)²."""
    r = target - design @ theta
    return float(r @ r)


def _squared_error_gradient(theta, design, target):
    """grad E(θ) = −2 Aᵀ (target − Aθ) (the book's formulas of §2.2 and §2.4)."""
    return -2.0 * design.T @ (target - design @ theta)


def _linear_descent(design, target, start, step, n_iter, batch_size, seed, momentum, nesterov,
                    where):
    if len(_point(start, where)) != design.shape[1]:
        raise ValueError(f"{where}: start must have {design.shape[1]} coefficients, "
                         f"got {np.shape(start)}")
    if batch_size is None:
        return gradient_descent(lambda t: _squared_error(t, design, target), start, step, n_iter,
                                lambda t: _squared_error_gradient(t, design, target),
                                momentum=momentum, nesterov=nesterov)
    return mini_batch_descent(_squared_error, start, (design, target), batch_size, step, n_iter,
                              _squared_error_gradient, seed is not None, seed, momentum, nesterov)


def _vandermonde(x, degree):
    return np.vander(x, degree + 1)


def fit_polynomial(x, y, degree):
    """Coefficients (c_d, …, c_1, c_0), highest power first as `numpy.polyfit`, of the polynomial
    minimising Σ (y_i − F(x_i))², by the normal equations."""
    degree = _count(degree, "degree", "fit_polynomial", minimum=0)
    x, y = _samples("fit_polynomial", x, y)
    return _normal_equations(_vandermonde(x, degree), y, "fit_polynomial")


def fit_polynomial_descent(x, y, degree, start=None, step=0.01, n_iter=100, batch_size=None,
                           seed=None, momentum=0.0, nesterov=False):
    """The same polynomial by gradient descent on E (start: zeros by default). n_iter counts
    steps, or epochs when batch_size is given (mini-batch descent, shuffled when seeded)."""
    where = "fit_polynomial_descent"
    degree = _count(degree, "degree", where, minimum=0)
    x, y = _samples(where, x, y)
    start = np.zeros(degree + 1) if start is None else start
    return _linear_descent(_vandermonde(x, degree), y, start, step, n_iter, batch_size, seed,
                           momentum, nesterov, where)


def fit_line(x, y):
    """(a, b) of the regression line y = ax + b (§2.2, "Régression linéaire y = ax + b"), exact
    by the normal equations (the "formule directe" the book mentions)."""
    return fit_polynomial(x, y, 1)


def fit_line_descent(x, y, start=(0.0, 1.0), step=0.02, n_iter=100, batch_size=None, seed=None,
                     momentum=0.0, nesterov=False):
    """(a_k, b_k) by gradient descent on E(a, b) = Σ (y_i − (a x_i + b))² (§2.2); the defaults
    are the book's run through (0, 3), (2, 4), (6, 6)."""
    return fit_polynomial_descent(x, y, 1, start, step, n_iter, batch_size, seed, momentum,
                                  nesterov)


def _plane_design(x, y):
    return np.column_stack([x, y, np.ones_like(x)])


def fit_plane(x, y, z):
    """(a, b, c) of the plane z = ax + by + c closest to the points (§2.4), exact."""
    x, y, z = _samples("fit_plane", x, y, z)
    return _normal_equations(_plane_design(x, y), z, "fit_plane")


def fit_plane_descent(x, y, z, start=(0.0, 0.0, 0.0), step=0.2, n_iter=100, batch_size=None,
                      seed=None, momentum=0.0, nesterov=False):
    """(a_k, b_k, c_k) by gradient descent on E(a, b, c) = Σ (z_i − (a x_i + b y_i + c))²
    (§2.4; the defaults are the book's three-point example)."""
    x, y, z = _samples("fit_plane_descent", x, y, z)
    return _linear_descent(_plane_design(x, y), z, start, step, n_iter, batch_size, seed,
                           momentum, nesterov, "fit_plane_descent")


def _circle_error(theta, x, y):
    """E(a, b, c) = Σ ((x_i − a)² + (y_i − b)² − c²)² (§3.3)."""
    a, b, c = theta
    r = (x - a) ** 2 + (y - b) ** 2 - c ** 2
    return float(r @ r)


def _circle_gradient(theta, x, y):
    a, b, c = theta
    r = (x - a) ** 2 + (y - b) ** 2 - c ** 2
    return -4.0 * np.array([r @ (x - a), r @ (y - b), c * r.sum()])


def fit_circle(x, y):
    """(a, b, c): centre and radius minimising the book's E(a, b, c) (§3.3), exactly.

    Expanding, E = Σ (x_i² + y_i² + D x_i + E' y_i + F)² with D = −2a, E' = −2b,
    F = a² + b² − c²: a linear least-squares problem in (D, E', F) (Kåsa's fit), solved by the
    normal equations; its optimum has c² = mean((x_i − a)² + (y_i − b)²) ≥ 0."""
    x, y = _samples("fit_circle", x, y)
    d, e, f = _normal_equations(np.column_stack([x, y, np.ones_like(x)]), -(x * x + y * y),
                                "fit_circle")
    a, b = -d / 2, -e / 2
    return np.array([a, b, math.sqrt(max(a * a + b * b - f, 0.0))])


def fit_circle_descent(x, y, start=(1.0, 1.0, 2.0), step=0.01, epochs=10, batch_size=None,
                       seed=None, momentum=0.0, nesterov=False):
    """Centre and radius by descent by lots on E(a, b, c) (§3.3); batch_size=None is the
    classic descent (K = N). Shuffled at each epoch when a seed is given."""
    x, y = _samples("fit_circle_descent", x, y)
    lot = len(x) if batch_size is None else batch_size
    return mini_batch_descent(_circle_error, start, (x, y), lot, step, epochs, _circle_gradient,
                              seed is not None, seed, momentum, nesterov)


# ---- the book's French names ------------------------------------------------------------------
descente_gradient = gradient_descent
descente_stochastique = stochastic_gradient_descent
descente_par_lots = mini_batch_descent
decroissance_lineaire = linear_decay
decroissance_quadratique = quadratic_decay
decroissance_exponentielle = exponential_decay
decroissance_keras = inverse_time_decay
regression_lineaire = fit_line
regression_cercle = fit_circle
