"""deepmath.descent against the book's chapter "Descente de gradient" (line numbers refer to
book/deepmath-book.txt), closed forms, numpy references and hand-written recurrences."""
import math

import numpy as np
import pytest

import deepmath as dm
from deepmath import descent as D


def f_ab(p):
    return p[0] ** 2 + 3 * p[1] ** 2


def grad_ab(p):
    return np.array([2 * p[0], 6 * p[1]])


# ---- §1.2, lines 4300-4312: f(a, b) = a² + 3b² from (2, 1), δ = 0.2 --------------------------
BOOK_TABLE = {  # k: (a_k, b_k), grad f, f  (printed values, truncated by the book)
    0: ((2, 1), (4, 6), 7),
    1: ((1.2, -0.2), (2.4, -1.2), 1.56),
    2: ((0.72, 0.04), (1.44, 0.24), 0.523),
    3: ((0.432, -0.008), (0.864, -0.048), 0.186),
    4: ((0.2592, 0.0016), (0.5184, 0.0096), 0.067),
    5: ((0.15552, -0.00032), (0.31104, -0.00192), 0.024),
    10: ((0.012, 1.02e-7), (0.024, 6.14e-7), 0.00014),
    20: ((7.31e-5, 1.04e-14), (1.46e-4, 6.29e-14), 5.34e-9),
}


@pytest.mark.parametrize("grad", [grad_ab, None, "numerical"])
def test_book_table_two_variables(grad):
    r = D.gradient_descent(f_ab, [2, 1], step=0.2, n_iter=20, grad=grad)
    assert r.n_iter == 20 and r.points.shape == (21, 2) and r.gradients.shape == (21, 2)
    for k, (p, g, v) in BOOK_TABLE.items():
        # the book truncates (0.1868 printed 0.186, 1.46e-4 printed 1.4e-4): 5 % and 1e-3
        np.testing.assert_allclose(r.points[k], p, rtol=0.05, atol=1e-3 * (k < 10))
        np.testing.assert_allclose(r.gradients[k], g, rtol=0.05, atol=1e-3 * (k < 10))
        assert r.values[k] == pytest.approx(v, rel=0.05, abs=1e-3 * (k < 10))
    exact = np.array([[2 * 0.6 ** k, (-0.2) ** k] for k in range(21)])  # closed form
    np.testing.assert_allclose(r.points, exact, rtol=1e-6 if grad == "numerical" else 1e-12,
                               atol=1e-9 if grad == "numerical" else 0)


def test_book_other_start_and_one_variable():
    # lines 4318: from (-1, -1) with δ = 0.1: (-0.8, -0.4), (-0.64, -0.16)
    r = D.gradient_descent(f_ab, [-1, -1], step=0.1, n_iter=2, grad=grad_ab)
    np.testing.assert_allclose(r.points[1:], [[-0.8, -0.4], [-0.64, -0.16]])
    # lines 4349-4361: f(a) = a² + 1 from a_0 = 2, δ = 0.2 (autodiff on a 0-d point)
    r = D.gradient_descent(lambda a: a ** 2 + 1, 2.0, step=0.2, n_iter=10)
    assert r.values[2] == pytest.approx(1.5184) and r.gradients[4] == pytest.approx(0.5184)
    assert r.values[10] == pytest.approx(1.0001, abs=1e-4) and r.points[6] == pytest.approx(
        0.093, abs=5e-4)
    # line 4426: f(a) = a⁴ − 2a³ + 4 from −1, δ = 0.05 stalls near the saddle point 0
    r = D.gradient_descent(lambda a: a ** 4 - 2 * a ** 3 + 4, -1.0, step=0.05, n_iter=100)
    assert -0.2 < r.x < 0


def test_eps_stopping():
    r = D.gradient_descent(f_ab, [2, 1], step=0.2, n_iter=1000, grad=grad_ab, eps=1e-3)
    assert r.converged and np.linalg.norm(r.gradients[-1]) <= 1e-3
    assert np.linalg.norm(r.gradients[-2]) > 1e-3
    assert len(r.points) == len(r.values) == len(r.gradients) == r.n_iter + 1
    norms = [math.hypot(4 * 0.6 ** k, 6 * 0.2 ** k) for k in range(100)]  # exact ‖grad f(P_k)‖
    assert r.n_iter == next(k for k, n in enumerate(norms) if n <= 1e-3)
    short = D.gradient_descent(f_ab, [2, 1], step=0.2, n_iter=3, grad=grad_ab, eps=1e-3)
    assert not short.converged and short.n_iter == 3


# ---- §2.1: schedules -----------------------------------------------------------------------------
def test_schedules_values():
    k = np.arange(5)
    np.testing.assert_allclose([D.linear_decay(0.1)(i) for i in k], 0.1 / (k + 1))
    np.testing.assert_allclose([D.quadratic_decay(0.1)(i) for i in k], 0.1 / (k + 1) ** 2)
    np.testing.assert_allclose([D.exponential_decay(0.1, 0.5)(i) for i in k],
                               0.1 * np.exp(-0.5 * k))
    np.testing.assert_allclose([D.inverse_time_decay(0.1, 1e-2)(i) for i in k],
                               0.1 / (1e-2 * k + 1))
    assert D.inverse_time_decay(0.1, 0)(10**6) == 0.1


def test_scheduled_descent():
    r = D.gradient_descent(lambda a: a ** 2, 1.0, step=D.linear_decay(0.4), n_iter=3,
                           grad=lambda a: 2 * a)
    a = 1.0
    for k in range(3):
        a -= 0.4 / (k + 1) * 2 * a
        assert r.points[k + 1] == pytest.approx(a)
    from deepmath.schedules import InverseTimeDecay  # a Keras schedule object is a callable too
    keras = D.gradient_descent(lambda a: a ** 2, 1.0, InverseTimeDecay(0.1, 1, 0.5), 5,
                               lambda a: 2 * a)
    mine = D.gradient_descent(lambda a: a ** 2, 1.0, D.inverse_time_decay(0.1, 0.5), 5,
                              lambda a: 2 * a)
    np.testing.assert_allclose(keras.points, mine.points)


# ---- §2.2: y = ax + b --------------------------------------------------------------------------
def test_book_line_three_points():
    x, y = [0, 2, 6], [3, 4, 6]
    r = D.fit_line_descent(x, y)            # lines 4538-4550: (0, 1), δ = 0.02
    table = [((0, 1), (-72, -20), 38), ((1.44, 1.4), (49.60, 5.44), 18.96),
             ((0.448, 1.2912), (-31.50, -11.08), 10.28), ((1.078, 1.513), (22.44, 0.32), 6.24),
             ((0.629, 1.506), (-13.57, -6.89), 4.27), ((0.90, 1.644), (10.35, -1.72), 3.24)]
    for k, (p, g, v) in enumerate(table):  # the book prints a_2 = 0.448 as 0.44 (truncated)
        np.testing.assert_allclose(r.points[k], p, atol=1e-3)
        np.testing.assert_allclose(r.gradients[k], g, atol=1e-2)
        assert r.values[k] == pytest.approx(v, abs=1e-2)
    a, b = r.points[100]                     # line 4552: a_100 ≃ 0.501, b_100 ≃ 2.99
    assert round(a, 3) == 0.501 and round(b, 2) == 2.99
    np.testing.assert_allclose(D.fit_line(x, y), [0.5, 3], atol=1e-12)
    long = D.fit_line_descent(x, y, n_iter=2000)
    np.testing.assert_allclose(long.x, [0.5, 3], atol=1e-9)


def test_book_line_five_points():
    x, y = [4, 7, 8, 10, 12], [1, 3, 3, 6, 7]
    r = D.fit_line_descent(x, y, start=(0.75, -2), step=0.001, n_iter=10000)  # line 4562
    assert r.x == pytest.approx([0.78, -2.46], abs=1e-2)  # 0.788 truncated
    exact = D.fit_line(x, y)
    np.testing.assert_allclose(exact, np.polyfit(x, y, 1))
    np.testing.assert_allclose(r.x, exact, atol=1e-4)
    # line 4570 prints 2.22 for x = 6; erratum: the fitted line gives 2.266
    assert exact @ [6, 1] == pytest.approx(2.266, abs=1e-3)


# ---- §2.4: z = ax + by + c -----------------------------------------------------------------------
def test_book_planes():
    r = D.fit_plane_descent([0, 1, 0], [0, 0, 1], [3, 4, 5], n_iter=200)  # line 4625
    np.testing.assert_allclose(r.x, [1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(D.fit_plane([0, 1, 0], [0, 0, 1], [3, 4, 5]), [1, 2, 3])
    pts = np.array([(1, 0, 0), (0, 1, 5), (2, 1, 1), (1, 2, 0), (2, 2, 3)], dtype=float)
    r = D.fit_plane_descent(*pts.T, step=0.01, n_iter=3000)              # line 4635
    assert r.x == pytest.approx([-1.22, 0.77, 2.33], abs=1e-2)  # 0.7778 truncated
    assert r.values[-1] == pytest.approx(14.44, abs=5e-3)
    exact = D.fit_plane(*pts.T)
    np.testing.assert_allclose(exact, np.linalg.lstsq(np.c_[pts[:, :2], np.ones(5)], pts[:, 2],
                                                      rcond=None)[0])
    np.testing.assert_allclose(r.x, exact, atol=1e-6)
    assert exact.sum() == pytest.approx(17 / 9)  # line 4637: z(1, 1) ≃ 1.88 (1.888… truncated)


def test_polynomial_closed_form_and_descent():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 20)
    y = 1 - 2 * x + 0.5 * x ** 2 + rng.normal(0, 0.1, 20)
    exact = D.fit_polynomial(x, y, 2)
    np.testing.assert_allclose(exact, np.polyfit(x, y, 2), rtol=1e-10)
    r = D.fit_polynomial_descent(x, y, 2, step=0.02, n_iter=3000)
    np.testing.assert_allclose(r.x, exact, atol=1e-6)
    lots = D.fit_polynomial_descent(x, y, 2, step=0.005, n_iter=400, batch_size=5, seed=1)
    np.testing.assert_allclose(lots.x, exact, atol=0.05)


# ---- §3.1: stochastic descent, lines 4723-4740 -----------------------------------------------
PARABOLA = (np.array([2.0, 0, 4, 1]), np.array([0.0, 2, 6, 0]))


def parabola_error(p, x, y):
    """Σ E_i over the batch, E_i = (y_i − (x_i² + a x_i + b))²."""
    r = y - (x ** 2 + p[0] * x + p[1])
    return (r * r).sum()


def parabola_grad(p, x, y):
    r = y - (x ** 2 + p[0] * x + p[1])
    return np.array([-2 * (x * r).sum(), -2 * r.sum()])


def test_book_sgd_versus_classic():
    full = lambda p: parabola_error(p, *PARABOLA)  # noqa: E731
    classic = D.gradient_descent(full, [1, 1], 0.01, 200, lambda p: parabola_grad(p, *PARABOLA))
    for k, p, v in [(0, (1, 1), 284), (1, (-0.54, 0.52), 84.87), (2, (-1.366, 0.294), 28.68)]:
        np.testing.assert_allclose(classic.points[k], p, atol=1e-3)
        assert classic.values[k] == pytest.approx(v, abs=0.01)
    assert classic.x == pytest.approx([-2.9981, 1.9948], abs=1e-4)
    sgd = D.stochastic_gradient_descent(parabola_error, [1, 1], PARABOLA, step=0.01, epochs=200,
                                        grad=parabola_grad)
    assert sgd.n_iter == 800
    table = [(1, 1, 284), (0.72, 0.86, 236.43), (0.72, 0.88, 237.41), (-0.38, 0.60, 100.74),
             (-0.40, 0.58, 97.917), (-0.55, 0.50, 83.245), (-0.55, 0.53, 83.913),
             (-1.22, 0.37, 36.48), (-1.22, 0.36, 36.29)]
    for k, (a, b, v) in enumerate(table):   # the book truncates (−0.556 → −0.55, 0.6075 → 0.60)
        np.testing.assert_allclose(sgd.points[k], (a, b), atol=1e-2)
        assert sgd.values[k] == pytest.approx(v, abs=0.01)
    assert sgd.x == pytest.approx([-2.9984, 1.9954], abs=1e-4)
    auto = D.descente_stochastique(parabola_error, [1, 1], PARABOLA, step=0.01, epochs=2)
    np.testing.assert_allclose(auto.points, sgd.points[:9], rtol=1e-12)


def test_mini_batch_seed_and_limits():
    run = lambda **kw: D.mini_batch_descent(parabola_error, [1, 1], PARABOLA, step=0.01,  # noqa
                                            grad=parabola_grad, **kw)
    a, b = run(batch_size=2, epochs=5, seed=3), run(batch_size=2, epochs=5, seed=3)
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(a.points, run(batch_size=2, epochs=5, seed=4).points)
    assert a.n_iter == 10 and run(batch_size=3, epochs=2).n_iter == 4  # lots of 3 and 1
    # the samples are mixed anew before each epoch by default_rng(seed), then cut in lots
    rng, p = np.random.default_rng(3), np.array([1.0, 1])
    for order in (rng.permutation(4) for _ in range(5)):
        for lot in (order[:2], order[2:]):
            p = p - 0.01 * parabola_grad(p, PARABOLA[0][lot], PARABOLA[1][lot])
    np.testing.assert_allclose(a.x, p, rtol=1e-12)
    # K = N is the classic descent, whatever the shuffling
    classic = D.gradient_descent(lambda p: parabola_error(p, *PARABOLA), [1, 1], 0.01, 5,
                                 lambda p: parabola_grad(p, *PARABOLA))
    np.testing.assert_allclose(run(batch_size=4, epochs=5, seed=0).points, classic.points,
                               rtol=1e-12)


# ---- §3.3: circles ------------------------------------------------------------------------------
def test_book_circle():
    t = np.arange(6) * np.pi / 3      # 6 points on the circle of centre (3, 2), radius 1
    x, y = 3 + np.cos(t), 2 + np.sin(t)
    np.testing.assert_allclose(D.fit_circle(x, y), [3, 2, 1], atol=1e-12)
    for k in (1, 2, 3, 6):             # line 4844: δ = 0.01 from (1, 1, 2)
        r = D.fit_circle_descent(x, y, batch_size=k, seed=0, epochs=200)
        np.testing.assert_allclose(np.abs(r.x), [3, 2, 1], atol=1e-6)  # E depends on c²
        assert r.values[-1] < 1e-10 and r.values[-1] < r.values[0]
    rng = np.random.default_rng(1)    # line 4850: 100 noisy points around (1, 2), radius 3
    th = rng.uniform(0, 2 * np.pi, 100)
    x, y = 1 + 3 * np.cos(th) + rng.normal(0, .3, 100), 2 + 3 * np.sin(th) + rng.normal(0, .3, 100)
    exact = D.fit_circle(x, y)
    c2 = np.mean((x - exact[0]) ** 2 + (y - exact[1]) ** 2)
    assert exact[2] ** 2 == pytest.approx(c2)
    grad = D.numerical_gradient(D._circle_error, exact, x, y, h=1e-5)
    assert np.linalg.norm(grad) < 1e-3 * np.linalg.norm(D._circle_gradient([1, 1, 1], x, y))
    two_epochs = D.fit_circle_descent(x, y, start=(1, 1, 1), step=0.001, batch_size=1, seed=0,
                                      epochs=2)
    np.testing.assert_allclose(two_epochs.x, exact, atol=0.05)


# ---- §4: momentum and Nesterov -----------------------------------------------------------------
def test_momentum_recurrence():
    r = D.gradient_descent(f_ab, [2, 1], step=0.05, n_iter=30, grad=grad_ab, momentum=0.7)
    prev, p = np.array([2.0, 1]), np.array([2.0, 1])
    for k in range(30):  # P_{k+1} = P_k + μ (P_k − P_{k−1}) − δ grad f(P_k), P_{−1} = P_0
        prev, p = p, p + 0.7 * (p - prev) - 0.05 * grad_ab(p)
        np.testing.assert_allclose(r.points[k + 1], p, rtol=1e-12, atol=1e-15)


def test_nesterov_book_and_keras_forms():
    book = D.gradient_descent(f_ab, [2, 1], step=0.05, n_iter=40, grad=grad_ab, momentum=0.8,
                              nesterov=True)
    prev, p = np.array([2.0, 1]), np.array([2.0, 1])
    for k in range(40):  # P'_k = P_k + μ(P_k − P_{k−1}), P_{k+1} = P'_k − δ grad f(P'_k)
        look = p + 0.8 * (p - prev)
        prev, p = p, look - 0.05 * grad_ab(look)
        np.testing.assert_allclose(book.points[k + 1], p, rtol=1e-12, atol=1e-15)
    keras = D.gradient_descent(f_ab, [2, 1], step=0.05, n_iter=40, grad=grad_ab, momentum=0.8,
                               nesterov="keras")
    look_ahead = book.points[1:] + 0.8 * np.diff(book.points, axis=0)  # the change of variable
    np.testing.assert_allclose(keras.points[1:], look_ahead, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(keras.gradients[:-1], book.gradients[:-1], rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(book.x) < 1e-2 and np.linalg.norm(keras.x) < 1e-2


def test_keras_form_matches_deepmath_sgd():
    from deepmath.optimizers import SGD
    w = dm.Variable(np.array([2.0, 1.0]))
    opt = SGD(learning_rate=0.05, momentum=0.8, nesterov=True)
    ours = D.gradient_descent(f_ab, [2, 1], step=0.05, n_iter=10, grad=grad_ab, momentum=0.8,
                              nesterov="keras")
    for k in range(10):
        opt.apply_gradients([(dm.Tensor(grad_ab(w.numpy())), w)])
        np.testing.assert_allclose(w.numpy(), ours.points[k + 1], rtol=1e-6)


# ---- names and errors ----------------------------------------------------------------------------
def test_french_aliases():
    assert D.descente_gradient is D.gradient_descent
    assert D.descente_par_lots is D.mini_batch_descent
    assert D.decroissance_keras is D.inverse_time_decay
    assert D.regression_lineaire is D.fit_line


@pytest.mark.parametrize("call, error, message", [
    (lambda: D.gradient_descent(3, [1, 1]), TypeError, "f must be callable"),
    (lambda: D.gradient_descent(f_ab, [1, 1], step=0), ValueError, "step must be > 0"),
    (lambda: D.gradient_descent(f_ab, [1, 1], step=float("nan")), ValueError, "step"),
    (lambda: D.gradient_descent(f_ab, [1, 1], step="big"), ValueError, "step"),
    (lambda: D.gradient_descent(f_ab, [1, 1], n_iter=-1), ValueError, "n_iter"),
    (lambda: D.gradient_descent(f_ab, [[1, 1]]), ValueError, "x0"),
    (lambda: D.gradient_descent(f_ab, "ab"), TypeError, "x0"),
    (lambda: D.gradient_descent(f_ab, [1, 1], grad=lambda p: p[:1]), ValueError, "shape"),
    (lambda: D.gradient_descent(f_ab, [1, 1], grad=5), TypeError, "grad must be callable"),
    (lambda: D.gradient_descent(f_ab, [1, 1], grad="exact"), ValueError, "'numerical'"),
    (lambda: D.gradient_descent(f_ab, [1, 1], eps=-1), ValueError, "eps"),
    (lambda: D.gradient_descent(f_ab, [1, 1], momentum=-0.5), ValueError, "momentum"),
    (lambda: D.gradient_descent(f_ab, [1, 1], nesterov="torch"), ValueError, "nesterov"),
    (lambda: D.gradient_descent(lambda p: p, [1, 1], grad=grad_ab), ValueError, "scalar"),
    (lambda: D.mini_batch_descent(parabola_error, [1, 1], ([1, 2], [1])), ValueError,
     "same non-zero length"),
    (lambda: D.mini_batch_descent(parabola_error, [1, 1], np.ones(3)), TypeError, "data"),
    (lambda: D.mini_batch_descent(parabola_error, [1, 1], PARABOLA, batch_size=0), ValueError,
     "batch_size"),
    (lambda: D.exponential_decay(0.1, 0), ValueError, "beta"),
    (lambda: D.linear_decay(-1), ValueError, "delta0"),
    (lambda: D.inverse_time_decay(0.1, -1), ValueError, "alpha"),
    (lambda: D.fit_line([1, 2], [1, 2, 3]), ValueError, "same length"),
    (lambda: D.fit_line([1, 1, 1], [1, 2, 3]), ValueError, "degenerate"),
    (lambda: D.fit_plane([[1]], [1], [1]), ValueError, "x must be a 1-D"),
    (lambda: D.fit_polynomial([1, 2], [1, 2], -1), ValueError, "degree"),
    (lambda: D.fit_line_descent([0, 2, 6], [3, 4, 6], start=(0, 0, 0)), ValueError, "start"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
