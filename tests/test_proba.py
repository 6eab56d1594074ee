"""deepmath.proba against the book's chapter "Probabilités" (line numbers of
book/deepmath-book.txt) and numpy/scipy references."""
import numpy as np
import pytest
from scipy import special, stats

from deepmath import proba

X = [3, 1, 8, 6, 0]
HEIGHTS = [172, 165, 187, 181, 167, 184, 168, 174, 180, 186]          # line 8248


# ---- softmax, argmax ---------------------------------------------------------------------------
def test_softmax_book_example():
    # line 8073: softmax(3, 1, 8, 6, 0) ≃ (0.0059, 0.0008, 0.8746, 0.1184, 0.0003), rank 3
    s = proba.softmax(X)
    np.testing.assert_allclose(s, [0.0059, 0.0008, 0.8746, 0.1184, 0.0003], atol=5e-5)
    assert s.sum() == pytest.approx(1.0)
    assert proba.argmax(X) == 2 == proba.argmax(s)         # the book's "rang 3", 0-based


def test_softmax_matches_scipy_along_an_axis_and_is_stable():
    x = np.random.default_rng(0).normal(size=(4, 3, 5)) * 10
    for axis in (0, 1, -1):
        np.testing.assert_allclose(proba.softmax(x, axis=axis), special.softmax(x, axis=axis),
                                   rtol=1e-12)
    big = proba.softmax([1000.0, 1001.0, 999.0])              # exp(1000) overflows
    np.testing.assert_allclose(big, proba.softmax([1.0, 2.0, 0.0]), rtol=1e-12)
    assert proba.softmax(np.float32([1, 2])).dtype == np.float32


def test_softmax_temperature():
    x = np.array([2, 5, 25, 3, 14, 4]) / 53                   # line 8580
    np.testing.assert_allclose(proba.softmax(x, temperature=0.2), special.softmax(x / 0.2))
    peaks = [proba.softmax(x, t).max() for t in (0.001, 0.1, 0.2, 1, 5)]
    assert all(a > b for a, b in zip(peaks, peaks[1:]))        # flatter as T grows
    np.testing.assert_allclose(proba.softmax(x, 0.001), np.eye(6)[2], atol=1e-12)  # argmax
    np.testing.assert_allclose(proba.softmax(x, 1e4), np.full(6, 1 / 6), atol=1e-5)  # 1/k
    assert proba.softmax(x, 0.1)[2] > 0.8 > proba.softmax(x, 1)[2]  # T = 0.1 reinforces x_3


def test_softmax_jacobian_book_formula_and_finite_differences():
    x, h = np.array(X, dtype=float) / 4, 1e-6
    for t in (1.0, 0.5):
        jac = proba.softmax_jacobian(x, t)
        numeric = np.array([(proba.softmax(x + h * e, t) - proba.softmax(x - h * e, t)) / (2 * h)
                            for e in np.eye(5)]).T
        np.testing.assert_allclose(jac, numeric, atol=1e-8)
    s = proba.softmax(x)
    assert proba.softmax_jacobian(x)[0, 0] == pytest.approx(s[0] * (1 - s[0]))
    assert proba.softmax_jacobian(x)[0, 2] == pytest.approx(-s[0] * s[2])


def test_softmax_errors():
    for bad in (0, -1, float("nan"), "hot", True):
        with pytest.raises(ValueError, match="temperature must be a positive number"):
            proba.softmax(X, temperature=bad)
    with pytest.raises(ValueError, match="x is empty"):
        proba.softmax([])
    with pytest.raises(TypeError, match="x must hold real numbers"):
        proba.softmax(["a", "b"])
    with pytest.raises(ValueError, match="NaN or infinite"):
        proba.softmax([1.0, np.inf])
    with pytest.raises(ValueError, match="must be a vector"):
        proba.softmax_jacobian(np.zeros((2, 2)))


# ---- error functions ---------------------------------------------------------------------------
Y, Y_PRED = [1, 2, 5, 1, 3], [1.2, 1.9, 4.5, 1.1, 2.7]        # line 8104


def test_mse_and_mae_book_examples():
    assert proba.mean_squared_error(Y, Y_PRED) == pytest.approx(0.08)      # line 8108
    assert proba.mean_absolute_error(Y, Y_PRED) == pytest.approx(0.24)     # line 8122
    assert proba.mse is proba.erreur_quadratique_moyenne is proba.mean_squared_error
    assert proba.mae is proba.erreur_absolue_moyenne


def test_msle_book_example():
    y, y_pred = [1, 5, 10, 100], [2, 4, 8, 105]                            # line 8136
    e = proba.mean_squared_logarithmic_error(y, y_pred)
    assert round(e, 3) == 0.060                                            # line 8140
    assert proba.mae(y, y_pred) == pytest.approx(2.25)                     # line 8142: E' ≃ 2.25
    assert 0.55 < 5 / 4 / proba.mae(y, y_pred) < 0.56      # line 8142: "55%" of E'
    last = (np.log(101) - np.log(106)) ** 2 / 4
    assert last / e < 0.01                                   # "moins de 1% de l'erreur E"
    assert proba.msle is proba.erreur_logarithmique_moyenne


def test_binary_crossentropy_book_example():
    y, p = [1, 0, 1, 1, 0, 1], [0.9, 0.2, 0.8, 1.0, 0.1, 0.7]             # line 8156
    e = proba.binary_crossentropy(y, p)
    assert round(e, 2) == 0.17                                             # line 8160
    expected = -np.mean(np.log([0.9, 0.8, 0.8, 1.0, 0.9, 0.7]))
    assert e == pytest.approx(expected)
    assert proba.entropie_croisee_binaire is proba.binary_crossentropy
    assert proba.binary_crossentropy([1], [0.0]) == np.inf                 # certain and wrong
    assert proba.binary_crossentropy([1], [0.0], epsilon=1e-7) == pytest.approx(-np.log(1e-7))


def test_categorical_crossentropy():
    y = np.eye(3)[[0, 2]]
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    e = proba.categorical_crossentropy(y, p)
    assert e == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2)
    assert proba.categorical_crossentropy(y[0], p[0]) == pytest.approx(-np.log(0.7))
    # with a one-hot target, the categorical and the binary entropies agree on two classes
    assert proba.categorical_crossentropy([[0, 1]], [[0.3, 0.7]]) == pytest.approx(
        proba.binary_crossentropy([1], [0.7]))
    assert proba.entropie_croisee_categories is proba.categorical_crossentropy


def test_loss_errors():
    with pytest.raises(ValueError, match=r"y_true has shape \(5,\) but y_pred has shape \(4,\)"):
        proba.mse(Y, Y_PRED[:4])
    with pytest.raises(ValueError, match="y_pred must be > -1"):
        proba.msle([1, 2], [0, -1])
    with pytest.raises(ValueError, match=r"y_pred must be probabilities in \[0, 1\]"):
        proba.binary_crossentropy([1, 0], [1.2, 0.1])
    with pytest.raises(ValueError, match=r"y_true must be in \[0, 1\]"):
        proba.categorical_crossentropy([[2, 0]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="epsilon"):
        proba.binary_crossentropy([1], [0.5], epsilon=0.7)
    with pytest.raises(TypeError, match="y_true must hold real numbers"):
        proba.mae(["1"], [1])
    with pytest.raises(ValueError, match="y_pred is empty"):
        proba.mae(1, [])


# ---- normalisation -----------------------------------------------------------------------------
def test_normalize_pixels():
    image = np.array([[0, 51], [255, 102]], dtype=np.uint8)
    np.testing.assert_allclose(proba.normalize_pixels(image), [[0, 0.2], [1, 0.4]])
    with pytest.raises(ValueError, match=r"image must be grey levels in \[0, 255\]"):
        proba.normalize_pixels([0, 256])


def test_min_max_scale_to_unit_and_to_a_b():
    y = np.array([2.0, 4.0, 10.0])
    np.testing.assert_allclose(proba.min_max_scale(y), [0, 0.25, 1])           # line 8181
    # the correct [a, b] formula: y_min -> a, y_max -> b (the book's line 8186 swaps them)
    np.testing.assert_allclose(proba.min_max_scale(y, -1, 1), [-1, -0.5, 1])
    book_printed = (y - 2) / 8 * (-1 - 1) + 1
    np.testing.assert_allclose(book_printed, [1, 0.5, -1])                     # the erratum
    columns = np.array([[0.0, 10.0], [5.0, 30.0], [10.0, 20.0]])
    np.testing.assert_allclose(proba.min_max_scale(columns, axis=0),
                               [[0, 0], [0.5, 1], [1, 0.5]])


def test_min_max_scale_errors():
    with pytest.raises(ValueError, match="y is constant"):
        proba.min_max_scale([3, 3])
    with pytest.raises(ValueError, match="a < b"):
        proba.min_max_scale([1, 2], 1, 0)


def test_mean_variance_standard_deviation_heights():
    assert proba.mean(HEIGHTS) == pytest.approx(176.4)                         # line 8252
    assert proba.variance(HEIGHTS) == pytest.approx(61.04)                     # line 8257
    assert round(proba.standard_deviation(HEIGHTS), 1) == 7.8                  # line 8261
    assert proba.esperance is proba.mean and proba.ecart_type is proba.standard_deviation
    mu, sigma = proba.mean(HEIGHTS), proba.ecart_type(HEIGHTS)
    assert (round(mu - 2 * sigma), round(mu + 2 * sigma)) == (161, 192)        # line 8267
    m = np.random.default_rng(1).normal(size=(6, 3))
    np.testing.assert_allclose(proba.variance(m, axis=0), np.var(m, axis=0))   # 1/n, not 1/(n-1)


def test_z_score_heights():
    z = proba.z_score(HEIGHTS)
    # line 8275 (the book rounds -1.0752 to -1.07: within 0.01)
    np.testing.assert_allclose(z, [-0.56, -1.46, 1.36, 0.59, -1.20, 0.97, -1.07, -0.31, 0.46,
                                   1.23], atol=0.01)
    assert z.mean() == pytest.approx(0, abs=1e-12) and z.std() == pytest.approx(1)
    m = np.random.default_rng(2).normal(3, 5, size=(50, 4))
    np.testing.assert_allclose(proba.centrer_reduire(m, axis=0), stats.zscore(m, axis=0))
    with pytest.raises(ValueError, match="constant"):
        proba.z_score([1, 1, 1])


def test_normal_pdf():
    x = np.linspace(150, 200, 11)
    np.testing.assert_allclose(proba.normal_pdf(x, 176.4, 7.8), stats.norm.pdf(x, 176.4, 7.8))
    assert proba.loi_normale(0.0) == pytest.approx(1 / np.sqrt(2 * np.pi))
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        proba.normal_pdf(0.0, 0, 0)


# ---- Bernoulli, dropout ------------------------------------------------------------------------
def test_bernoulli_frequency_and_seed():
    draws = proba.bernoulli(0.8, 100_000, rng=0)                               # line 8312
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert abs(draws.mean() - 0.8) < 0.01
    np.testing.assert_array_equal(draws, proba.loi_bernoulli(0.8, 100_000, rng=0))
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        proba.bernoulli(1.5)


def test_dropout_keep_is_the_books_convention():
    x = np.ones((200, 500))
    out = proba.dropout_keep(x, 0.8, rng=np.random.default_rng(3))
    kept = out != 0
    assert abs(kept.mean() - 0.8) < 0.01                    # kept with probability p
    np.testing.assert_allclose(out[kept], 1 / 0.8)          # scaled by 1/p (line 8333)
    assert abs(out.mean() - 1) < 0.02                       # the expectation is preserved
    np.testing.assert_array_equal(proba.dropout_keep(x, 0.8, rng=7),
                                  proba.dropout_keep(x, 0.8, rng=7))
    np.testing.assert_array_equal(proba.dropout_keep(x, 0.5, training=False), x)  # test phase
    np.testing.assert_array_equal(proba.dropout_keep(x, 1.0, rng=0), x)


def test_dropout_rate_is_keras_convention():
    x = np.arange(1.0, 10_001.0)
    out = proba.dropout_rate(x, 0.2, rng=5)
    assert abs((out == 0).mean() - 0.2) < 0.015              # dropped with probability rate
    np.testing.assert_allclose(out[out != 0], x[out != 0] / 0.8)
    np.testing.assert_array_equal(out, proba.dropout_keep(x, 0.8, rng=5))


def test_dropout_errors():
    with pytest.raises(ValueError, match=r"p \(the keep probability\) must be in \(0, 1\]"):
        proba.dropout_keep([1.0], 0)
    with pytest.raises(ValueError, match=r"rate \(the drop probability\) must be in \[0, 1\)"):
        proba.dropout_rate([1.0], 1)
    with pytest.raises(TypeError, match="rng must be a seed"):
        proba.dropout_keep([1.0], 0.5, rng="seed")
