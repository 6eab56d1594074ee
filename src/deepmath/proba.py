"""The book's chapter "Probabilités", on plain numpy arrays: softmax (with temperature) and
argmax, the error functions (§2 "Fonctions d'erreur"), normalisations (§3 "Normalisation":
/255, min-max, z-score), mean / variance / standard deviation as the book defines them (the
population formulas, 1/n), the normal density, Bernoulli draws and dropout (§4 "Dropout").

These are the book's formulas to compute by hand and compare with the printed numbers; the
differentiable versions a network trains with are `deepmath.ops` / `deepmath.losses`.

    >>> np.round(softmax([3, 1, 8, 6, 0]), 4).tolist()        # book, line 8073
    [0.0059, 0.0008, 0.8746, 0.1184, 0.0003]

French names of the book are aliases: `esperance`, `ecart_type`, `erreur_quadratique_moyenne`,
`entropie_croisee_binaire`, `centrer_reduire`, `loi_normale`, `loi_bernoulli`…
"""
import numpy as np
from scipy.special import xlogy

__all__ = [
    "softmax", "softmax_jacobian", "argmax",
    "mean_squared_error", "mean_absolute_error", "mean_squared_logarithmic_error",
    "binary_crossentropy", "categorical_crossentropy", "mse", "mae", "msle",
    "normalize_pixels", "min_max_scale", "z_score",
    "mean", "variance", "standard_deviation", "normal_pdf",
    "bernoulli", "dropout_keep", "dropout_rate",
    "esperance", "ecart_type", "erreur_quadratique_moyenne", "erreur_absolue_moyenne",
    "erreur_logarithmique_moyenne", "entropie_croisee_binaire",
    "entropie_croisee_categories", "centrer_reduire", "loi_normale", "loi_bernoulli",
]


# ---- input checks -------------------------------------------------------------------------------
def _floats(x, name):
    """`x` as a non-empty array of finite floats (float32 kept, integers and bools -> float64)."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers: {err}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    a = a.astype(np.float64 if a.dtype.kind in "biu" else a.dtype, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return a


def _pair(y_true, y_pred):
    """The expected and produced outputs, as float arrays of the same shape."""
    y, y_hat = _floats(y_true, "y_true"), _floats(y_pred, "y_pred")
    if y.shape != y_hat.shape:
        raise ValueError(f"y_true has shape {y.shape} but y_pred has shape {y_hat.shape}: "
                         f"they must match")
    return y, y_hat


def _within(a, name, low, high, what):
    if np.any(a < low) or np.any(a > high):
        raise ValueError(f"{name} must be {what}, got values in [{a.min()}, {a.max()}]")


def _number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _positive(value, name):
    if not (_number(value) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


# ---- softmax, argmax (§1) -----------------------------------------------------------------------
def softmax(x, temperature=1.0, axis=-1):
    """softmax_T(X)_i = e^(x_i/T) / Σ_j e^(x_j/T) along `axis` (§1.2 "Fonction softmax", and
    the temperature T of "ChatGPT – partie 1"). T → 0 tends to argmax's one-hot vector, a
    large T to the uniform distribution 1/k. The maximum is subtracted before exp (same value,
    no overflow)."""
    z = _floats(x, "x") / _positive(temperature, "temperature")
    z = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def softmax_jacobian(x, temperature=1.0):
    """The k×k matrix J[i, j] = ∂σ_i/∂x_j of softmax at the vector x: σ_i(1 - σ_i) on the
    diagonal, -σ_i σ_j elsewhere (book §1.2), divided by T with a temperature."""
    s = softmax(x, temperature)
    if s.ndim != 1:
        raise ValueError(f"x must be a vector, got shape {s.shape}")
    return (np.diag(s) - np.outer(s, s)) / float(temperature)


def argmax(x, axis=None):
    """The index where the maximum is reached (numpy's 0-based index: the book's "rang 3"
    of (3, 1, 8, 6, 0) is index 2)."""
    return np.argmax(_floats(x, "x"), axis=axis)


# ---- error functions (§2) -----------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """E = 1/N Σ (y_i - ỹ_i)² (§2.1 "Erreur quadratique moyenne"), over every entry."""
    y, y_hat = _pair(y_true, y_pred)
    return float(np.mean((y - y_hat) ** 2))


def mean_absolute_error(y_true, y_pred):
    """E = 1/N Σ |y_i - ỹ_i| (§2.2 "Erreur absolue moyenne")."""
    y, y_hat = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - y_hat)))


def mean_squared_logarithmic_error(y_true, y_pred):
    """E = 1/N Σ (ln(y_i + 1) - ln(ỹ_i + 1))² (§2.3 "Erreur logarithmique moyenne");
    values must be > -1."""
    y, y_hat = _pair(y_true, y_pred)
    for a, name in ((y, "y_true"), (y_hat, "y_pred")):
        if np.any(a <= -1):
            raise ValueError(f"{name} must be > -1 for ln(y + 1), got minimum {a.min()}")
    return float(np.mean((np.log1p(y) - np.log1p(y_hat)) ** 2))


def _probabilities(y_true, y_pred, epsilon):
    y, p = _pair(y_true, y_pred)
    _within(y, "y_true", 0, 1, "in [0, 1]")
    _within(p, "y_pred", 0, 1, "probabilities in [0, 1]")
    if not (_number(epsilon) and 0 <= epsilon < 0.5):
        raise ValueError(f"epsilon must be in [0, 0.5), got {epsilon!r}")
    return y, np.clip(p, epsilon, 1 - epsilon)


def binary_crossentropy(y_true, y_pred, epsilon=0.0):
    """E = -1/N Σ (y_i ln ỹ_i + (1 - y_i) ln(1 - ỹ_i)) (§2.4 "Entropie croisée binaire"),
    with 0·ln 0 = 0 so that ỹ_i = 1.0 for y_i = 1 counts 0, as in the book's example. A wrong
    certainty (ỹ = 0 for y = 1) gives inf; `epsilon` > 0 clips ỹ to [ε, 1 - ε] as Keras does
    (ε = 1e-7)."""
    y, p = _probabilities(y_true, y_pred, epsilon)
    return float(-np.mean(xlogy(y, p) + xlogy(1 - y, 1 - p)))


def categorical_crossentropy(y_true, y_pred, epsilon=0.0):
    """E = -1/N Σ_i Σ_j y_ij ln p_ij (§2.5 "Entropie croisée pour catégories"): rows
    y_i = (0, …, 1, …, 0) against rows of probabilities ỹ_i = (p_1, p_2, …), N the number of
    rows (a single vector is one row)."""
    y, p = _probabilities(y_true, y_pred, epsilon)
    rows = 1 if y.ndim < 2 else int(np.prod(y.shape[:-1]))
    return float(-np.sum(xlogy(y, p)) / rows)


# ---- normalisation (§3) -------------------------------------------------------------------------
def normalize_pixels(image):
    """n_ij / 255: grey levels 0…255 to reals in [0, 1] (§3.1)."""
    a = _floats(image, "image")
    _within(a, "image", 0, 255, "grey levels in [0, 255]")
    return a / 255


def min_max_scale(y, a=0.0, b=1.0, axis=None):
    """y ↦ (y - y_min) / (y_max - y_min) · (b - a) + a: the data into [a, b], y_min to a and
    y_max to b (§3.1), min and max taken along `axis` (None: over all the data; 0: per column).

    Erratum: the book (line 8186) prints "(a - b) + b", which sends y_min to b and y_max to a;
    the formula above is the one that maps onto [a, b] in order."""
    v = _floats(y, "y")
    if not (_number(a) and _number(b) and a < b):
        raise ValueError(f"the interval [a, b] needs numbers a < b, got a={a!r}, b={b!r}")
    low, high = np.min(v, axis=axis, keepdims=True), np.max(v, axis=axis, keepdims=True)
    if np.any(high == low):
        raise ValueError("y is constant (y_max = y_min): min-max scaling would divide by 0")
    return (v - low) / (high - low) * (b - a) + a


def mean(x, axis=None):
    """The expectation μ = 1/n Σ x_i (§3.3 "Espérance, écart-type")."""
    return np.mean(_floats(x, "x"), axis=axis)


def variance(x, axis=None):
    """Var(x) = 1/n Σ (x_i - μ)² (§3.3): the population variance (numpy's ddof=0)."""
    return np.var(_floats(x, "x"), axis=axis)


def standard_deviation(x, axis=None):
    """σ = √Var(x) (§3.3), with the book's 1/n."""
    return np.sqrt(variance(x, axis))


def z_score(x, axis=None):
    """x'_i = (x_i - μ) / σ with the book's σ (1/n) (§3.4 "Loi normale centrée et réduite"):
    mean 0, standard deviation 1 along `axis`."""
    v = _floats(x, "x")
    mu, sigma = np.mean(v, axis, keepdims=True), np.std(v, axis, keepdims=True)
    if np.any(sigma == 0):
        raise ValueError("x is constant (σ = 0): it cannot be reduced to σ = 1")
    return (v - mu) / sigma


def normal_pdf(x, mu=0.0, sigma=1.0):
    """The density of the normal law N(μ, σ): f(x) = 1/(σ√(2π)) e^(-½((x - μ)/σ)²) (§3.2)."""
    z = (_floats(x, "x") - float(mu)) / _positive(sigma, "sigma")
    return np.exp(-0.5 * z * z) / (sigma * np.sqrt(2 * np.pi))


# ---- Bernoulli and dropout (§4) -----------------------------------------------------------------
def _generator(rng):
    if rng is None or isinstance(rng, (int, np.integer, np.random.Generator)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a seed (int), a numpy Generator or None, got {rng!r}")


def bernoulli(p, size=None, rng=None):
    """Draws of the Bernoulli law of parameter p: 1 with probability p, 0 with probability
    1 - p (§4.2 "Loi de Bernoulli"), as float64. `rng`: a seed or a numpy Generator."""
    if not (_number(p) and 0 <= p <= 1):
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return (_generator(rng).random(size) < p).astype(np.float64)


def dropout_keep(x, p, rng=None, training=True):
    """Dropout with the book's convention (§4.3): each unit is KEPT with probability p
    (0 < p ≤ 1) and then scaled by 1/p, or set to 0 with probability 1 - p. At test time
    (`training=False`) x is returned unchanged. `rng`: a seed or a numpy Generator."""
    v = _floats(x, "x")
    if not (_number(p) and 0 < p <= 1):
        raise ValueError(f"p (the keep probability) must be in (0, 1], got {p!r}")
    if not training:
        return v
    return v * bernoulli(p, v.shape, rng) / p


def dropout_rate(x, rate, rng=None, training=True):
    """Dropout with Keras' convention (`Dropout(rate)`): each unit is DROPPED with probability
    `rate` (0 ≤ rate < 1) and the kept ones scaled by 1/(1 - rate); the same as
    dropout_keep(x, 1 - rate) (same draws for the same seed)."""
    if not (_number(rate) and 0 <= rate < 1):
        raise ValueError(f"rate (the drop probability) must be in [0, 1), got {rate!r}")
    return dropout_keep(x, 1 - rate, rng, training)


# ---- short and French names ---------------------------------------------------------------------
mse = erreur_quadratique_moyenne = mean_squared_error
mae = erreur_absolue_moyenne = mean_absolute_error
msle = erreur_logarithmique_moyenne = mean_squared_logarithmic_error
entropie_croisee_binaire = binary_crossentropy
entropie_croisee_categories = categorical_crossentropy
esperance = mean
ecart_type = standard_deviation
centrer_reduire = z_score
loi_normale = normal_pdf
loi_bernoulli = bernoulli
