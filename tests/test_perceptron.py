"""deepmath.perceptron against the chapter "Réseau de neurones" (line numbers: deepmath-book.txt)
and the Hebb rule of the chapter "Rétropropagation" (§2.2)."""
import itertools

import numpy as np
import pytest
from scipy.spatial import Delaunay

import deepmath
import deepmath.keras.models
import deepmath.perceptron as pc
from deepmath.perceptron import Layer, Network, Perceptron

BITS2 = np.array(list(itertools.product([0, 1], repeat=2)), dtype=float)
BITS3 = np.array(list(itertools.product([0, 1], repeat=3)), dtype=float)
RNG = np.random.default_rng(6)


# ---- §1 perceptrons ------------------------------------------------------------------------------
def test_linear_perceptron_book_example():
    """§1.1, lines 2235-2240: weights a = 2, b = 3."""
    F = pc.perceptron_lineaire([2, 3])
    assert F.affine(4, -1) == 5 and F(4, -1) == 1.0
    assert F.affine(-3, 1) == -3 and F(-3, 1) == 0.0
    assert F.affine(6, -4) == 0 and F(6, -4) == 1.0              # H(0) = 1
    np.testing.assert_array_equal(F([[4, -1], [-3, 1], [6, -4]]), [1, 0, 1])
    assert F.bias == 0.0 and list(F.weights) == [2, 3]


def test_affine_sigmoid_perceptron_book_example():
    """§1.2, lines 2353-2355: a = 85, b = −1, c = −77 with σ; F(1.77, 75) ≃ 0.17 (σ(−1.55) =
    0.175, truncated by the book) and F(1.67, 64) ≃ 0.72."""
    F = pc.perceptron_affine([85, -1], -77, activation="sigmoid")
    assert F.affine(1.77, 75) == pytest.approx(-1.55)
    assert F(1.77, 75) == pytest.approx(1 / (1 + np.exp(1.55)))
    assert 0.17 <= F(1.77, 75) < 0.18
    assert 0.72 <= F(1.67, 64) < 0.73


def test_red_colour_perceptron():
    """§1.2, line 2375: the plane 2x − 2y − 2z − 1 = 0 through A, B, C bounds the reds."""
    F = Perceptron([2, -2, -2], -1)
    np.testing.assert_array_equal(F([[1, 0, 0], [0.5, 0, 0], [1, 0.5, 0], [1, 0, 0.5],
                                     [0.9, 0.1, 0.1], [0, 0, 0], [0.5, 0.5, 0.5], [1, 1, 1]]),
                                  [1, 1, 1, 1, 1, 0, 0, 0])


# ---- §2.1 and §4.1 gates -------------------------------------------------------------------------
@pytest.mark.parametrize("gate,table", [
    (pc.and_gate(), [0, 0, 0, 1]), (pc.or_gate(), [0, 1, 1, 1]),
    (pc.nand_gate(), [1, 1, 1, 0]), (pc.xor_network(), [0, 1, 1, 0]),
    (pc.et(), [0, 0, 0, 1]), (pc.ou(), [0, 1, 1, 1]), (pc.ou_exclusif(), [0, 1, 1, 0])])
def test_gate_truth_tables(gate, table):
    np.testing.assert_array_equal(gate(BITS2), table)


def test_gate_weights_and_three_inputs():
    """§2.1, lines 2392-2398: OU is (1, 1, −1), ET is (1, 1, −2); NON is s ↦ H(1 − 2s)
    (line 2712); ET and OU with three inputs (the exercise after Prop. 2)."""
    assert list(pc.or_gate().weights) == [1, 1] and pc.or_gate().bias == -1
    assert list(pc.and_gate().weights) == [1, 1] and pc.and_gate().bias == -2
    np.testing.assert_array_equal(pc.not_gate()([0.0, 1.0]), [1, 0])
    np.testing.assert_array_equal(pc.and_gate(3)(BITS3), BITS3.all(axis=1))
    np.testing.assert_array_equal(pc.or_gate(3)(BITS3), BITS3.any(axis=1))
    np.testing.assert_array_equal(pc.nand_gate(3)(BITS3), ~BITS3.all(axis=1))


def test_xor_network_regions():
    """§4.1: F = 0 on the central band between the two lines, 1 elsewhere."""
    xor = pc.xor_network()
    pts = RNG.uniform(-3, 3, size=(2000, 2))
    np.testing.assert_array_equal(xor(pts), np.abs(pts[:, 0] - pts[:, 1]) >= 1)
    assert xor.depth == 2 and xor.n_neurons == 3


# ---- §3 networks ---------------------------------------------------------------------------------
def test_relu_heaviside_network_book_example():
    """§3.1, lines 2523-2529: ReLU neurons (2, −1) and (−3, 2), output H(4s_1 + 5s_2 − 1)."""
    net = Network([Layer.from_neurons([([2, -1], 0), ([-3, 2], 0)], "relu"),
                   Layer.from_neurons([([4, 5], -1)], "heaviside")])
    hidden, out = net.forward(np.array([[4, 7], [3, 2], [0.1, 0.1]]))
    np.testing.assert_allclose(hidden, [[1, 2], [4, 0], [0.1, 0]])
    np.testing.assert_array_equal(out[:, 0], [1, 1, 0])
    assert net(4, 7) == 1.0 and net([0.1, 0.1]) == 0.0


def test_sector_network_is_intersection_of_half_planes():
    """§3.2 (and the keras_facile program, lines 3329-3334): H(−x + 3y), H(2x + y), then
    ET (1, 1, −2): 1 on an angular sector."""
    book = Network([Layer.from_neurons([([-1, 3], 0), ([2, 1], 0)]),
                    Layer.from_neurons([([1, 1], -2)])])
    ours = pc.intersection(pc.half_plane(-1, 3, 0), pc.half_plane(2, 1, 0))
    pts = RNG.uniform(-5, 5, size=(3000, 2))
    inside = (-pts[:, 0] + 3 * pts[:, 1] >= 0) & (2 * pts[:, 0] + pts[:, 1] >= 0)
    np.testing.assert_array_equal(book(pts), inside)
    np.testing.assert_array_equal(ours(pts), inside)
    # the same weights with OU: the union of the half-planes (§3.2, second example)
    union = pc.union(pc.half_plane(-1, 3, 0), pc.half_plane(2, 1, 0))
    np.testing.assert_array_equal(union(pts), (-pts[:, 0] + 3 * pts[:, 1] >= 0)
                                  | (2 * pts[:, 0] + pts[:, 1] >= 0))


def test_keras_export_evaluates_the_same():
    net = Network([Layer.from_neurons([([2, -1], 0), ([-3, 2], 0)], "relu"),
                   Layer.from_neurons([([4, 5], -1)], "sigmoid")])
    pts = RNG.uniform(-2, 2, size=(40, 2))
    model = net.to_keras()
    assert isinstance(model, deepmath.keras.models.Sequential)
    np.testing.assert_allclose(model.predict(pts.astype(np.float32), verbose=0)[:, 0],
                               net(pts), rtol=1e-5)
    for w, v in zip(model.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(w, v.astype(np.float32))


# ---- §4.2 realisable sets ------------------------------------------------------------------------
def _in_polygon(points, vertices):
    """Direct geometric test: even-odd ray casting."""
    v = np.asarray(vertices, dtype=float)
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    x0, y0 = v[:, 0], v[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = ((y0 > y) != (y1 > y)) & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0 + 1e-300))
    return crosses.sum(axis=1) % 2 == 1


def test_triangle_network_book_example():
    """§3.2, line 2593: −x + 2y ≥ 0, x + y − 2 ≥ 0, −y + 3 ≥ 0 and ET: the triangle with
    vertices (4/3, 2/3), (6, 3), (−1, 3); Prop. 3: n + 1 = 4 neurons."""
    book = Network([Layer.from_neurons([([-1, 2], 0), ([1, 1], -2), ([0, -1], 3)]),
                    pc.and_gate(3).layers[0]])
    tri = [(4 / 3, 2 / 3), (6, 3), (-1, 3)]
    ours = pc.convex_polygon(tri)
    pts = RNG.uniform(-2, 7, size=(4000, 2))
    np.testing.assert_array_equal(book(pts), ours(pts))
    np.testing.assert_array_equal(ours(pts), Delaunay(tri).find_simplex(pts) >= 0)
    assert ours.n_neurons == 4


def test_convex_polygon_membership_either_orientation():
    hexagon = [(np.cos(t), np.sin(t)) for t in np.linspace(0, 2 * np.pi, 7)[:-1]]
    pts = RNG.uniform(-1.2, 1.2, size=(4000, 2))
    expected = Delaunay(hexagon).find_simplex(pts) >= 0
    np.testing.assert_array_equal(pc.convex_polygon(hexagon)(pts), expected)
    np.testing.assert_array_equal(pc.convex_polygon(hexagon[::-1])(pts), expected)
    assert pc.convex_polygon(hexagon).n_neurons == 7


@pytest.mark.parametrize("vertices", [
    [(0, 0), (4, 0), (4, 4), (2, 1), (0, 4)],                            # notched square
    [(0, 0), (3, 0), (3, 1), (1, 1), (1, 3), (0, 3)],                    # L shape
    [(np.cos(t) * r, np.sin(t) * r) for t, r in                           # five-point star
     zip(np.linspace(0, 2 * np.pi, 11)[:-1], [2, 0.8] * 5)]])
def test_polygon_membership_matches_ray_casting(vertices):
    """Prop. 5: any polygon, as a union of triangles."""
    net = pc.polygon(vertices)
    pts = RNG.uniform(-2.5, 4.5, size=(5000, 2))
    np.testing.assert_array_equal(net(pts), _in_polygon(pts, vertices))
    np.testing.assert_array_equal(pc.polygon(vertices[::-1])(pts), _in_polygon(pts, vertices))


def test_set_operations_match_boolean_algebra():
    """Prop. 4: A ∪ B, A ∩ B, A^c, A \\ B, for networks of different depths."""
    A = pc.polygon([(0, 0), (4, 0), (4, 4), (2, 1), (0, 4)])           # depth 3
    B = pc.half_plane(1, -1, 0.5)                                        # depth 1
    C = pc.convex_polygon([(1, 1), (5, 1), (5, 5)])                      # depth 2
    pts = RNG.uniform(-1, 6, size=(4000, 2))
    a, b, c = A(pts) == 1, B(pts) == 1, C(pts) == 1
    np.testing.assert_array_equal(pc.union(A, B)(pts), a | b)
    np.testing.assert_array_equal(pc.intersection(A, B, C)(pts), a & b & c)
    np.testing.assert_array_equal(pc.complement(A)(pts), ~a)
    np.testing.assert_array_equal(pc.difference(A, C)(pts), a & ~c)
    np.testing.assert_array_equal(pc.union(pc.complement(B), C)(pts), ~b | c)


# ---- §5 universal approximation ------------------------------------------------------------------
def test_step_and_bump():
    """§5.1-5.2: marches and créneau (two H neurons, output s_1 + s_2 − 1, times k)."""
    np.testing.assert_array_equal(pc.step(2)([1.9, 2, 3]), [0, 1, 1])
    np.testing.assert_array_equal(pc.marche(2, up=False)([1.9, 2, 3]), [1, 1, 0])
    bump = pc.creneau(1, 3, height=2.5)
    np.testing.assert_array_equal(bump([0.5, 1, 2, 3, 3.5]), [0, 2.5, 2.5, 2.5, 0])
    assert bump.n_neurons == 3
    np.testing.assert_array_equal(bump.layers[1].kernel[:, 0], [2.5, 2.5])
    assert bump.layers[1].bias[0] == -2.5


def test_staircase_book_example():
    """§5.3, line 2844: F = 4 on [2, 3], 6 on [5, 10], 0 elsewhere; 2n + 1 neurons
    (Prop. 6); output bias −4 − 6 = −10."""
    F = pc.fonction_escalier([(2, 3), (5, 10)], [4, 6])
    x = [0, 1.99, 2, 2.5, 3, 3.01, 4.99, 5, 7, 10, 10.01]
    np.testing.assert_array_equal(F(x), [0, 0, 4, 4, 4, 0, 0, 6, 6, 6, 0])
    assert F.n_neurons == 5 and F.layers[1].bias[0] == -10


def _book_f(x):
    return np.cos(2 * x) + x * np.sin(3 * x) + np.sqrt(x)     # line 3258, on [2, 10]


def test_approximate_1d_uniform_bound_and_convergence():
    """Theorem 2 with the keras chapter's f (line 3258) and n = 5, 10, 20, 50, 100
    (line 3283): |f − F| ≤ L (b − a)/n, L = max |f'|, and the error decreases with n."""
    a, b = 2.0, 10.0
    x = np.linspace(a, b, 20001)
    fine = np.linspace(a, b, 200001)
    L = np.max(np.abs(np.gradient(_book_f(fine), fine))) * 1.01
    errors = []
    for n in (5, 10, 20, 50, 100):
        F = pc.approximate_1d(_book_f, a, b, n)
        err = np.max(np.abs(F(x) - _book_f(x)))
        assert err <= L * (b - a) / n
        errors.append(err)
        nodes = np.linspace(a, b, n + 1)
        np.testing.assert_allclose(F(nodes[:-1]), _book_f(nodes[:-1]), atol=1e-12)
        assert F(b) == pytest.approx(_book_f(nodes[-2]))        # last interval is closed
        assert F(a - 0.01) == 0 and F(b + 0.01) == 0
        assert F.n_neurons == 2 * n + 1
    # n = 5 and 10 are both too coarse for x sin 3x (errors ≈ 16.0); then it halves
    assert all(e1 > e2 for e1, e2 in zip(errors[1:], errors[2:]))


def test_approximate_1d_keras_model_matches():
    F = pc.approximate_1d(_book_f, 2, 10, 20)
    x = np.linspace(2.05, 9.95, 80) + 0.013        # away from the steps, for float32
    model = F.to_keras()
    np.testing.assert_allclose(model.predict(x[:, None].astype(np.float32), verbose=0)[:, 0],
                               F(x), rtol=1e-5, atol=1e-5)


def test_approximate_2d_towers():
    """Theorem 3 (§5.5): error ≤ L_x (b − a)/n + L_y (d − c)/m, decreasing with n; with
    n = 1 and f = 1, the indicator of [0, 1] × [0, 1] (line 2905)."""
    def f(x, y):
        return np.sin(x) * np.cos(2 * y)            # |∂f/∂x| ≤ 1, |∂f/∂y| ≤ 2
    pts = RNG.uniform(0, 2, size=(4000, 2))
    errors = []
    for n in (2, 4, 8, 16):
        F = pc.approximate_2d(f, (0, 2), (0, 2), n)
        err = np.max(np.abs(F(pts) - f(pts[:, 0], pts[:, 1])))
        assert err <= 1 * 2 / n + 2 * 2 / n
        errors.append(err)
        assert F.depth == 3 and F.layers[1].n_outputs == n * n
    assert all(e1 > e2 for e1, e2 in zip(errors, errors[1:]))
    tower = pc.approximate_2d(lambda x, y: 1.0, (0, 1), (0, 1), 1)
    q = RNG.uniform(-1, 2, size=(3000, 2))
    np.testing.assert_array_equal(tower(q), np.all((q >= 0) & (q <= 1), axis=1))
    assert tower(1, 1) == 1 and tower(0, 1.0001) == 0


# ---- Hebb and perceptron rules (chapter "Rétropropagation", §2.2, lines 5192-5213) ------------
AUGMENTED = np.column_stack([BITS2, np.ones(4)])   # a constant input 1 carries the bias


def test_hebb_rule_steps_as_the_book_writes_them():
    z = np.array([0, 1, 1, 1.0])                  # OU
    path = pc.regle_de_hebb(AUGMENTED, z, P0=[0, 0, 0], delta=0.25, n_iter=16)
    assert path.shape == (17, 3)
    for k in range(16):
        x, target = AUGMENTED[k % 4], z[k % 4]
        F = float(path[k] @ x >= 0)
        expected = path[k] + 2 * 0.25 * (target - F) * x   # unchanged / −2δX_i / +2δX_i
        np.testing.assert_allclose(path[k + 1], expected)
    np.testing.assert_array_equal(Perceptron(path[-1])(AUGMENTED), z)
    np.testing.assert_array_equal(path[1], [0, 0, -0.5])    # F(0, 0) = H(0) = 1 but z = 0


def test_hebb_step_is_stochastic_gradient_with_virtual_heaviside():
    """§2.2: grad E_i = 2(F(X_i) − z_i) X_i with H̃' = 1 (deepmath's straight-through step)."""
    z = np.array([0, 0, 0, 1.0])                  # ET
    path = pc.hebb_rule(AUGMENTED, z, P0=[0.3, -0.2, 0.1], delta=0.5, n_iter=8)
    for k in range(8):
        x, target = AUGMENTED[k % 4], z[k % 4]
        P = deepmath.tensor(path[k], requires_grad=True)
        F = deepmath.ops.heaviside(deepmath.ops.sum(P * deepmath.tensor(x)),
                                   straight_through=True)
        ((F - target) ** 2).backward()
        np.testing.assert_allclose(path[k + 1], path[k] - 0.5 * P.grad.numpy())


def test_perceptron_rule_learns_separable_gates_but_not_xor():
    """The learned perceptrons realise ET and OU; no perceptron realises OUex (Prop. 1,
    line 2410), so the rule never converges on it."""
    for table in ([0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 0]):
        P, epochs = pc.perceptron_rule(AUGMENTED, table)
        assert epochs is not None
        np.testing.assert_array_equal(Perceptron(P)(AUGMENTED), table)
    P, epochs = pc.perceptron_rule(AUGMENTED, [0, 1, 1, 0], max_epochs=200)
    assert epochs is None
    # Rosenblatt's rule with η is the Hebb rule with δ = η/2
    hebb = pc.hebb_rule(AUGMENTED, [0, 1, 1, 1], delta=0.5, n_iter=40)
    P, epochs = pc.perceptron_rule(AUGMENTED, [0, 1, 1, 1], eta=1.0)
    np.testing.assert_allclose(hebb[-1], P)


# ---- bad input -----------------------------------------------------------------------------------
def test_bad_input_raises():
    with pytest.raises(ValueError, match="weights"):
        Perceptron([])
    with pytest.raises(ValueError, match="bias"):
        Perceptron([1, 2], [1, 2])
    with pytest.raises(ValueError, match="activation"):
        Perceptron([1], 0, activation="softmax")
    with pytest.raises(TypeError, match="activation"):
        Perceptron([1], 0, activation=np.sin)
    with pytest.raises(ValueError, match="bias must have one value per neuron"):
        Layer(np.ones((2, 3)), [0, 0])
    with pytest.raises(ValueError, match="layer 0 has 3 outputs"):
        Network([Layer(np.ones((2, 3)), np.zeros(3)), Layer(np.ones((2, 1)), [0])])
    with pytest.raises(TypeError, match="layers"):
        Network([])
    with pytest.raises(ValueError, match="2 input"):
        pc.and_gate()([1, 0, 1])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        pc.or_gate(0)
    with pytest.raises(ValueError, match="not a line"):
        pc.half_plane(0, 0, 1)
    with pytest.raises(ValueError, match="not convex"):
        pc.convex_polygon([(0, 0), (4, 0), (4, 4), (2, 1), (0, 4)])
    with pytest.raises(ValueError, match="at least 3 points"):
        pc.polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="zero area"):
        pc.polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ValueError, match="not simple"):
        pc.polygon([(0, 0), (2, 2), (2, 0), (0, 2), (-1, 1)])
    with pytest.raises(ValueError, match="heaviside"):
        pc.union(pc.half_plane(1, 0, 0), Perceptron([1, 1], 0, "sigmoid"))
    with pytest.raises(ValueError, match="different numbers of inputs"):
        pc.union(pc.half_plane(1, 0, 0), Perceptron([1, 1, 1]))
    with pytest.raises(ValueError, match="a < b"):
        pc.approximate_1d(np.sin, 1, 1, 3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        pc.approximate_1d(np.sin, 0, 1, 0)
    with pytest.raises(TypeError, match="f must be a function"):
        pc.approximate_1d(3.0, 0, 1, 2)
    with pytest.raises(ValueError, match="same non-zero length"):
        pc.staircase([(0, 1)], [1, 2])
    with pytest.raises(ValueError, match="z: the expected outputs must be 0 or 1"):
        pc.hebb_rule(AUGMENTED, [0, 2, 1, 1])
    with pytest.raises(ValueError, match="P0 must have 3 weights"):
        pc.hebb_rule(AUGMENTED, [0, 1, 1, 1], P0=[0, 0])
    with pytest.raises(ValueError, match="delta"):
        pc.hebb_rule(AUGMENTED, [0, 1, 1, 1], delta=0)
