"""The maths figures of deepmath.plot (tangent, surface, level lines, gradient field, descent,
regression lines, classification map, convolution, pooling), drawn headless."""
import numpy as np
import pytest

from deepmath import plot

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot
    matplotlib.pyplot.close("all")


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def paraboloid(x, y):
    return x ** 2 + 2 * y ** 2


def _of_type(ax, kind):
    return [c for c in ax.collections if isinstance(c, kind)]


# ---- show ---------------------------------------------------------------------------------------
def test_nothing_is_shown_unless_asked(monkeypatch):
    plt = plot.pyplot()
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(1))
    monkeypatch.setattr(plt, "get_backend", lambda: "TkAgg")         # as if interactive
    fig = plot.plot_tangent(np.sin, 0.0)
    plot.plot_history({"loss": [1.0, 0.5]})
    assert shown == [] and plt.fignum_exists(fig.number)
    plot.plot_tangent(np.sin, 0.0, show=True)
    assert shown == [1]


def test_show_on_a_file_only_backend_closes_the_figure():
    fig = plot.plot_level_lines(paraboloid, show=True)
    assert not plot.pyplot().fignum_exists(fig.number)


# ---- tangent ------------------------------------------------------------------------------------
def test_tangent_line_and_png(tmp_path):
    fig = plot.plot_tangent(np.exp, 1.0, xlim=(-1, 2), file=tmp_path / "t.png")
    _png(tmp_path / "t.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    curve, tangent, point = ax.lines
    x = tangent.get_xdata()
    np.testing.assert_allclose(curve.get_ydata(), np.exp(x))
    np.testing.assert_allclose(tangent.get_ydata(), np.e + np.e * (x - 1), rtol=1e-7)
    np.testing.assert_allclose(point.get_ydata(), [np.e])
    given = plot.tangente(lambda t: t ** 3, 2.0, df=lambda t: 3 * t ** 2).axes[0].lines[1]
    np.testing.assert_allclose(given.get_ydata(), 8 + 12 * (given.get_xdata() - 2))


def test_tangent_errors():
    import math
    with pytest.raises(ValueError, match=r"f\(x\) must return an array of shape \(200,\)"):
        plot.plot_tangent(lambda x: np.ones(3), 0.0)
    with pytest.raises(TypeError):
        plot.plot_tangent(math.exp, 0.0)                 # not vectorised: math.exp(array)
    with pytest.raises(ValueError, match="xlim must be finite with min < max"):
        plot.plot_tangent(np.sin, 0.0, xlim=(1, 0))
    with pytest.raises(ValueError, match="xlim must be a pair"):
        plot.plot_tangent(np.sin, 0.0, xlim=3)
    with pytest.raises(ValueError, match="a must be a number"):
        plot.plot_tangent(np.sin, "1")


# ---- surface and level lines -------------------------------------------------------------------
def test_surface(tmp_path):
    fig = plot.plot_surface(paraboloid, (-1, 1), (-2, 2), n=20, file=tmp_path / "s.png")
    _png(tmp_path / "s.png")
    ax = fig.axes[0]
    assert ax.name == "3d" and len(ax.collections) == 1
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) == ("x", "y", "z")


def test_level_lines_with_colour_bar(tmp_path):
    fig = plot.plot_level_lines(paraboloid, levels=[1, 2, 4], file=tmp_path / "l.png")
    _png(tmp_path / "l.png")
    assert len(fig.axes) == 2                                 # the plot and its colour bar
    (contours,) = _of_type(fig.axes[0], ContourSet)
    np.testing.assert_array_equal(contours.levels, [1, 2, 4])
    assert not contours.filled
    filled = plot.lignes_de_niveau(paraboloid, filled=True, colorbar=False, xlabel="a",
                                   ylabel="b")
    assert len(filled.axes) == 1 and _of_type(filled.axes[0], ContourSet)[0].filled
    assert (filled.axes[0].get_xlabel(), filled.axes[0].get_ylabel()) == ("a", "b")


def test_two_variable_errors():
    with pytest.raises(ValueError, match=r"f\(x, y\) must return an array of shape \(50, 50\)"):
        plot.plot_surface(lambda x, y: x[0])
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        plot.plot_level_lines(paraboloid, n=1)
    with pytest.raises(ValueError, match="ylim must be finite"):
        plot.plot_level_lines(paraboloid, ylim=(0, np.inf))


# ---- gradient field, descent -------------------------------------------------------------------
def test_gradient_field_numeric_and_given(tmp_path):
    fig = plot.plot_gradient_field(paraboloid, (-2, 2), (-1, 1), n=5, file=tmp_path / "g.png")
    _png(tmp_path / "g.png")
    ax = fig.axes[0]
    (arrows,) = _of_type(ax, Quiver)
    assert len(_of_type(ax, ContourSet)) == 1 and len(fig.axes) == 2
    xy = arrows.XY
    np.testing.assert_allclose(arrows.U, 2 * xy[:, 0], atol=1e-5)   # ∂f/∂x = 2x
    np.testing.assert_allclose(arrows.V, 4 * xy[:, 1], atol=1e-5)   # ∂f/∂y = 4y
    given = plot.plot_gradient_field(paraboloid, n=4, levels=0,
                                     gradient=lambda x, y: (2 * x, 4 * y)).axes[0]
    assert not _of_type(given, ContourSet)
    (arrows,) = _of_type(given, Quiver)
    np.testing.assert_allclose(arrows.V, 4 * arrows.XY[:, 1])
    with pytest.raises(ValueError, match=r"gradient\(x, y\)\[1\] must return"):
        plot.plot_gradient_field(paraboloid, gradient=lambda x, y: (x, y[:2]))


def test_descent_arrows_over_level_lines(tmp_path):
    points = np.array([[2.0, 1.0], [1.2, 0.2], [0.7, -0.1], [0.3, 0.05], [0.0, 0.0]])
    fig = plot.plot_descent(points, f=paraboloid, xlabel="a", ylabel="b",
                            file=tmp_path / "d.png")
    _png(tmp_path / "d.png")
    ax = fig.axes[0]
    (arrows,) = _of_type(ax, Quiver)
    assert len(_of_type(ax, ContourSet)) == 1 and (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")
    np.testing.assert_allclose(arrows.XY, points[:-1])
    np.testing.assert_allclose(np.column_stack([arrows.U, arrows.V]), np.diff(points, axis=0))
    np.testing.assert_allclose(ax.lines[0].get_xdata(), points[:, 0])
    lo, hi = ax.get_xlim()
    assert lo < 0 and hi > 2                                  # padded box of the points
    alone = plot.plot_descent(points).axes[0]
    assert not _of_type(alone, ContourSet) and len(_of_type(alone, Quiver)) == 1


def test_descent_errors():
    with pytest.raises(ValueError, match=r"points must be an array of shape \(k, 2\).*\(4, 3\)"):
        plot.plot_descent(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="points must be"):
        plot.plot_descent([1.0, 2.0])


# ---- regression lines ----------------------------------------------------------------------------
def test_regression_line_family(tmp_path):
    x, y = [4, 7, 8, 10, 12], [1, 3, 3, 6, 7]                  # book, "Descente de gradient" §2.2
    lines = np.array([[0.75, -2.0], [0.78, -2.46]])
    fig = plot.plot_regression_lines(x, y, lines, file=tmp_path / "r.png")
    _png(tmp_path / "r.png")
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and len(ax.lines) == 2
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([x, y]))
    for line, (a, b) in zip(ax.lines, lines):
        np.testing.assert_allclose(line.get_ydata(), a * line.get_xdata() + b)
    assert ax.lines[1].get_label() == "y = 0.78 x + -2.46"
    named = plot.plot_regression_lines(x, y, lines[:1], labels=["initiale"]).axes[0]
    assert named.lines[0].get_label() == "initiale"


def test_regression_errors():
    with pytest.raises(ValueError, match="same length"):
        plot.plot_regression_lines([1, 2], [1], [[1, 0]])
    with pytest.raises(ValueError, match=r"lines must be an array of shape \(k, 2\)"):
        plot.plot_regression_lines([1, 2], [1, 2], [1, 0])
    with pytest.raises(ValueError, match="1 labels for 2 lines"):
        plot.plot_regression_lines([1, 2], [1, 2], [[1, 0], [2, 0]], labels=["a"])


# ---- classification map -------------------------------------------------------------------------
def test_classification_map_of_a_function(tmp_path):
    def inside(p):                                        # 1 inside the unit disc, one column
        return (p[:, :1] ** 2 + p[:, 1:] ** 2 < 1).astype(float)

    points = np.array([[0.0, 0.0], [2.0, 2.0]])
    fig = plot.plot_classification(inside, (-2, 2), (-2, 2), points=points, labels=[1, 0],
                                   n=41, file=tmp_path / "c.png")
    _png(tmp_path / "c.png")
    ax = fig.axes[0]
    image = ax.images[0].get_array()
    assert image.shape == (41, 41) and len(ax.images) == 1 and len(fig.axes) == 2
    assert image[20, 20] == 1 and image[0, 0] == 0 and image.sum() == pytest.approx(
        ((np.linspace(-2, 2, 41)[:, None] ** 2 + np.linspace(-2, 2, 41) ** 2) < 1).sum())
    np.testing.assert_allclose(ax.collections[0].get_offsets(), points)


def test_classification_threshold_argmax_and_models():
    def sigmoid(p):
        return 1 / (1 + np.exp(-p[:, 0]))                  # (N,) outputs

    soft = plot.plot_classification(sigmoid, (-1, 1), (0, 1), n=5).axes[0].images[0]
    np.testing.assert_allclose(soft.get_array()[0], 1 / (1 + np.exp(-np.linspace(-1, 1, 5))))
    hard = plot.plot_classification(sigmoid, (-1, 1), (0, 1), n=5, threshold=0.5)
    np.testing.assert_array_equal(hard.axes[0].images[0].get_array()[0], [0, 0, 1, 1, 1])

    class Model:                                          # three classes, Keras-style predict
        def predict(self, x, verbose="auto"):
            assert verbose == 0
            return np.column_stack([x[:, 0], x[:, 1], np.full(len(x), 0.5)])

    classes = plot.plot_classification(Model(), (0, 1), (0, 1), n=3).axes[0].images[0]
    # row y, column x: argmax of (x, y, 0.5), the first index on ties
    np.testing.assert_array_equal(classes.get_array(), [[2, 0, 0], [1, 0, 0], [1, 1, 0]])


def test_classification_of_a_deepmath_network():
    from deepmath.layers import Dense, Input
    from deepmath.models import Sequential
    model = Sequential([Input(shape=(2,)), Dense(3, activation="softmax")])
    fig = plot.plot_classification(model, (-1, 1), (-1, 1), n=6)
    grid = np.column_stack([g.ravel() for g in np.meshgrid(np.linspace(-1, 1, 6),
                                                           np.linspace(-1, 1, 6))])
    expected = np.asarray(model.predict(grid, verbose=0)).argmax(axis=1).reshape(6, 6)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), expected)
    np.testing.assert_allclose(fig.axes[0].images[0].get_extent(), [-1.2, 1.2, -1.2, 1.2])
    assert fig.axes[0].get_xlim() == (-1, 1)


def test_classification_errors():
    with pytest.raises(ValueError, match=r"must return \(9,\), \(9, 1\) or \(9, classes\)"):
        plot.plot_classification(lambda p: p[:3], n=3)
    with pytest.raises(TypeError, match="classifier must be a function"):
        plot.plot_classification(42, n=3)
    with pytest.raises(ValueError, match="2 labels for 1 points"):
        plot.plot_classification(lambda p: p[:, 0], n=3, points=[[0, 0]], labels=[0, 1])


# ---- convolution, pooling ------------------------------------------------------------------------
def test_convolution_before_after(tmp_path):
    rng = np.random.default_rng(0)
    image, result = rng.random((8, 8)), rng.random((6, 6, 1))
    fig = plot.plot_convolution(image, result, file=tmp_path / "conv.png")
    _png(tmp_path / "conv.png")
    assert [ax.get_title() for ax in fig.axes] == ["image", "après convolution"]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), image)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), result[:, :, 0])
    kernel = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    three = plot.plot_convolution(image, result, kernel=kernel, titles=["A", "K", "B"])
    assert [ax.get_title() for ax in three.axes] == ["A", "K", "B"]
    assert [t.get_text() for t in three.axes[1].texts] == [str(v) for v in kernel.ravel()]


def test_convolution_errors():
    with pytest.raises(ValueError, match=r"after must be an image .*\(2, 3, 3, 1\)"):
        plot.plot_convolution(np.zeros((4, 4)), np.zeros((2, 3, 3, 1)))
    with pytest.raises(ValueError, match="3 titles for 2 panels"):
        plot.plot_convolution(np.zeros((4, 4)), np.zeros((4, 4)), titles=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"kernel must be a matrix"):
        plot.plot_convolution(np.zeros((4, 4)), np.zeros((4, 4)), kernel=[1, 2])


def test_pooling_panel_pools_with_signal_and_checks_the_mode():
    m = np.arange(20.0).reshape(4, 5)                     # the last column is dropped
    fig = plot.plot_pooling(m, mode="average")
    texts = {t.get_text() for t in fig.axes[1].texts}
    assert {"3", "5", "13", "15"} <= texts
    with pytest.raises(ValueError, match="mode must be 'max' or 'average'"):
        plot.plot_pooling(m, mode="min")


def test_pooling_panels_write_the_values(tmp_path):
    m = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 7, 6], [1, 9, 3, 3]])
    fig = plot.plot_pooling(m, file=tmp_path / "pool.png")
    _png(tmp_path / "pool.png")
    before, after = fig.axes
    assert [t.get_text() for t in before.texts] == [str(v) for v in m.ravel()]
    assert [t.get_text() for t in after.texts] == ["5", "8", "9", "7"]
    assert (before.get_title(), after.get_title()) == ("avant", "après max pooling")
    mean = plot.plot_pooling(m, mode="average", fmt="{:.2f}").axes[1]
    assert [t.get_text() for t in mean.texts] == ["3.25", "2.75", "3.00", "4.75"]
    given = plot.plot_pooling(m, after=[[1, 2]], titles=("x", "y")).axes[1]
    assert [t.get_text() for t in given.texts] == ["1", "2"]


def test_pooling_errors():
    with pytest.raises(ValueError, match=r"before must be a matrix \(n, p\), got shape \(4,\)"):
        plot.plot_pooling(np.zeros(4))
    with pytest.raises(ValueError, match="titles must be two strings"):
        plot.plot_pooling(np.zeros((2, 2)), titles=("one",))
    with pytest.raises(ValueError, match="max_pooling: size must be >= 1, got 0"):
        plot.plot_pooling(np.zeros((2, 2)), size=0)
