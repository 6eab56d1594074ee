"""The data the book makes itself, as deterministic (seeded) generators.

Every function returns numpy arrays: inputs are float32 (ready for a network), integer data
(heights, digit labels, images) stays integer. Line numbers refer to the book's text
(``shared/book/deepmath-book.txt``). Functions whose data the book prints exactly (XOR, the red
and blue points) take no seed; the others take ``seed`` (an int or a ``numpy.random.Generator``)
with a fixed default, so the same call always gives the same data.
"""
from itertools import combinations
from numbers import Integral

import numpy as np

__all__ = [
    "one_variable_function", "one_variable_data", "two_variable_function", "two_variable_data",
    "xor_data", "red_blue_points", "step_data", "lemniscate_ellipse_function",
    "lemniscate_ellipse_grid", "three_black_squares", "three_black_squares_split",
    "noisy_circle", "synthetic_digits", "load_data", "synthetic_digits_data", "save_preview",
    "donnees_une_variable", "donnees_deux_variables", "ou_exclusif", "ronds_bleus_carres_rouges",
    "fonction_marche", "lemniscate_ellipse", "trois_cases_noires", "cercle_bruite",
    "chiffres_synthetiques",
]

DEFAULT_SEED = 0


# ---------------------------------------------------------------- argument checks

def _count(name, value, minimum=1):
    """`value` as an int, or a clear error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _nonnegative(name, value):
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _interval(name, lo, hi):
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be an interval (a, b) with a < b, got ({lo}, {hi})")
    return float(lo), float(hi)


def _rng(seed):
    """A Generator from an int seed or a Generator (used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(_count("seed", seed, minimum=0))


def _column(values):
    return np.asarray(values, dtype=np.float32).reshape(-1, 1)


def _plane_points(n, box, random_points, rng):
    """Flat x and y of the n × n grid `np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin,
    ymax, n))` of box = (xmin, xmax, ymin, ymax), or of `random_points` uniform points in it."""
    if len(box) != 4:
        raise ValueError(f"box must be (xmin, xmax, ymin, ymax), got {box!r}")
    xmin, xmax = _interval("box (xmin, xmax)", *box[:2])
    ymin, ymax = _interval("box (ymin, ymax)", *box[2:])
    if random_points is None:
        n = _count("n", n)
        x, y = np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin, ymax, n))
        return x.ravel(), y.ravel()
    m = _count("random_points", random_points)
    return rng.uniform(xmin, xmax, m), rng.uniform(ymin, ymax, m)


# ---------------------------------------------------------------- regressions (keras partie 2)

def one_variable_function(x, shift=-2.0):
    """f(x) = cos(2x) + x sin(3x) + √x + shift: "Python : tensorflow avec keras - partie 1"
    §2.3 (line 3258, no shift) and "partie 2" §2.1 (lines 5691 and 5708, shift -2)."""
    x = np.asarray(x, dtype=np.float64)
    if np.any(x < 0):
        raise ValueError("x must be >= 0 (f contains √x)")
    return np.cos(2 * x) + x * np.sin(3 * x) + np.sqrt(x) + shift


def one_variable_data(n=100, interval=(0.0, 5.0), noise=0.0, random=False, seed=DEFAULT_SEED):
    """`(X_train, Y_train)`, both (n, 1) float32, for "Python : tensorflow avec keras - partie 2"
    §2 (lines 5691-5716): N = 100 abscissas `np.linspace(0, 5, N)` and Y = f(X) with
    f = `one_variable_function`. Options beyond the book: `random=True` draws uniform abscissas
    (sorted) and `noise` adds Gaussian noise of that standard deviation to Y."""
    n = _count("n", n)
    a, b = _interval("interval", *interval)
    noise = _nonnegative("noise", noise)
    rng = _rng(seed)
    x = np.sort(rng.uniform(a, b, n)) if random else np.linspace(a, b, n)
    y = one_variable_function(x) + (rng.normal(0.0, noise, n) if noise else 0.0)
    return _column(x), _column(y)


def two_variable_function(x, y):
    """f(x, y) = x cos(y): "Python : tensorflow avec keras - partie 2" §4.1 (lines 6016-6045)."""
    return np.asarray(x) * np.cos(y)


def two_variable_data(n=25, box=(-4.0, 4.0, -4.0, 4.0), random_points=None, noise=0.0,
                      seed=DEFAULT_SEED):
    """`(entree, sortie)` for "Python : tensorflow avec keras - partie 2" §4.2 (lines 6040-6056):
    the n × n grid `np.meshgrid(np.linspace(-4, 4, 25), ...)` of [-4, 4]², flattened as the book
    does, so `entree` is (n², 2) float32 (columns x, y) and `sortie` = x cos(y) is (n², 1).
    `random_points=N` draws N uniform points of the box instead of the grid; `noise` adds
    Gaussian noise to `sortie`."""
    noise = _nonnegative("noise", noise)
    rng = _rng(seed)
    x, y = _plane_points(n, box, random_points, rng)
    z = two_variable_function(x, y)
    if noise:
        z = z + rng.normal(0.0, noise, z.shape)
    return np.column_stack([x, y]).astype(np.float32), _column(z)


# ---------------------------------------------------------------- Rétropropagation

def xor_data():
    """`(X, z)`: the "ou exclusif" of chapter "Rétropropagation" §2.1 (lines 5105-5113), in the
    book's order (0,0), (1,1), (0,1), (1,0) with targets 0, 0, 1, 1; float32, X (4, 2), z (4,)."""
    x = np.array([[0, 0], [1, 1], [0, 1], [1, 0]], dtype=np.float32)
    return x, np.array([0, 0, 1, 1], dtype=np.float32)


_BLUE_ROUNDS = [(0, 3), (1, 1.5), (1, 4), (1.5, 2.5), (2, 2.5), (3, 3.5), (3.5, 3.25), (4, 3),
                (4, 4), (5, 4)]
_RED_SQUARES = [(1, 1), (2, 0.5), (2, 2), (3, 1.5), (3, 2.75), (4, 1), (4, 2.5), (4.5, 3),
                (5, 1), (5, 2.25)]


def red_blue_points():
    """`(X, z)`: the 10 blue rounds (z = 0) then the 10 red squares (z = 1) of chapter
    "Rétropropagation" §1.1 (lines 4971-4978); X (20, 2) and z (20,), float32."""
    x = np.array(_BLUE_ROUNDS + _RED_SQUARES, dtype=np.float32)
    return x, np.repeat(np.array([0, 1], dtype=np.float32), [len(_BLUE_ROUNDS), len(_RED_SQUARES)])


def step_data(n_per_part=10):
    """`(X, z)` of "Rétropropagation" §2.3 "Une fonction marche" (line 5222): n blue rounds
    evenly spaced on [0, 2] and on [6, 8] (z = 0), n red squares on [3, 5] (z = 1); the book
    takes n = 10 (N = 30). X (3n, 1) and z (3n,), float32, sorted by abscissa."""
    n = _count("n_per_part", n_per_part)
    x = np.concatenate([np.linspace(a, a + 2, n) for a in (0, 3, 6)])
    z = np.repeat(np.array([0, 1, 0], dtype=np.float32), n)
    return _column(x), z


def lemniscate_ellipse_function(x, y):
    """f(x, y) = ((x²+y²)² − 4(x²−y²)) · ((x−½)² + 4(y−⅓)² − 2): the product of the lemniscate
    of Bernoulli and the ellipse of "Rétropropagation" §2.4 (lines 5260-5269); red where f ≤ 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    lemniscate = (x**2 + y**2) ** 2 - 4 * (x**2 - y**2)
    return lemniscate * ((x - 0.5) ** 2 + 4 * (y - 1 / 3) ** 2 - 2)


def lemniscate_ellipse_grid(n=200, box=(-2.0, 2.0, -0.75, 1.1), random_points=None,
                            seed=DEFAULT_SEED):
    """`(X, z)` for "Rétropropagation" §2.4 (lines 5256-5275): an n × n grid of the rectangle
    (n = 200 gives the book's 40 000 points), z = 1 (red) where f(x, y) ≤ 0, 0 (blue) elsewhere.
    The book does not print its rectangle, only that red and blue cover about equal areas; the
    default box [-2, 2] × [-0.75, 1.1] is the two curves' bounding box, 46 % red.
    `random_points=N` draws N uniform points instead. X (N, 2) and z (N,), float32."""
    x, y = _plane_points(n, box, random_points, _rng(seed))
    z = (lemniscate_ellipse_function(x, y) <= 0).astype(np.float32)
    return np.column_stack([x, y]).astype(np.float32), z


def three_black_squares(n=20):
    """`(X, h)`: every configuration of 3 black cells among n, "Rétropropagation" §2.5
    (lines 5290-5306): X (n(n−1)(n−2)/6, n) float32 of 0 (white) and 1 (black), in
    lexicographic order of the black cells i < j < k, and the height h = k − i + 1 (int64).
    For the book's n = 20 there are N = 1140 configurations."""
    n = _count("n", n, minimum=3)
    cells = np.array(list(combinations(range(n), 3)), dtype=np.int64)
    x = np.zeros((len(cells), n), dtype=np.float32)
    np.put_along_axis(x, cells, 1.0, axis=1)
    return x, cells[:, 2] - cells[:, 0] + 1


def three_black_squares_split(n=20, seed=DEFAULT_SEED):
    """`(X_train, h_train), (X_test, h_test)`: the book's protocol (line 5304): shuffle the N
    configurations of `three_black_squares`, half for training, half for testing
    (570 + 570 for n = 20)."""
    x, h = three_black_squares(n)
    order = _rng(seed).permutation(len(x))
    train, test = np.array_split(order, 2)
    return (x[train], h[train]), (x[test], h[test])


# ---------------------------------------------------------------- Descente de gradient

def noisy_circle(n=100, center=(1.0, 2.0), radius=3.0, noise=0.3, seed=DEFAULT_SEED):
    """(n, 2) float32 points "tirés au hasard autour du cercle" of chapter "Descente de gradient"
    §3 (line 4850: N = 100, centre (1, 2), radius 3): uniform angles, the radius perturbed by
    Gaussian noise of standard deviation `noise` (the book does not print it). `noise=0` puts the
    points exactly on the circle, as the 6 points of line 4844 (centre (3, 2), radius 1)."""
    n = _count("n", n)
    radius = _nonnegative("radius", radius)
    noise = _nonnegative("noise", noise)
    rng = _rng(seed)
    angles = rng.uniform(0.0, 2 * np.pi, n)
    r = radius + rng.normal(0.0, noise, n) if noise else np.full(n, radius)
    points = np.asarray(center, dtype=np.float64) + r[:, None] * np.stack(
        [np.cos(angles), np.sin(angles)], axis=1)
    return points.astype(np.float32)


# ---------------------------------------------------------------- synthetic digits
# Each digit is drawn by a few strokes in a unit box (x to the right, y downwards, 0 at the
# top); a stroke is a polyline, arcs are sampled ellipse arcs. Some digits have two styles
# (1 with or without flag, 4 open or closed, 7 with or without bar, 9 straight or curved).

def _arc(cx, cy, rx, ry, start, stop):
    """Polyline of the ellipse arc from angle `start` to `stop` (degrees, counterclockwise as
    seen on the page), about one vertex per 36° (a 10-gon is round at 28 × 28 pixels)."""
    k = max(3, int(np.ceil(abs(stop - start) / 36)))
    t = np.radians(np.linspace(start, stop, k + 1))
    return [(cx + rx * np.cos(a), cy - ry * np.sin(a)) for a in t]


_STROKES = {
    0: [[_arc(0.5, 0.5, 0.32, 0.5, 90, 450)]],
    1: [[[(0.5, 0.0), (0.5, 1.0)]],
        [[(0.25, 0.22), (0.5, 0.0), (0.5, 1.0)], [(0.3, 1.0), (0.7, 1.0)]]],
    2: [[_arc(0.5, 0.3, 0.32, 0.3, 160, -35) + [(0.15, 1.0), (0.85, 1.0)]]],
    3: [[_arc(0.5, 0.25, 0.28, 0.25, 150, -90) + _arc(0.5, 0.74, 0.32, 0.26, 90, -150)[1:]]],
    4: [[[(0.65, 0.0), (0.1, 0.68), (0.9, 0.68)], [(0.65, 0.0), (0.65, 1.0)]],
        [[(0.2, 0.0), (0.15, 0.6), (0.85, 0.6)], [(0.7, 0.15), (0.7, 1.0)]]],
    5: [[[(0.82, 0.0), (0.3, 0.0), (0.26, 0.45)] + _arc(0.5, 0.69, 0.3, 0.31, 135, -150)]],
    6: [[[(0.75, 0.0), (0.45, 0.18), (0.27, 0.45)] + _arc(0.5, 0.72, 0.28, 0.28, 170, -190)]],
    7: [[[(0.12, 0.0), (0.88, 0.0), (0.4, 1.0)]],
        [[(0.12, 0.0), (0.88, 0.0), (0.4, 1.0)], [(0.38, 0.52), (0.8, 0.52)]]],
    8: [[_arc(0.5, 0.24, 0.24, 0.24, -90, 270), _arc(0.5, 0.74, 0.29, 0.26, 90, 450)]],
    9: [[_arc(0.5, 0.28, 0.3, 0.28, 0, 360), [(0.8, 0.28), (0.76, 1.0)]],
        [_arc(0.5, 0.28, 0.3, 0.28, 0, 360), [(0.8, 0.3), (0.72, 0.7), (0.45, 1.0)]]],
}


def _shape_tables():
    """Every style as padded arrays: vertices (styles, V, 2), segments as vertex index pairs
    (styles, S, 2), and each digit's first style and number of styles. Padding repeats a real
    vertex / segment, which changes neither the bounding box nor the distance field."""
    verts, segs = [], []
    for strokes in (style for digit in range(10) for style in _STROKES[digit]):
        v = np.concatenate([np.asarray(s, dtype=np.float64) for s in strokes])
        starts = np.cumsum([0] + [len(s) for s in strokes])
        segs.append(np.array([(i, i + 1) for a, b in zip(starts[:-1], starts[1:])
                              for i in range(a, b - 1)]))
        verts.append(v)
    n_v, n_s = max(map(len, verts)), max(map(len, segs))
    vertices = np.stack([np.concatenate([v, np.repeat(v[:1], n_v - len(v), 0)]) for v in verts])
    segments = np.stack([np.concatenate([s, np.repeat(s[:1], n_s - len(s), 0)]) for s in segs])
    counts = np.array([len(_STROKES[d]) for d in range(10)])
    return vertices, segments, np.cumsum(counts) - counts, counts


_VERTICES, _SEGMENTS, _FIRST_STYLE, _STYLE_COUNT = _shape_tables()
_SIDE = 28
_BOX = 20.0                      # MNIST: digits fit a 20 × 20 box centred in 28 × 28
_PIXELS = np.stack(np.meshgrid(np.arange(_SIDE), np.arange(_SIDE)), -1).reshape(-1, 2)
_GRID = np.column_stack([_PIXELS, np.ones(len(_PIXELS))]).astype(np.float32).T   # (3, 784)
_PIXEL_NORM2 = np.sum(_PIXELS**2, -1).astype(np.float32)
_CHUNK = 128                     # images rendered together (keeps temporaries in cache)


def _distorted_vertices(labels, rng):
    """Stroke vertices of each image in pixel coordinates: the digit's style, a smooth wobble
    (handwriting), a random affine map (rotation ±15°, scale, shear), then scaled into the
    20 × 20 box and centred with a small random translation. Returns the vertices (n, V, 2),
    the segments as vertex index pairs (n, S, 2) and the stroke half-widths (n,)."""
    n = len(labels)
    style = _FIRST_STYLE[labels] + (rng.random(n) * _STYLE_COUNT[labels]).astype(int)
    v = _VERTICES[style] - 0.5
    freq, phase = rng.uniform(0.5, 1.5, (n, 1, 2)), rng.uniform(0, 2 * np.pi, (n, 1, 2))
    v = v + rng.uniform(0.02, 0.06, (n, 1, 2)) * np.sin(2 * np.pi * freq * v[..., ::-1] + phase)
    angle = np.radians(rng.uniform(-15, 15, n))
    shear = rng.uniform(-0.3, 0.3, n)
    sx, sy = rng.uniform(0.75, 1.25, n), rng.uniform(0.85, 1.15, n)
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.stack([np.stack([cos * sx, (cos * shear - sin) * sy], -1),
                       np.stack([sin * sx, (sin * shear + cos) * sy], -1)], 1)
    v = np.einsum("nij,nvj->nvi", matrix, v)
    half_width = rng.uniform(0.7, 1.6, n)
    lo, hi = v.min(axis=1), v.max(axis=1)
    size = (_BOX - 2 * half_width) * rng.uniform(0.85, 1.0, n)
    scale = size / np.max(hi - lo, axis=1)
    centre = (_SIDE - 1) / 2 + rng.uniform(-1.5, 1.5, (n, 2))
    v = (v - (lo + hi)[:, None] / 2) * scale[:, None, None] + centre[:, None]
    return v, _SEGMENTS[style], half_width


def _distance_to_strokes(starts, vectors):
    """(m, 784) distance from every pixel centre to the nearest of each image's segments
    (starts a and directions d, both (m, S, 2)). Dot products with the pixel grid are GEMMs:
    u = (p − a)·d and |p − a|² are linear in (px, py, 1); t = clip(u / |d|², 0, 1) and the
    squared distance is |p − a|² − t (2u − t |d|²)."""
    m, s = starts.shape[:2]
    length2 = np.maximum(np.sum(vectors**2, -1), 1e-12)
    u_coef = np.concatenate([vectors, -np.sum(starts * vectors, -1, keepdims=True)], -1)
    w_coef = np.concatenate([-2 * starts, np.sum(starts**2, -1, keepdims=True)], -1)
    u = (u_coef.reshape(-1, 3).astype(np.float32) @ _GRID).reshape(m, s, -1)
    w2 = (w_coef.reshape(-1, 3).astype(np.float32) @ _GRID).reshape(m, s, -1)
    w2 += _PIXEL_NORM2
    length2 = length2.astype(np.float32)[..., None]
    u /= length2                                  # u becomes the unclamped t
    t = np.clip(u, 0, 1)
    u *= 2
    u -= t
    u *= t
    u *= length2                                  # u becomes t (2u − t |d|²)
    w2 -= u
    return np.sqrt(np.maximum(w2.min(axis=1), 0))


def _render(vertices, segments, half_width):
    """Anti-aliased ink in [0, 1], (n, 784): 1 within the half-width of a stroke, falling
    linearly to 0 over one pixel."""
    ink = np.empty((len(vertices), _SIDE * _SIDE), dtype=np.float32)
    for i in range(0, len(vertices), _CHUNK):
        v = vertices[i:i + _CHUNK]
        segs = segments[i:i + _CHUNK]
        a = np.take_along_axis(v, segs[..., 0, None], axis=1)
        b = np.take_along_axis(v, segs[..., 1, None], axis=1)
        d = _distance_to_strokes(a, b - a)
        ink[i:i + _CHUNK] = np.clip(half_width[i:i + _CHUNK, None] + 0.5 - d, 0, 1)
    return ink


def synthetic_digits(n, seed=DEFAULT_SEED, noise=0.05):
    """`(x, y)`: n MNIST-like handwritten digits, x uint8 (n, 28, 28) in 0..255 (ink white on
    black, as the MNIST files of "Python : tensorflow avec keras - partie 2" §1), y uint8 (n,).
    Classes are balanced (each digit n // 10 or n // 10 + 1 times, shuffled). Each digit is a
    few anti-aliased pen strokes, randomly wobbled, rotated (±15°), scaled, sheared, thickened
    and moved, fitted into a 20 × 20 box centred in the image; `noise` is the standard deviation
    of Gaussian pixel noise as a fraction of 255. For tests and offline runs: not MNIST."""
    n = _count("n", n, minimum=0)
    noise = _nonnegative("noise", noise)
    rng = _rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    vertices, segments, half_width = _distorted_vertices(labels, rng)
    ink = _render(vertices, segments, half_width)
    ink *= rng.uniform(0.8, 1.0, (n, 1)).astype(np.float32)
    if noise:
        ink += rng.normal(0.0, noise, ink.shape).astype(np.float32)
    images = np.rint(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    return images.reshape(n, _SIDE, _SIDE), labels.astype(np.uint8)


def load_data(n_train=60000, n_test=10000, seed=DEFAULT_SEED, noise=0.05):
    """`(x_train, y_train), (x_test, y_test)` of synthetic digits, shaped like
    `keras.datasets.mnist.load_data()` (defaults 60 000 + 10 000). Train and test images come
    from independent streams of the same (int) seed, so changing `n_train` leaves the test set
    as is. Also `synthetic_digits_data`, used by `python -m deepmath --dataset synthetic`."""
    n_train, n_test = _count("n_train", n_train, 0), _count("n_test", n_test, 0)
    train_rng, test_rng = (np.random.default_rng(s) for s in
                           np.random.SeedSequence(_count("seed", seed, 0)).spawn(2))
    return (synthetic_digits(n_train, train_rng, noise), synthetic_digits(n_test, test_rng, noise))


def save_preview(file, images, columns=10):
    """Write uint8 images (n, h, w) as one PNG grid, `columns` wide (Pillow needed, imported
    only here). Returns `file`."""
    from PIL import Image
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (n, h, w), got {images.dtype} "
                         f"{images.shape}")
    columns = _count("columns", columns)
    n, h, w = images.shape
    rows = -(-n // columns)
    sheet = np.zeros((rows * h, columns * w), dtype=np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    Image.fromarray(sheet).save(file)
    return file


# The entry point of `python -m deepmath --dataset synthetic`.
synthetic_digits_data = load_data

# The book's French names.
donnees_une_variable = one_variable_data
donnees_deux_variables = two_variable_data
ou_exclusif = xor_data
ronds_bleus_carres_rouges = red_blue_points
fonction_marche = step_data
lemniscate_ellipse = lemniscate_ellipse_grid
trois_cases_noires = three_black_squares
cercle_bruite = noisy_circle
chiffres_synthetiques = synthetic_digits
