"""The book's keras_facile (deepmath.facile) on the book's small networks."""
import numpy as np
import pytest

import deepmath as dm
from deepmath import facile
from deepmath.facile import (affiche_poids, calcul_approximation, definir_poids, evaluation,
                             heaviside, poids_a_zeros)
from deepmath.layers import Dense


class Chain:
    """The model interface facile relies on (layers, predict), over real deepmath layers:
    lets these tests run whatever the state of deepmath.models."""

    def __init__(self, n_in, *layers):
        self.layers = list(layers)
        self.predict(np.zeros((1, n_in), np.float32))

    def predict(self, x, verbose="auto"):
        out = dm.Tensor(np.asarray(x, dtype=np.float32))
        for layer in self.layers:
            out = layer(out)
        return out.data


def sigma(z):
    return 1 / (1 + np.exp(-z))


def book_relu_network():
    """Chapter "Python : tensorflow avec keras - partie 1", §2.1: F(3) = 2."""
    modele = Chain(1, Dense(2, activation="relu"), Dense(1, activation="relu"))
    definir_poids(modele, 0, 0, 1, -1)
    definir_poids(modele, 0, 1, -0.5, 1)
    definir_poids(modele, 1, 0, [1, 1], 0)
    return modele


def test_definir_poids_sets_one_neuron_column_and_bias():
    modele = book_relu_network()
    kernel, bias = modele.layers[0].get_weights()
    np.testing.assert_array_equal(kernel, [[1.0, -0.5]])
    np.testing.assert_array_equal(bias, [-1.0, 1.0])
    kernel, bias = modele.layers[1].get_weights()
    np.testing.assert_array_equal(kernel, [[1.0], [1.0]])
    np.testing.assert_array_equal(bias, [0.0])


def test_evaluation_of_the_book_examples():
    assert evaluation(book_relu_network(), 3) == 2.0
    two = Chain(2, Dense(1, activation="sigmoid"))
    definir_poids(two, 0, 0, [1, 2], -1)
    assert evaluation(two, [2.0, 1.0]) == pytest.approx(sigma(3.0), rel=1e-6)   # ≈ 0.952
    assert evaluation(two, 2.0, 1.0) == evaluation(two, np.array([2.0, 1.0]))
    three = Chain(3, Dense(1, activation="relu"))
    definir_poids(three, 0, 0, [1, -1, 1], -1)
    assert evaluation(three, [2.0, 3.0, 4.0]) == 2.0
    assert isinstance(evaluation(three, 2.0, 3.0, 4.0), float)


def test_evaluation_matches_the_formula_of_the_network():
    """§1.6: three sigmoid neurons then one; F(7, -5) ≈ 0.123."""
    modele = Chain(2, Dense(3, activation="sigmoid"), Dense(1, activation="sigmoid"))
    definir_poids(modele, 0, 0, [1, 2], -1)
    definir_poids(modele, 0, 1, [3, -4], 0)
    definir_poids(modele, 0, 2, [-5, -6], 1)
    definir_poids(modele, 1, 0, [1, 1, 1], -3)
    x = np.array([7.0, -5.0])
    hidden = sigma(np.array([[1, 3, -5], [2, -4, -6]]).T @ x + [-1, 0, 1])
    assert evaluation(modele, x) == pytest.approx(sigma(hidden.sum() - 3), rel=1e-5)
    assert evaluation(modele, x) == pytest.approx(0.123, abs=1e-3)


def test_evaluation_returns_the_vector_for_several_outputs():
    modele = Chain(1, Dense(2))
    definir_poids(modele, 0, 0, 2, 1)
    definir_poids(modele, 0, 1, -1, 0)
    np.testing.assert_allclose(evaluation(modele, 3), [7.0, -3.0])


def test_heaviside_is_the_step_with_h0_equal_1():
    out = heaviside(dm.tensor([-2.0, 0.0, 0.5]))
    np.testing.assert_array_equal(out.data, [0.0, 1.0, 1.0])
    modele = Chain(1, Dense(1, activation=heaviside))
    definir_poids(modele, 0, 0, -0.5, 1)                 # §2.2: 1 for x ≤ 2
    assert [evaluation(modele, x) for x in (-5, 2, 2.5)] == [1.0, 1.0, 0.0]


def test_two_layer_heaviside_network_on_a_grid():
    """§3.2: F(x, y) = H(H(-x + 3y) + H(2x + y) - 2)."""
    modele = Chain(2, Dense(2, activation=heaviside), Dense(1, activation=heaviside))
    definir_poids(modele, 0, 0, [-1, 3], 0)
    definir_poids(modele, 0, 1, [2, 1], 0)
    definir_poids(modele, 1, 0, [1, 1], -2)
    xy = np.random.default_rng(0).uniform(-5, 5, (200, 2)).astype(np.float32)
    step = lambda z: (z >= 0).astype(np.float32)   # noqa: E731
    want = step(step(-xy[:, 0] + 3 * xy[:, 1]) + step(2 * xy[:, 0] + xy[:, 1]) - 2)
    np.testing.assert_array_equal(modele.predict(xy)[:, 0], want)


def test_affiche_poids_prints_neuron_by_neuron(capsys):
    modele = book_relu_network()
    affiche_poids(modele, 0)
    out = capsys.readouterr().out
    assert "===== Couche numéro 0 =====" in out
    assert "Nombre de neurones : 2" in out and "Nombre d'entrées par neurones : 1" in out
    assert "Nombre de poids par neurones : 2" in out
    assert "--- Neurone numéro 1 ---" in out and "Coefficients [-0.5]" in out
    assert "Biais 1.0" in out
    affiche_poids(modele)
    out = capsys.readouterr().out
    assert "Couche numéro 0" in out and "Couche numéro 1" in out


def test_poids_a_zeros():
    modele = book_relu_network()
    poids_a_zeros(modele, 0)
    assert all(not w.any() for w in modele.layers[0].get_weights())
    assert modele.layers[1].get_weights()[0].any()


def test_errors_name_the_layer_and_neuron():
    modele = book_relu_network()
    with pytest.raises(IndexError, match="2 neurons"):
        definir_poids(modele, 0, 2, 1, 0)
    with pytest.raises(ValueError, match="2 inputs: give 2 coefficient"):
        definir_poids(modele, 1, 0, [1, 2, 3], 0)
    with pytest.raises(IndexError, match="has 2 layers"):
        definir_poids(modele, 5, 0, 1, 0)
    no_bias = Chain(1, Dense(2, use_bias=False))
    with pytest.raises(ValueError, match="not a Dense layer with a bias"):
        definir_poids(no_bias, 0, 0, 1, 0)
    with pytest.raises(TypeError, match="needs an input"):
        evaluation(modele)


def f_book(x):
    return np.cos(2 * x) + x * np.sin(3 * x) + x ** 0.5


@pytest.mark.parametrize("f,a,b,n", [(f_book, 2, 10, 20), (np.sin, -3, 3, 7)])
def test_calcul_approximation_is_the_staircase_of_f(f, a, b, n):
    modele = Chain(1, Dense(2 * n, activation=heaviside), Dense(1, activation="linear"))
    calcul_approximation(modele, f, a, b, n)
    x = np.linspace(a, b, n + 1)
    middles = (x[:-1] + x[1:]) / 2
    np.testing.assert_allclose(modele.predict(middles[:, None])[:, 0], f(x[:-1]),
                               atol=1e-4 * (1 + np.abs(f(x[:-1])).sum()))
    outside = modele.predict(np.array([[a - 1.0], [b + 1.0]]))[:, 0]
    np.testing.assert_allclose(outside, 0.0, atol=1e-4 * (1 + np.abs(f(x[:-1])).sum()))
    kernel, bias = modele.layers[0].get_weights()
    np.testing.assert_array_equal(kernel[0, :2], [1.0, -1.0])
    np.testing.assert_allclose(bias[:2], [-a, x[1]], rtol=1e-6)


def test_calcul_approximation_checks_the_architecture():
    modele = Chain(1, Dense(6, activation=heaviside), Dense(1))
    with pytest.raises(ValueError, match="needs Dense\\(2n=10\\)"):
        calcul_approximation(modele, np.sin, 0, 1, 5)


# ---- drawings -----------------------------------------------------------------------------------
@pytest.fixture
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    return matplotlib


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return data


def test_one_variable_drawings_write_png_files(agg, tmp_path):
    modele = book_relu_network()
    fig = facile.affichage_evaluation_une_var(modele, -2, 3, file=tmp_path / "F.png")
    _png(tmp_path / "F.png")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), modele.predict(line.get_xdata()[:, None])[:, 0])
    n = 5
    approx = Chain(1, Dense(2 * n, activation=heaviside), Dense(1))
    calcul_approximation(approx, f_book, 2, 10, n)
    fig = facile.affichage_approximation(approx, f_book, 2, 10, file=tmp_path / "A.png",
                                         show=False)
    _png(tmp_path / "A.png")
    red, blue = fig.axes[0].lines
    np.testing.assert_allclose(red.get_ydata(), f_book(red.get_xdata()), rtol=1e-12)
    agg.pyplot.close(fig)


def test_two_and_three_variable_drawings_write_png_files(agg, tmp_path):
    two = Chain(2, Dense(1, activation="sigmoid"))
    definir_poids(two, 0, 0, [1, 2], -1)
    facile.affichage_evaluation_deux_var_3d(two, -5, 5, -5, 5, file=tmp_path / "s.png")
    facile.affichage_evaluation_deux_var_2d(two, -5, 5, -5, 5, file=tmp_path / "c.png")
    three = Chain(3, Dense(1, activation="relu"))
    definir_poids(three, 0, 0, [1, -1, 1], -1)
    fig = facile.affichage_evaluation_trois_var(three, -5, 5, -5, 5, -5, 5, num=4,
                                                file=tmp_path / "t.png", show=False)
    for name in ("s.png", "c.png", "t.png"):
        _png(tmp_path / name)
    colours = fig.axes[0].collections[0].get_array()
    grid = np.stack(np.meshgrid(*[np.linspace(-5, 5, 4)] * 3), -1).reshape(-1, 3)
    np.testing.assert_allclose(colours, np.maximum(grid @ [1, -1, 1] - 1, 0), atol=1e-5)
    agg.pyplot.close(fig)
    with pytest.raises(IndexError, match="1 output"):
        facile.affichage_evaluation_une_var(Chain(1, Dense(1)), 0, 1, rang=1, show=False)


# ---- with deepmath.models -----------------------------------------------------------------------
@pytest.fixture
def models():
    return pytest.importorskip("deepmath.models", exc_type=ImportError)


def test_book_program_with_star_import(models):
    namespace = {}
    exec("from deepmath.facile import *\n"
         "modele = Sequential()\n"
         "modele.add(Input(shape=(1,)))\n"
         "modele.add(Dense(2, activation='relu'))\n"
         "modele.add(Dense(1, activation='relu'))\n"
         "definir_poids(modele,0,0,1,-1)\n"
         "definir_poids(modele,0,1,-0.5,1)\n"
         "definir_poids(modele,1,0,[1,1],0)\n"
         "sortie = evaluation(modele, 3)\n"
         "f = lambda x: np.cos(2*x) + x*np.sin(3*x) + x**0.5\n"
         "n = 20\n"
         "approx = Sequential()\n"
         "approx.add(Input(shape=(1,)))\n"
         "approx.add(Dense(2*n, activation=heaviside))\n"
         "approx.add(Dense(1, activation='linear'))\n"
         "calcul_approximation(approx, f, 2, 10, n)\n", namespace)
    assert namespace["sortie"] == 2.0
    assert isinstance(namespace["modele"], models.Sequential)
    x = np.linspace(2, 10, 21)
    got = namespace["approx"].predict(((x[:-1] + x[1:]) / 2)[:, None], verbose=0)[:, 0]
    np.testing.assert_allclose(got, f_book(x[:-1]), atol=1e-3)


def test_get_weights_grad_is_the_mse_gradient_and_one_sgd_step(models):
    from deepmath.facile import get_weights_grad
    from deepmath.layers import Input
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3)).astype(np.float32)
    Y = rng.normal(size=(16, 1)).astype(np.float32)
    modele = models.Sequential([Input(shape=(3,)), Dense(1)])
    modele.compile(loss="mean_squared_error", optimizer="sgd")
    W, b = modele.get_weights()
    residual = X @ W + b - Y
    gradient = get_weights_grad(modele, X, Y)
    assert [g.shape for g in gradient] == [W.shape, b.shape]
    np.testing.assert_allclose(gradient[0], 2 * X.T @ residual / len(X), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gradient[1], 2 * residual.sum(0) / len(X), rtol=1e-4, atol=1e-6)
    try:
        from deepmath.optimizers import SGD
    except ImportError:
        return
    modele.compile(loss="mean_squared_error", optimizer=SGD(learning_rate=0.1))
    modele.train_on_batch(X, Y)
    for after, before, g in zip(modele.get_weights(), [W, b], gradient):
        np.testing.assert_allclose(after, before - 0.1 * g, rtol=1e-5, atol=1e-6)


def test_get_weights_grad_needs_a_compiled_model(models):
    from deepmath.facile import get_weights_grad
    from deepmath.layers import Input
    modele = models.Sequential([Input(shape=(2,)), Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        get_weights_grad(modele, np.zeros((1, 2)), np.zeros((1, 1)))
