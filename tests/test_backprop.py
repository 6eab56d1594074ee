"""deepmath.backprop against the chapter "Rétropropagation" (line numbers: deepmath-book.txt).

The book prints its numbers truncated, not rounded (E(P_0) = 0.29619 is printed 0.2961, line
5125; F(1, 1) = 0.867 is printed 0.86, line 5085): `assert_printed` checks that the computed
value truncated to the printed number of decimals is the printed number.
"""
import numpy as np
import pytest

import deepmath.backprop as bp
from deepmath.perceptron import hebb_rule


def assert_printed(value, printed):
    """value truncated toward 0 to the decimals of the string `printed` equals it."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    p = float(printed)
    unit = 10.0 ** -decimals
    gap = (value - p) * (1 if p > 0 or (p == 0 and value >= 0) else -1)
    assert -1e-12 <= gap < unit + 1e-12, f"{value!r} does not print as {printed}"


def assert_all_printed(values, printed):
    assert len(values) == len(printed)
    for v, p in zip(values, printed):
        assert_printed(v, p)


# ---- §1: one sigmoid neuron, table lines 5039-5053 ----------------------------------------------
TABLE = {  # k: (P_k, grad E(P_k), E(P_k))
    0: (("0", "1", "-2"), ("-0.077", "0.192", "0.005"), "0.450"),
    1: (("0.077", "0.807", "-2.005"), ("-0.072", "0.213", "0.0069"), "0.404"),
    2: (("0.149", "0.593", "-2.012"), ("-0.094", "0.188", "-0.0062"), "0.355"),
    3: (("0.244", "0.404", "-2.006"), ("-0.120", "0.137", "-0.0237"), "0.313"),
    4: (("0.364", "0.267", "-1.982"), ("-0.090", "0.126", "-0.0240"), "0.282"),
    5: (("0.455", "0.140", "-1.958"), ("-0.073", "0.109", "-0.0263"), "0.259"),
    6: (("0.528", "0.031", "-1.932"), ("-0.059", "0.095", "-0.0278"), "0.242"),
    7: (("0.588", "-0.063", "-1.904"), ("-0.051", "0.083", "-0.0290"), "0.229"),
    8: (("0.639", "-0.146", "-1.875"), ("-0.044", "0.074", "-0.0297"), "0.219"),
    9: (("0.684", "-0.221", "-1.845"), ("-0.040", "0.067", "-0.0302"), "0.211"),
    10: (("0.72", "-0.288", "-1.815"), ("-0.036", "0.061", "-0.0305"), "0.205"),
    100: (("1.328", "-1.828", "0.333"), ("-0.00037", "0.00646", "-0.01780"), "0.103"),
    1000: (("2.032", "-3.860", "3.703"), ("-0.00034", "0.00073", "-0.00086"), "0.071"),
}


@pytest.fixture(scope="module")
def neuron_path():
    net, X, z, P0 = bp.sigmoid_neuron_example()
    return net, X, z, bp.gradient_descent(net, P0, X, z, delta=1.0, n_iter=1000)


@pytest.mark.parametrize("k", sorted(TABLE))
def test_sigmoid_neuron_table(neuron_path, k):
    *_, path = neuron_path
    P, grad, E = TABLE[k]
    assert_all_printed(path.P[k], P)
    assert_all_printed(path.grad[k], grad)
    assert_printed(path.E[k], E)


def test_sigmoid_neuron_first_step_and_decrease(neuron_path):
    *_, path = neuron_path
    # line 5035: P_1 = P_0 − δ grad E(P_0) = (0.077, 0.807, −2.005) with δ = 1
    np.testing.assert_allclose(path.P[1], path.P[0] - path.grad[0])
    # line 5004: "À chaque itération, l'erreur E(P_k) diminue."
    assert np.all(np.diff(path.E) < 0)
    assert path.P.shape == (1001, 3) and path.E.shape == (1001,)


def test_sigmoid_neuron_predictions(neuron_path):
    net, *_ = neuron_path
    P = np.array([2.032, -3.860, 3.703])           # P_1000 as printed, line 5078
    F = net(P, [[0, 3], [1, 1], [4, 3], [3, 2.75], [2, 3], [2, 1]])
    # lines 5085, 5087, 5091
    assert_all_printed(F, ["0.0003", "0.86", "0.56", "0.30", "0.02", "0.98"])


def test_sigmoid_neuron_hand_gradient(neuron_path):
    """§1.2, the book's formulas: ∂E_i/∂a = 2x_i σ_i(1 − σ_i)(σ_i − z_i), …"""
    net, X, z, _ = neuron_path
    P = np.array([0.3, -0.7, 1.1])
    s = 1 / (1 + np.exp(-(X @ P[:2] + P[2])))
    common = 2 * s * (1 - s) * (s - z)
    expected = np.array([np.mean(X[:, 0] * common), np.mean(X[:, 1] * common), np.mean(common)])
    np.testing.assert_allclose(net.gradient(P, X, z), expected, rtol=1e-12)


# ---- §2.1: the OU exclusif, lines 5123-5153 ----------------------------------------------------
def test_xor_network_book_values():
    net, X, z, P0 = bp.xor_example()
    path = bp.gradient_descent(net, P0, X, z, delta=1.0, n_iter=1000)
    assert_printed(path.E[0], "0.2961")                                    # line 5125
    assert_all_printed(path.grad[0], ["0.00349", "-0.00303", "-0.00832", "-0.00696",
                                      "-0.01350", "-0.01047", "-0.00324", "0.01258",
                                      "-0.04671"])                       # line 5127
    np.testing.assert_allclose(path.P[1], [0.9965, 2.0030, -2.9916, -2.9930, -1.9864, 1.0104,
                                           1.0032, 0.9874, -0.9532], atol=1e-4)   # line 5131
    assert_printed(path.E[1], "0.2935")                                    # line 5133
    np.testing.assert_allclose(path.P[2], [0.9925, 2.0055, -2.9839, -2.9860, -1.9731, 1.0206,
                                           1.0053, 0.9738, -0.9105], atol=1e-4)   # line 5135
    assert_printed(path.E[2], "0.2911")                                    # line 5137
    assert_all_printed(path.P[1000], ["3.5623", "3.5675", "-5.5344", "-5.3682", "-5.3935",
                                      "1.8403", "-6.3234", "-6.3801", "3.1216"])  # line 5141
    assert_printed(path.E[1000], "0.0097")                                 # line 5143
    F = net(path.P[1000], [[0, 0], [1, 1], [1, 0], [0, 1], [0.2, 0.9]])
    assert_all_printed(F, ["0.08", "0.10", "0.89", "0.89", "0.87"])        # lines 5148, 5153


def test_step_function_network_book_values():
    """§2.3, line 5240: P_5000 after 5000 steps of δ = 1 from P_0 (line 5235)."""
    net, X, z, P0 = bp.step_example()
    path = bp.gradient_descent(net, P0, X, z, delta=1.0, n_iter=5000)
    np.testing.assert_allclose(path.P[5000], [-2.0142, 10.9964, 3.0543, -7.7086, 8.2334,
                                              7.8735, -11.9037], atol=1.5e-4)
    F = net(path.P[5000], X)
    assert np.all(np.abs(F - z) < 0.2)        # 0 on [0, 2] ∪ [6, 8], 1 on [3, 5]


# ---- the gradient: backpropagation = autodiff = finite differences ------------------------------
ARCHITECTURES = [((2, 1), "sigmoid"), ((2, 2, 1), "sigmoid"), ((1, 2, 1), "sigmoid"),
                 ((3, 4, 3, 2), ["tanh", "sigmoid", "identity"]),
                 ((2, 5, 1), ["relu", "linear"])]


@pytest.mark.parametrize("sizes,activation", ARCHITECTURES)
def test_gradient_matches_autodiff_and_finite_differences(sizes, activation):
    rng = np.random.default_rng(len(sizes) * 7 + sizes[0])
    net = bp.DenseNetwork(sizes, activation)
    X = rng.normal(size=(11, sizes[0]))
    z = rng.normal(size=(11, sizes[-1]))
    P = rng.normal(size=net.n_params)
    g = net.gradient(P, X, z)
    np.testing.assert_allclose(g, net.gradient_autodiff(P, X, z), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(g, net.gradient_numeric(P, X, z), rtol=1e-5, atol=1e-8)
    assert net.retropropagation(P, X, z) is not None and g.shape == P.shape


def test_pack_unpack_and_parameter_order():
    net = bp.DenseNetwork((2, 2, 1))
    P = np.arange(1.0, 10.0)                       # a_1 … a_9 of §2.1
    (W1, b1), (W2, b2) = net.unpack(P)
    np.testing.assert_array_equal(W1, [[1, 2], [4, 5]])     # neuron: coefficients, then bias
    np.testing.assert_array_equal(b1, [3, 6])
    np.testing.assert_array_equal(W2, [[7, 8]])
    np.testing.assert_array_equal(b2, [9])
    np.testing.assert_array_equal(net.pack(net.unpack(P)), P)
    assert net.n_params == 9


def test_to_network_and_keras_agree():
    net, X, z, P0 = bp.xor_example()
    points = np.random.default_rng(0).uniform(-1, 2, size=(50, 2))
    np.testing.assert_allclose(net.to_network(P0)(points), net(P0, points), rtol=1e-12)
    model = net.to_network(P0).to_keras()
    np.testing.assert_allclose(model.predict(points.astype(np.float32), verbose=0).ravel(),
                               net(P0, points), rtol=1e-5)


def test_heaviside_virtual_derivative_gives_the_hebb_rule():
    """§2.2, lines 5176-5188: with H̃' = 1, one stochastic gradient step on (X_i, z_i) is the
    Hebb step P ∓ 2δX_i."""
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    z = np.array([0.0, 1.0, 1.0, 1.0])
    net = bp.DenseNetwork((3, 1), "heaviside")
    # a linear perceptron (no bias) on inputs whose last coordinate is 1
    hebb = hebb_rule(X, z, P0=[0.5, -1.0, -0.25], delta=0.5, n_iter=12)
    for k in range(12):
        i = k % 4
        P = np.concatenate([hebb[k], [0.0]])          # bias of the DenseNetwork neuron: 0
        step = 0.5 * net.gradient(P, X[i:i + 1], z[i:i + 1])[:3]
        np.testing.assert_allclose(hebb[k + 1], hebb[k] - step)
        np.testing.assert_allclose(net.gradient_autodiff(P, X[i:i + 1], z[i:i + 1])[:3],
                                   step / 0.5)


# ---- bad input -----------------------------------------------------------------------------------
def test_bad_input_raises():
    with pytest.raises(ValueError, match="sizes"):
        bp.DenseNetwork((2,))
    with pytest.raises(ValueError, match="activation"):
        bp.DenseNetwork((2, 1), "softmax")
    with pytest.raises(ValueError, match="activation"):
        bp.DenseNetwork((2, 2, 1), ["sigmoid"])
    net, X, z, P0 = bp.sigmoid_neuron_example()
    with pytest.raises(ValueError, match="P must be a vector of 3"):
        net.error(np.zeros(4), X, z)
    with pytest.raises(ValueError, match="z must hold"):
        net.gradient(P0, X, z[:5])
    with pytest.raises(ValueError, match="X: the network has 2 inputs"):
        net(P0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="delta"):
        bp.gradient_descent(net, P0, X, z, delta=0)
    with pytest.raises(ValueError, match="n_iter"):
        bp.gradient_descent(net, P0, X, z, n_iter=-1)
    with pytest.raises(TypeError, match="DenseNetwork"):
        bp.gradient_descent("net", P0, X, z)
    assert bp.descente_de_gradient is bp.gradient_descent
