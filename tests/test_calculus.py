"""deepmath.calculus against the book's worked values (line numbers of
shared/book/deepmath-book.txt), analytic formulas, finite differences and autodiff."""
import math
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import deepmath as dm
from deepmath import calculus as calc
from deepmath.calculus import ConvergenceError

BOOK = Path(__file__).resolve().parents[2] / "shared" / "book" / "deepmath-book.txt"


def cube_minus_100(x):
    return x ** 3 - 100


def three_x_squared(x):
    return 3 * x ** 2


def fermat(x, y):
    """g(x, y) = MA + MB + MC for A(1, 2), B(3, 5), C(6, 1), book lines 1675-1677."""
    return (np.sqrt((x - 1) ** 2 + (y - 2) ** 2) + np.sqrt((x - 3) ** 2 + (y - 5) ** 2)
            + np.sqrt((x - 6) ** 2 + (y - 1) ** 2))


# ----------------------------------------------------------------------------- one variable

@pytest.mark.parametrize("f, dm_f, df, x", [
    (lambda x: x ** 2, lambda x: x ** 2, lambda x: 2 * x, 1.0),                  # line 200
    (np.exp, dm.exp, np.exp, 0.0),                                                # line 226
    (lambda x: np.cos(2 * x ** 2), lambda x: dm.cos(2 * x ** 2),
     lambda x: -4 * x * np.sin(2 * x ** 2), 3.0),                                 # lines 526-560
    (lambda x: x ** 2 + np.cos(x), lambda x: x ** 2 + dm.cos(x),
     lambda x: 2 * x - np.sin(x), 0.7),                                           # line 355
    (lambda x: x ** 3 * np.sin(x), lambda x: x ** 3 * dm.sin(x),
     lambda x: 3 * x ** 2 * np.sin(x) + x ** 3 * np.cos(x), 1.3),                 # line 356
    (lambda x: np.log(x) / np.exp(x), lambda x: dm.log(x) / dm.exp(x),
     lambda x: (np.exp(x) / x - np.log(x) * np.exp(x)) / np.exp(2 * x), 2.5),     # line 357
    (lambda x: np.exp(x) * np.log(x), lambda x: dm.exp(x) * dm.log(x),
     lambda x: np.exp(x) * np.log(x) + np.exp(x) / x, 2.0),                        # line 655
    (lambda t: np.sqrt(np.exp(t) * np.sin(t)), lambda t: dm.sqrt(dm.exp(t) * dm.sin(t)),
     lambda t: np.e * (np.sin(1) + np.cos(1)) / (2 * np.sqrt(np.e * np.sin(1))), 1.0),  # l. 3881
])
def test_derivative_numeric_auto_analytic_agree(f, dm_f, df, x):
    exact = df(x)
    assert calc.derivative(f, x) == pytest.approx(exact, rel=1e-8, abs=1e-9)
    assert calc.autodiff_derivative(dm_f, x) == pytest.approx(exact, rel=1e-13, abs=1e-14)
    assert calc.derivee is calc.derivative and calc.derivee_automatique is calc.autodiff_derivative


def test_book_chain_rule_values():
    # F'(3) = -12 sin 18 (line 555), F'(2) = (ln 2 + 1/2) e^2 (line 655)
    assert calc.autodiff_derivative(lambda x: dm.cos(2 * x ** 2), 3) == \
        pytest.approx(-12 * math.sin(18), rel=1e-14)
    assert calc.autodiff_derivative(lambda x: dm.exp(x) * dm.log(x), 2) == \
        pytest.approx((math.log(2) + 0.5) * math.e ** 2, rel=1e-14)


def test_derivative_of_arrays_is_elementwise():
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(calc.derivative(np.sin, x), np.cos(x), atol=1e-9)
    np.testing.assert_allclose(calc.autodiff_derivative(dm.sin, x), np.cos(x), atol=1e-15)


def test_derivative_error_shrinks_with_step_as_h_squared():
    errors = [abs(calc.derivative(np.exp, 1.0, h=h) - math.e) for h in (1e-2, 1e-3)]
    assert errors[0] / errors[1] == pytest.approx(100, rel=0.01)


def test_second_derivative_book_values():
    assert calc.second_derivative(lambda x: x ** 3, -2) == pytest.approx(-12, rel=1e-6)  # l. 1016
    cubic = lambda x: x ** 3 - 2 * x ** 2 + 2                                # lines 1038-1044
    assert calc.second_derivative(cubic, 0) == pytest.approx(-4, rel=1e-6)
    assert calc.second_derivative(cubic, 4 / 3) == pytest.approx(4, rel=1e-6)
    sigma = lambda x: 1 / (1 + np.exp(-x))
    assert calc.derivee_seconde(sigma, 0.0) == pytest.approx(0, abs=1e-7)     # line 851
    assert calc.second_derivative(np.sin, 0.8) == pytest.approx(-math.sin(0.8), rel=1e-6)


def test_tangent_book_examples():
    slope, intercept, line = calc.tangent(np.sqrt, 1)                  # y = x/2 + 1/2, line 300
    assert (slope, intercept) == pytest.approx((0.5, 0.5), abs=1e-9)
    np.testing.assert_allclose(line(np.array([0.0, 3.0])), [0.5, 2.0], atol=1e-8)
    sig = calc.tangente(dm.sigmoid, 0.0, method="auto")                # y = x/4 + 1/2, line 851
    assert (sig.slope, sig.intercept) == pytest.approx((0.25, 0.5), abs=1e-7)


def test_linear_approximation_book_examples():
    assert calc.linear_approximation(np.sin, 0, 0.01) == pytest.approx(0.01, abs=1e-11)  # l. 254
    assert math.sin(0.01) == pytest.approx(0.00999983, abs=1e-8)
    assert calc.linear_approximation(np.sqrt, 1, 1.1) == pytest.approx(1.05, abs=1e-9)  # l. 272
    # two variables, "Calcul approché": f(1.002, 0.997) ~ 1.001, exactly 1.000992 (l. 3639-3642)
    f = lambda x, y: x ** 2 * y
    assert calc.calcul_approche(f, (1, 1), (1.002, 0.997)) == pytest.approx(1.001, abs=1e-9)
    assert calc.linear_approximation(lambda x, y: x ** 2 * y, (1, 1), (1.002, 0.997),
                                     method="auto") == pytest.approx(1.001, abs=1e-12)
    assert f(1.002, 0.997) == pytest.approx(1.000992, abs=1e-6)


# ----------------------------------------------------------------------------- Newton

def test_newton_cube_root_of_100_exact_fractions():
    # lines 1112-1117: x1 = 7, x2 = 262/49 exactly
    iterates = calc.newton(cube_minus_100, three_x_squared, Fraction(10), n_iter=2)
    assert iterates == [10, 7, Fraction(262, 49)]


def test_newton_cube_root_of_100_float_iterates():
    x = calc.newton(cube_minus_100, three_x_squared, 10.0, n_iter=6)
    assert len(x) == 7
    assert x[2] == pytest.approx(5.3469, abs=1e-4)                      # line 1117
    assert str(x[3]).startswith("4.7305")                               # line 1119
    assert str(x[4]).startswith("4.6432")                               # line 1120
    assert str(x[5]).startswith("4.6415894")                            # line 1121
    assert str(x[6]).startswith("4.641588833612")                       # line 1122


def test_newton_1000_digits_in_13_steps():
    # lines 1124-1147: x13 has 1000 exact decimals of the cube root of 100
    with localcontext() as ctx:
        ctx.prec = 1010
        x = calc.newton(cube_minus_100, three_x_squared, Decimal(10), n_iter=13)
    with localcontext() as ctx:
        ctx.prec = 1000
        at_1000_digits = Decimal(100) ** (Decimal(1) / 3)     # 1/3 itself rounded: ~1 ulp off
        assert abs(x[13] - at_1000_digits) < Decimal(10) ** -998
        assert abs(x[12] - at_1000_digits) > Decimal(10) ** -990  # x12: ~880 digits only
        ctx.prec = 1020
        exact = Decimal(100) ** (Decimal(1) / 3)
        ctx.prec = 1000
        assert +x[13] == +exact
    assert str(calc.nth_root(100, 3, 10, digits=1000)) == str(x[13])[:1002]


def test_nth_root_matches_book_printed_digits():
    root = calc.nth_root(100, 3, digits=1000)
    assert str(root)[:52] == "4.64158883361277889241007635091944657655134912501124"  # l. 1127
    if not BOOK.exists():
        pytest.skip("the book's text is not beside the checkout")
    lines = BOOK.read_text(encoding="utf-8").splitlines()[1125:1147]   # lines 1126-1147
    assert lines[0].strip() == "4."
    printed = "".join(line.strip() for line in lines[1:])
    assert len(printed) == 1000
    assert str(root) == "4." + printed


@pytest.mark.parametrize("a, n, expected", [(2, 2, "1.41421356237309504880"),
                                            (27, 3, "3.00000000000000000000"),
                                            (-8, 3, "-2.00000000000000000000"),
                                            (0, 5, "0E-20"),
                                            (0.5, 2, "0.70710678118654752440")])
def test_nth_root_values(a, n, expected):
    assert str(calc.nth_root(a, n, digits=20)) == expected


def test_newton_minimum_of_book_function():
    # g(x) = x^2 - sin x + 1, Newton on f = g' = 2x - cos x (lines 1165-1193)
    f, df = (lambda x: 2 * x - math.cos(x)), (lambda x: 2 + math.sin(x))
    x = calc.newton(f, df, 0.0, n_iter=4)
    assert x[1] == 0.5
    assert x[2] == pytest.approx(0.4506266930, abs=1e-10)              # line 1181
    assert x[3] == pytest.approx(0.4501836475, abs=1e-10)
    assert x[4] == pytest.approx(0.4501836112, abs=1e-10)
    g = lambda t: t ** 2 - math.sin(t) + 1
    assert g(x[4]) == pytest.approx(0.7675344248, abs=1e-10)           # line 1189
    book_from_10 = [10, -4.3127566511, -1.4932228819, 1.5615319504, 0.5235838839,
                    0.4511295428, 0.4501837766, 0.4501836112]           # line 1193
    np.testing.assert_allclose(calc.newton(f, df, 10.0, n_iter=7), book_from_10, atol=1e-10)
    assert calc.newton(f, None, 10.0)[-1] == pytest.approx(x[4], abs=1e-12)


def test_newton_tolerance_and_default_stop():
    x = calc.newton(cube_minus_100, three_x_squared, 10.0, tol=1e-6)
    assert abs(x[-1] - x[-2]) <= 1e-6 and abs(x[-2] - x[-3]) > 1e-6
    x = calc.newton(cube_minus_100, three_x_squared, 10.0)
    assert x[-1] == pytest.approx(100 ** (1 / 3), rel=1e-15)


def test_newton_errors():
    with pytest.raises(ZeroDivisionError, match="f'\\(x\\) = 0"):
        calc.newton(lambda x: x ** 2 - 1, lambda x: 2 * x, 0.0, n_iter=3)
    with pytest.raises(ConvergenceError, match="did not converge in 20") as info:
        calc.newton(lambda x: x ** 2 + 1, lambda x: 2 * x, 0.5, tol=1e-12, max_iter=20)
    assert len(info.value.iterates) == 21
    with pytest.raises(ConvergenceError, match="did not converge in 3"):
        calc.newton(cube_minus_100, three_x_squared, 10.0, n_iter=3, tol=1e-12)
    with pytest.raises(TypeError, match="f must be callable"):
        calc.newton(3, three_x_squared, 1.0)
    with pytest.raises(TypeError, match="df must be callable"):
        calc.newton(cube_minus_100, "3x^2", 1.0)
    with pytest.raises(TypeError, match="x0 must be a real number"):
        calc.newton(cube_minus_100, three_x_squared, "10")
    with pytest.raises(ValueError, match="n_iter must be an integer >= 0"):
        calc.newton(cube_minus_100, three_x_squared, 10.0, n_iter=-1)
    with pytest.raises(ValueError, match="tol must be positive"):
        calc.newton(cube_minus_100, three_x_squared, 10.0, tol=0)
    with pytest.raises(ValueError, match="even root"):
        calc.nth_root(-4, 2)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        calc.nth_root(4, 0)


# ----------------------------------------------------------------------------- several variables

def test_partial_derivatives_book_examples():
    f = lambda x, y: x ** 2 * np.exp(3 * y)                                      # lines 3437-3447
    p = (0.7, -0.4)
    assert calc.partial_derivative(f, p, 0) == pytest.approx(2 * 0.7 * np.exp(-1.2), rel=1e-9)
    assert calc.derivee_partielle(f, p, 1) == pytest.approx(3 * 0.49 * np.exp(-1.2), rel=1e-9)
    g = lambda x, y, z: np.cos(x + y ** 2) * np.exp(-z)                          # line 3453
    x, y, z = 0.3, 1.1, 0.5
    expected = [-np.sin(x + y ** 2) * np.exp(-z), -2 * y * np.sin(x + y ** 2) * np.exp(-z),
                -np.cos(x + y ** 2) * np.exp(-z)]
    np.testing.assert_allclose(calc.gradient(g, (x, y, z)), expected, rtol=1e-8)
    dm_g = lambda x, y, z: dm.cos(x + y ** 2) * dm.exp(-z)
    np.testing.assert_allclose(calc.autodiff_gradient(dm_g, (x, y, z)), expected, rtol=1e-14)


def test_gradient_book_examples():
    np.testing.assert_allclose(calc.gradient(lambda x, y: x ** 2 * y ** 3, (2, 1)), [4, 12],
                               rtol=1e-9)                                         # line 3491
    np.testing.assert_allclose(calc.autodiff_gradient(lambda x, y: x ** 2 * y ** 3, (2, 1)),
                               [4, 12], rtol=1e-15)
    x, y, z = 1.5, 0.4, -0.9                                                       # line 3492
    expected = [2 * x * np.sin(y * z), x ** 2 * z * np.cos(y * z), x ** 2 * y * np.cos(y * z)]
    np.testing.assert_allclose(calc.gradient(lambda x, y, z: x ** 2 * np.sin(y * z), (x, y, z)),
                               expected, rtol=1e-8)
    np.testing.assert_allclose(calc.gradient(lambda *v: sum(t ** 2 for t in v), [1, -2, 3, 0.5]),
                               [2, -4, 6, 1], rtol=1e-9)                            # line 3493


def test_gradient_of_ln_x2y_plus_siny():
    # grad F(3, 2) = (12, 9 + cos 2) / (18 + sin 2), line 3813
    expected = np.array([12, 9 + math.cos(2)]) / (18 + math.sin(2))
    auto = calc.autodiff_gradient(lambda x, y: dm.log(x ** 2 * y + dm.sin(y)), (3, 2))
    numeric = calc.gradient(lambda x, y: np.log(x ** 2 * y + np.sin(y)), (3, 2))
    np.testing.assert_allclose(auto, expected, rtol=1e-15)
    np.testing.assert_allclose(numeric, expected, rtol=1e-9)


def test_directional_derivative():
    f = lambda x, y: x ** 2 * y ** 3
    assert calc.directional_derivative(f, (2, 1), (1, 0)) == pytest.approx(4, rel=1e-9)
    assert calc.derivee_directionnelle(f, (2, 1), (0, 1)) == pytest.approx(12, rel=1e-9)
    assert calc.directional_derivative(f, (2, 1), (3, -2), method="auto") == \
        pytest.approx(3 * 4 - 2 * 12, rel=1e-15)
    # it is the slope of the slice t -> f(p + t v), line 3566
    slope = calc.derivative(lambda t: f(2 + 3 * t, 1 - 2 * t), 0.0)
    assert calc.directional_derivative(f, (2, 1), (3, -2)) == pytest.approx(slope, rel=1e-8)


def test_hessian_against_analytic():
    f = lambda x, y: x ** 2 - y ** 3 + x * y
    np.testing.assert_allclose(calc.hessian(f, (1, 2)), [[2, 1], [1, -12]], atol=1e-6)
    g = lambda x, y, z: np.exp(x) * np.sin(y) + y * z ** 2
    x, y, z = 0.2, 0.9, -1.3
    exact = [[np.exp(x) * np.sin(y), np.exp(x) * np.cos(y), 0],
             [np.exp(x) * np.cos(y), -np.exp(x) * np.sin(y), 2 * z],
             [0, 2 * z, 2 * y]]
    np.testing.assert_allclose(calc.hessian(g, (x, y, z)), exact, atol=1e-6)


def test_critical_points_book_examples():
    f = lambda x, y: x ** 2 - y ** 3 + x * y                    # (0, 0) and (1/12, -1/6), l. 3695
    np.testing.assert_allclose(calc.critical_point(f, (0.1, -0.1)).point, [1 / 12, -1 / 6],
                               atol=1e-9)
    np.testing.assert_allclose(calc.point_critique(f, (0.02, 0.01)).point, [0, 0], atol=1e-9)
    quad = lambda x, y: 3 * x ** 2 + 3 * y ** 2 - 20 * x - 16 * y + 76   # lines 1630-1640
    found = calc.critical_point(quad, (0, 0))
    np.testing.assert_allclose(found.point, [10 / 3, 8 / 3], atol=1e-9)
    assert found.value == pytest.approx(64 / 3, rel=1e-12)
    assert found.visited.shape[1] == 2 and np.array_equal(found.visited[0], [0, 0])


def test_critical_point_one_variable_is_book_minimum():
    found = calc.critical_point(lambda x: x ** 2 - np.sin(x) + 1, 0.0)     # lines 1185-1189
    assert isinstance(found.point, float)
    assert found.point == pytest.approx(0.4501836112, abs=1e-10)
    assert found.value == pytest.approx(0.7675344248, abs=1e-10)


def test_critical_point_errors():
    with pytest.raises(ValueError, match="Hessian is singular"):
        calc.critical_point(lambda x, y: x + y, (0, 0))
    with pytest.raises(ConvergenceError):
        calc.critical_point(lambda x: np.exp(x), 0.0, max_iter=5)
    with pytest.raises(ValueError, match="x0 must be a non-empty flat sequence of finite"):
        calc.critical_point(lambda x: x, [np.nan])


# ----------------------------------------------------------------------------- minimisers

def test_grid_search_book_example():
    found = calc.grid_search(fermat, [(0, 6), (0, 6)], n=100)              # line 1681
    assert found.visited.shape == (10_000, 2)
    np.testing.assert_allclose(found.point, [2.91, 2.97], atol=0.005)
    assert found.value == pytest.approx(7.84, abs=0.005)
    assert found.value == fermat(*found.point) == fermat(*found.visited.T).min()


def test_random_search_book_example():
    found = calc.random_search(fermat, [(0, 6), (0, 6)], n=1000, seed=0)   # line 1683
    assert found.visited.shape == (1000, 2)
    assert np.all((found.visited >= 0) & (found.visited <= 6))
    np.testing.assert_allclose(found.point, [2.9, 2.98], atol=0.1)
    assert found.value == pytest.approx(7.84, abs=0.01)
    again = calc.recherche_hasard(fermat, [(0, 6), (0, 6)], n=1000, seed=0)
    assert np.array_equal(again.visited, found.visited)


def test_slice_search_book_example():
    found = calc.slice_search(fermat, (0, 0), n_sweeps=5)                  # line 1689
    assert found.visited[1][1] == pytest.approx(2.45, abs=0.005)           # y0 ~ 2.45
    assert found.visited[2][0] == pytest.approx(2.84, abs=0.005)           # x1 ~ 2.84
    assert found.visited.shape == (11, 2)
    np.testing.assert_allclose(found.point, [2.90579, 2.98464], atol=1e-5)
    assert found.value == pytest.approx(7.83867, abs=1e-5)
    bounded = calc.recherche_tranche(fermat, (0, 0), bounds=[(0, 6), (0, 6)])
    np.testing.assert_allclose(bounded.point, found.point, atol=1e-5)
    values = [fermat(*p) for p in found.visited]
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:]))         # z_i decrease


def test_searches_accept_non_vectorised_functions():
    f = lambda x, y: math.hypot(x - 1, y + 2)
    assert calc.grid_search(f, [(0, 2), (-3, -1)], n=21).point == pytest.approx([1, -2])
    np.testing.assert_allclose(calc.slice_search(f, (0, 0), n_sweeps=2).point, [1, -2],
                               atol=1e-6)


def test_search_errors():
    with pytest.raises(ValueError, match="bounds must be a sequence of finite"):
        calc.grid_search(fermat, [(6, 0), (0, 6)])
    with pytest.raises(ValueError, match="bounds must be"):
        calc.random_search(fermat, [0, 6])
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        calc.grid_search(fermat, [(0, 6), (0, 6)], n=1)
    with pytest.raises(TypeError, match="f must be callable"):
        calc.slice_search(None, (0, 0))
    with pytest.raises(ValueError, match="bounds has 1 pairs but start has 2"):
        calc.slice_search(fermat, (0, 0), bounds=[(0, 6)])
    with pytest.raises(ValueError, match="NaN at every point"):
        calc.grid_search(lambda x, y: np.nan * x, [(0, 1), (0, 1)], n=3)


def test_argument_errors():
    with pytest.raises(TypeError, match="f must be callable"):
        calc.derivative("sin", 1.0)
    with pytest.raises(ValueError, match="h must be a positive finite step"):
        calc.derivative(np.sin, 1.0, h=0)
    with pytest.raises(ValueError, match="method must be one of"):
        calc.tangent(np.sin, 1.0, method="symbolic")
    with pytest.raises(ValueError, match="x0 must be a single number"):
        calc.tangent(np.sin, [1.0, 2.0])
    with pytest.raises(ValueError, match="i must be a coordinate index in \\[0, 2\\)"):
        calc.partial_derivative(fermat, (0, 0), 2)
    with pytest.raises(ValueError, match="v has 3 coordinates but point has 2"):
        calc.directional_derivative(fermat, (0, 0), (1, 0, 0))
    with pytest.raises(TypeError, match="point must be a number or a sequence"):
        calc.gradient(fermat, "origin")


def test_level_line_tangent_of_the_books_ellipse():
    """Gradient §2.2 (book l.3522-3541): at (x0, y0) on x²/a² + y²/b² = 1 the tangent is
    x0·x/a² + y0·y/b² = 1, i.e. (2x0/a²) x + (2y0/b²) y = 2."""
    a, b = 3.0, 2.0
    x0 = 1.5
    y0 = b * np.sqrt(1 - x0**2 / a**2)
    coeffs = calc.level_line_tangent(lambda x, y: x**2 / a**2 + y**2 / b**2, (x0, y0))
    np.testing.assert_allclose(coeffs, (2 * x0 / a**2, 2 * y0 / b**2, 2.0), rtol=1e-7)
    auto = calc.tangente_ligne_de_niveau(lambda x, y: x**2 / a**2 + y**2 / b**2, (x0, y0),
                                             method="auto")
    np.testing.assert_allclose(auto, coeffs, rtol=1e-7)
    with pytest.raises(ValueError, match="grad f is zero"):
        calc.level_line_tangent(lambda x, y: x**2 + y**2, (0.0, 0.0))
    with pytest.raises(ValueError, match="two variables"):
        calc.level_line_tangent(lambda x, y, z: x, (0.0, 0.0, 1.0))
