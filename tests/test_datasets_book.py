"""deepmath.datasets.book: the data the book generates, checked against the book's formulas and
printed values (line numbers of shared/book/deepmath-book.txt)."""
import re
from math import comb
from pathlib import Path

import numpy as np
import pytest

from deepmath.datasets import book

BOOK = Path(__file__).resolve().parents[2] / "shared" / "book" / "deepmath-book.txt"


# ------------------------------------------------------------------ regressions

def test_one_variable_data_is_the_books_program():
    # lines 5707-5714: f(x) = cos 2x + x sin 3x + x**0.5 - 2, X = np.linspace(0, 5, 100)
    x, y = book.one_variable_data()
    assert x.shape == y.shape == (100, 1) and x.dtype == y.dtype == np.float32
    ref_x = np.linspace(0, 5, 100)
    np.testing.assert_allclose(x[:, 0], ref_x, rtol=1e-6)
    ref_y = np.cos(2 * ref_x) + ref_x * np.sin(3 * ref_x) + ref_x**0.5 - 2
    np.testing.assert_allclose(y[:, 0], ref_y, rtol=1e-5, atol=1e-6)
    assert y[0, 0] == pytest.approx(-1.0)  # f(0) = cos 0 - 2


def test_one_variable_function_partie_1_and_options():
    x = np.linspace(2, 10, 7)  # line 3267: no shift on [2, 10]
    np.testing.assert_allclose(book.one_variable_function(x, shift=0),
                               np.cos(2 * x) + x * np.sin(3 * x) + np.sqrt(x))
    xr, yr = book.one_variable_data(50, random=True, noise=0.1, seed=3)
    assert np.all(np.diff(xr[:, 0]) >= 0) and 0 <= xr.min() and xr.max() <= 5
    residual = yr[:, 0] - book.one_variable_function(xr[:, 0])
    assert 0.05 < residual.std() < 0.15
    np.testing.assert_array_equal(yr, book.one_variable_data(50, random=True, noise=0.1,
                                                             seed=3)[1])
    with pytest.raises(ValueError, match="x must be >= 0"):
        book.one_variable_function(-1.0)


def test_two_variable_grid_matches_meshgrid_of_the_book():
    # lines 6043-6056: n = 25, [-4, 4]², entree = [X, Y] flattened, sortie = x cos y
    entree, sortie = book.two_variable_data()
    assert entree.shape == (625, 2) and sortie.shape == (625, 1)
    gx, gy = np.meshgrid(np.linspace(-4, 4, 25), np.linspace(-4, 4, 25))
    np.testing.assert_allclose(entree, np.column_stack([gx.ravel(), gy.ravel()]), rtol=1e-6)
    np.testing.assert_allclose(sortie[:, 0], gx.ravel() * np.cos(gy.ravel()), rtol=1e-5,
                               atol=1e-6)
    assert sortie.dtype == np.float32


def test_two_variable_random_points():
    e1, s1 = book.two_variable_data(random_points=300, seed=1)
    e2, _ = book.two_variable_data(random_points=300, seed=2)
    assert e1.shape == (300, 2) and np.abs(e1).max() <= 4
    np.testing.assert_allclose(s1[:, 0], e1[:, 0] * np.cos(e1[:, 1]), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(e1, book.two_variable_data(random_points=300, seed=1)[0])


# ------------------------------------------------------------------ Rétropropagation

def test_xor_table():
    # line 5105: F = 1 at (0, 1) and (1, 0), 0 at (0, 0) and (1, 1); order of line 5115
    x, z = book.xor_data()
    np.testing.assert_array_equal(x, [[0, 0], [1, 1], [0, 1], [1, 0]])
    np.testing.assert_array_equal(z, np.logical_xor(x[:, 0], x[:, 1]))
    assert x.dtype == z.dtype == np.float32
    assert book.ou_exclusif is book.xor_data


def test_red_blue_points():
    x, z = book.red_blue_points()
    assert x.shape == (20, 2) and z.shape == (20,)
    assert z.sum() == 10 and np.all(z[:10] == 0) and np.all(z[10:] == 1)
    points = {tuple(p): c for p, c in zip(x.tolist(), z.tolist())}
    # lines 5085-5091 name (0, 3) and (4, 3) as blue rounds, (1, 1) and (3, 2.75) as red squares
    assert points[(0, 3)] == 0 and points[(4, 3)] == 0
    assert points[(1, 1)] == 1 and points[(3, 2.75)] == 1


@pytest.mark.skipif(not BOOK.exists(), reason="book text not available")
def test_red_blue_points_as_printed_in_the_book():
    text = BOOK.read_text(encoding="utf-8").splitlines()
    blue_line, red_line = text[4973], text[4977]  # lines 4974 and 4978

    def coords(line):
        return [tuple(map(float, m)) for m in re.findall(r"\(([\d.]+), ([\d.]+)\)", line)]
    x, z = book.red_blue_points()
    assert coords(blue_line) == [tuple(p) for p in x[z == 0].tolist()]
    assert coords(red_line) == [tuple(p) for p in x[z == 1].tolist()]


def test_step_data():
    # line 5222: 10 blue on [0, 2], 10 on [6, 8], 10 red on [3, 5]: N = 30
    x, z = book.step_data()
    assert x.shape == (30, 1) and z.shape == (30,)
    red = x[z == 1, 0]
    np.testing.assert_allclose(red, np.linspace(3, 5, 10), rtol=1e-6)
    np.testing.assert_allclose(x[z == 0, 0], np.r_[np.linspace(0, 2, 10),
                                                    np.linspace(6, 8, 10)], rtol=1e-6)


def test_lemniscate_ellipse_grid():
    # lines 5260-5275: n = 200 → 40 000 points, red (z = 1) where f ≤ 0, about half red
    x, z = book.lemniscate_ellipse_grid()
    assert x.shape == (40000, 2) and z.shape == (40000,) and x.dtype == np.float32
    assert 0.4 < z.mean() < 0.6
    px, py = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    f = ((px**2 + py**2) ** 2 - 4 * (px**2 - py**2)) * ((px - .5) ** 2 + 4 * (py - 1 / 3) ** 2 - 2)
    np.testing.assert_array_equal(z, f <= 0)
    # (1, 0): inside both curves → blue; (1.8, 0): inside the lemniscate only → red
    value = book.lemniscate_ellipse_function([1.0, 1.8], [0.0, 0.0])
    assert value[0] > 0 and value[1] < 0
    xr, zr = book.lemniscate_ellipse_grid(random_points=500, seed=4)
    assert xr.shape == (500, 2)
    np.testing.assert_array_equal(zr, book.lemniscate_ellipse_function(xr[:, 0], xr[:, 1]) <= 0)


def test_three_black_squares_all_configurations():
    # lines 5300-5306: n = 20 cells, N = n(n-1)(n-2)/6 = 1140, height h = k - i + 1
    x, h = book.three_black_squares()
    assert x.shape == (1140, 20) and x.dtype == np.float32 and comb(20, 3) == 1140
    assert np.all(x.sum(axis=1) == 3)
    assert len({row.tobytes() for row in x}) == 1140
    black = np.nonzero(x)[1].reshape(-1, 3)
    np.testing.assert_array_equal(h, black[:, 2] - black[:, 0] + 1)
    # a height h occurs (h - 2) × (n - h + 1) times: middle cell × position
    counts = np.bincount(h, minlength=21)
    np.testing.assert_array_equal(counts[3:], [(k - 2) * (21 - k) for k in range(3, 21)])
    x8, h8 = book.three_black_squares(8)  # the book's drawing: n = 8
    assert len(x8) == 56 and h8.max() == 8


def test_three_black_squares_split():
    (xa, ha), (xb, hb) = book.three_black_squares_split()
    assert len(xa) == len(xb) == 570  # line 5318: 570 training and 570 test data
    rows = {r.tobytes() for r in xa} | {r.tobytes() for r in xb}
    assert len(rows) == 1140
    np.testing.assert_array_equal(xa, book.three_black_squares_split(seed=0)[0][0])
    assert not np.array_equal(xa, book.three_black_squares_split(seed=1)[0][0])


# ------------------------------------------------------------------ Descente de gradient

def test_noisy_circle_fits_the_books_circle():
    # line 4850: N = 100 points around the circle of centre (1, 2) and radius 3
    p = book.noisy_circle().astype(np.float64)
    assert p.shape == (100, 2)
    # algebraic least squares: x² + y² = 2ax + 2by + (c² - a² - b²)
    a_mat = np.column_stack([2 * p, np.ones(len(p))])
    (a, b, k), *_ = np.linalg.lstsq(a_mat, (p**2).sum(1), rcond=None)
    assert a == pytest.approx(1, abs=0.2) and b == pytest.approx(2, abs=0.2)
    assert np.sqrt(k + a**2 + b**2) == pytest.approx(3, abs=0.2)
    exact = book.noisy_circle(6, center=(3, 2), radius=1, noise=0)  # line 4844
    np.testing.assert_allclose(np.hypot(exact[:, 0] - 3, exact[:, 1] - 2), 1, rtol=1e-6)


# ------------------------------------------------------------------ synthetic digits

@pytest.fixture(scope="module")
def digits():
    return book.load_data(n_train=2000, n_test=1000, seed=0)


def test_synthetic_digits_format(digits):
    (x, y), (xt, yt) = digits
    assert x.shape == (2000, 28, 28) and xt.shape == (1000, 28, 28)
    assert x.dtype == y.dtype == np.uint8
    assert x.min() == 0 and x.max() == 255
    np.testing.assert_array_equal(np.bincount(y, minlength=10), 200)
    np.testing.assert_array_equal(np.bincount(yt, minlength=10), 100)
    # MNIST-like: ink centred, a blank border around the 20 × 20 box
    ink = x.astype(np.float64).mean(0)
    rows, cols = np.indices((28, 28))
    assert (ink * rows).sum() / ink.sum() == pytest.approx(13.5, abs=1)
    assert (ink * cols).sum() / ink.sum() == pytest.approx(13.5, abs=1)
    assert ink[0].mean() < 20 and ink[13, 11:17].mean() > 40


def test_synthetic_digits_determinism():
    a, la = book.synthetic_digits(50, seed=7)
    b, lb = book.synthetic_digits(50, seed=7)
    c, _ = book.synthetic_digits(50, seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, c)
    # the test set does not depend on the size of the training set
    np.testing.assert_array_equal(book.load_data(10, 20)[1][0], book.load_data(30, 20)[1][0])
    assert book.synthetic_digits(0)[0].shape == (0, 28, 28)


def _softmax_regression(x, y, steps=100, rate=1.0):
    w, b = np.zeros((x.shape[1], 10), np.float32), np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]
    for _ in range(steps):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        w -= rate * x.T @ g
        b -= rate * g.sum(0)
    return w, b


def test_synthetic_digits_learnable_not_trivial(digits):
    (x, y), (xt, yt) = digits
    x, xt = (a.reshape(len(a), -1).astype(np.float32) / 255 for a in (x, xt))
    w, b = _softmax_regression(x, y)
    assert ((xt @ w + b).argmax(1) == yt).mean() >= 0.85
    centroids = np.stack([x[y == k].mean(0) for k in range(10)])
    nearest = ((xt[:, None] - centroids) ** 2).sum(-1).argmin(1)
    assert 0.5 < (nearest == yt).mean() < 0.95  # varied enough that templates do not suffice


def test_save_preview(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    x, _ = book.synthetic_digits(12, seed=1)
    path = book.save_preview(tmp_path / "digits.png", x, columns=5)
    sheet = np.asarray(image_module.open(path))
    assert sheet.shape == (3 * 28, 5 * 28)
    np.testing.assert_array_equal(sheet[28:56, 28:56], x[6])
    with pytest.raises(ValueError, match="images"):
        book.save_preview(tmp_path / "bad.png", x.astype(np.float32))


# ------------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("call, match", [
    (lambda: book.one_variable_data(-1), "n must be at least 1"),
    (lambda: book.one_variable_data(10, interval=(5, 0)), "interval"),
    (lambda: book.one_variable_data(10, noise=-0.1), "noise"),
    (lambda: book.two_variable_data(0), "n must be"),
    (lambda: book.two_variable_data(random_points=-5), "random_points"),
    (lambda: book.lemniscate_ellipse_grid(box=(1, 1, 0, 1)), "box"),
    (lambda: book.three_black_squares(2), "n must be at least 3"),
    (lambda: book.step_data(0), "n_per_part"),
    (lambda: book.noisy_circle(-3), "n must be"),
    (lambda: book.noisy_circle(10, radius=-1), "radius"),
    (lambda: book.synthetic_digits(-1), "n must be at least 0"),
    (lambda: book.synthetic_digits(5, seed=-1), "seed"),
    (lambda: book.load_data(n_train=-1), "n_train"),
])
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda: book.synthetic_digits(2.5),
    lambda: book.three_black_squares("20"),
    lambda: book.noisy_circle(True),
    lambda: book.synthetic_digits(5, seed=1.5),
])
def test_non_integer_counts_raise_type_error(call):
    with pytest.raises(TypeError, match="must be an integer"):
        call()
