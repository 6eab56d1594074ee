"""Perceptrons and hand-weighted networks (book, chapter "Réseau de neurones").

Everything here is plain numpy: a neuron computes φ(a_1 x_1 + … + a_n x_n + a_0), a layer is
several neurons side by side, a `Network` is a list of layers evaluated one after the other.
The weights are set by hand, as in the chapter; training comes with the chapter
"Rétropropagation" (`deepmath.backprop`), whose §2.2 also gives the Hebb rule found here.

    from deepmath.perceptron import Perceptron, xor_network, convex_polygon
    Perceptron([2, 3])(4, -1)                     # 1.0: 2·4 + 3·(−1) = 5 ≥ 0  (§1.1)
    xor_network()([[0, 0], [0, 1], [1, 0], [1, 1]])   # [0, 1, 1, 0]  (§4.1)
    convex_polygon([(0, 0), (2, 0), (0, 2)])(0.5, 0.5)  # 1.0: inside the triangle (§4.2)

Sections:
  §1   perceptron linéaire / affine: `Perceptron`, `perceptron_lineaire`, `perceptron_affine`;
  §2.1 OU, ET, OU exclusif: `or_gate`, `and_gate`, `not_gate`, `nand_gate`, `xor_network`;
  §3   réseau de neurones: `Layer`, `Network` (`to_keras()` gives a deepmath Keras Sequential);
  §4.2 ensembles réalisables: `half_plane`, `convex_polygon`, `polygon`, `union`,
       `intersection`, `complement`, `difference`;
  §5   théorème d'approximation universelle: `step`, `bump`, `staircase`, `approximate_1d`,
       `approximate_2d` (marches, créneaux, fonctions en escalier, tours);
  Rétropropagation §2.2: `hebb_rule` (règle de Hebb) and `perceptron_rule` (Rosenblatt).
"""
import numpy as np
from scipy.special import expit

__all__ = ["ACTIVATIONS", "heaviside", "sigmoid", "relu", "identity", "Layer", "Network",
           "Perceptron", "perceptron_lineaire", "perceptron_affine", "and_gate", "or_gate",
           "not_gate", "nand_gate", "xor_network", "et", "ou", "non", "ou_exclusif",
           "half_plane", "convex_polygon", "polygon", "union", "intersection", "complement",
           "difference", "step", "bump", "staircase", "approximate_1d", "approximate_2d",
           "marche", "creneau", "fonction_escalier", "hebb_rule", "regle_de_hebb",
           "perceptron_rule"]


# ---- activations (§1.1: "fonction marche de Heaviside", σ, th, ReLU) -------------------------
def heaviside(x):
    """H(x) = 1 if x ≥ 0, 0 otherwise (the book's convention: H(0) = 1)."""
    return (np.asarray(x) >= 0).astype(np.float64)


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x))."""
    return expit(x)


def relu(x):
    """ReLU(x) = max(x, 0)."""
    return np.maximum(x, 0.0)


def identity(x):
    """φ(x) = x (the output neuron of the universal approximation theorem, §5)."""
    return np.asarray(x, dtype=np.float64)


ACTIVATIONS = {"heaviside": heaviside, "sigmoid": sigmoid, "relu": relu, "tanh": np.tanh,
               "identity": identity, "linear": identity}
_KERAS_NAMES = {"sigmoid": "sigmoid", "relu": "relu", "tanh": "tanh", "identity": "linear",
                "linear": "linear"}


def _activation_name(activation):
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: unknown name {activation!r}; known: "
                             f"{', '.join(sorted(ACTIVATIONS))}")
        return activation
    raise TypeError(f"activation must be one of the names {sorted(ACTIVATIONS)}, "
                    f"got {activation!r}")


def _as_inputs(x, n_inputs):
    """Inputs as a (N, n_inputs) float array, and whether a single input was given:
    f(x, y) or f([x, y]) is one input, f(points) with points (N, n) is N of them (for one
    variable, f(3) is one input and f([1, 2, 3]) three)."""
    arr = np.asarray(x[0] if len(x) == 1 else x, dtype=np.float64)
    single = arr.ndim == 0 or (arr.ndim == 1 and (n_inputs > 1 or arr.size == 1))
    if arr.ndim == 0 or (arr.ndim == 1 and not single):
        arr = arr.reshape(-1, 1)
    elif arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_inputs:
        raise ValueError(f"input: the network has {n_inputs} input(s), got an array of shape "
                         f"{np.shape(x[0] if len(x) == 1 else x)}")
    return arr, single


# ---- layers and networks (§3) -----------------------------------------------------------------
class Layer:
    """A layer of neurons sharing one activation. `kernel` has Keras' shape (n_in, n_out):
    column j holds the coefficients of neuron j; `bias[j]` is its bias a_0."""

    def __init__(self, kernel, bias, activation="heaviside"):
        kernel = np.array(kernel, dtype=np.float64, ndmin=2)
        bias = np.array(bias, dtype=np.float64, ndmin=1)
        if kernel.ndim != 2:
            raise ValueError(f"kernel must be a matrix (n_in, n_out), got shape {kernel.shape}")
        if bias.shape != (kernel.shape[1],):
            raise ValueError(f"bias must have one value per neuron ({kernel.shape[1]}), got "
                             f"shape {bias.shape}")
        self.kernel, self.bias = kernel, bias
        self.activation = _activation_name(activation)

    @classmethod
    def from_neurons(cls, neurons, activation="heaviside"):
        """The layer of the neurons [(coefficients, bias), …], written as in the book."""
        neurons = list(neurons)
        if not neurons:
            raise ValueError("neurons: a layer needs at least one (coefficients, bias) pair")
        kernel = np.column_stack([np.ravel(np.asarray(c, dtype=np.float64)) for c, _ in neurons])
        return cls(kernel, [b for _, b in neurons], activation)

    n_inputs = property(lambda self: self.kernel.shape[0])
    n_outputs = property(lambda self: self.kernel.shape[1])

    def __call__(self, x):
        return ACTIVATIONS[self.activation](x @ self.kernel + self.bias)

    def __repr__(self):
        return f"Layer({self.n_inputs} → {self.n_outputs}, {self.activation})"


class Network:
    """A feed-forward network: its function F is the composition of its layers (§3.1)."""

    def __init__(self, layers):
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise TypeError("layers must be a non-empty list of Layer")
        for k, (prev, nxt) in enumerate(zip(layers, layers[1:])):
            if prev.n_outputs != nxt.n_inputs:
                raise ValueError(f"layer {k} has {prev.n_outputs} outputs but layer {k + 1} "
                                 f"expects {nxt.n_inputs} inputs")
        self.layers = layers

    n_inputs = property(lambda self: self.layers[0].n_inputs)
    n_outputs = property(lambda self: self.layers[-1].n_outputs)
    depth = property(lambda self: len(self.layers))
    n_neurons = property(lambda self: sum(layer.n_outputs for layer in self.layers))

    def forward(self, x):
        """The outputs of every layer for the inputs x of shape (N, n_inputs)."""
        outputs = [np.asarray(x, dtype=np.float64)]
        for layer in self.layers:
            outputs.append(layer(outputs[-1]))
        return outputs[1:]

    def __call__(self, *x):
        """F(x): `net(x, y)`, `net([x, y])` or `net(points)` with points of shape (N, n).
        A float for one input and one output neuron, else an array (N,) or (N, n_outputs)."""
        arr, single = _as_inputs(x, self.n_inputs)
        out = self.forward(arr)[-1]
        if self.n_outputs == 1:
            out = out[:, 0]
        return (float(out[0]) if self.n_outputs == 1 else out[0]) if single else out

    def get_weights(self):
        """[kernel_0, bias_0, kernel_1, bias_1, …] in Keras' shapes and order."""
        return [w for layer in self.layers for w in (layer.kernel.copy(), layer.bias.copy())]

    def to_keras(self):
        """The same network as a deepmath Keras `Sequential` (float32 weights)."""
        from .layers import Dense, Input
        from .models import Sequential
        from .ops import heaviside as dm_heaviside
        model = Sequential()
        model.add(Input(shape=(self.n_inputs,)))
        for layer in self.layers:
            activation = _KERAS_NAMES.get(layer.activation, dm_heaviside)
            model.add(Dense(layer.n_outputs, activation=activation))
            model.layers[-1].set_weights([layer.kernel.astype(np.float32),
                                          layer.bias.astype(np.float32)])
        return model

    def __repr__(self):
        return f"Network({self.layers})"


class Perceptron(Network):
    """One neuron: F(x) = φ(a_1 x_1 + … + a_n x_n + a_0) (§1.1-1.2). With bias 0 it is the
    book's perceptron linéaire, otherwise a perceptron affine."""

    def __init__(self, weights, bias=0.0, activation="heaviside"):
        weights = np.ravel(np.asarray(weights, dtype=np.float64))
        if weights.size == 0:
            raise ValueError("weights: a perceptron needs at least one coefficient")
        if not np.ndim(bias) == 0:
            raise ValueError(f"bias must be a number, got {bias!r}")
        super().__init__([Layer(weights[:, None], [bias], activation)])

    weights = property(lambda self: self.layers[0].kernel[:, 0].copy())
    bias = property(lambda self: float(self.layers[0].bias[0]))

    def affine(self, *x):
        """f(x) = a_1 x_1 + … + a_n x_n + a_0, the value before activation."""
        arr, single = _as_inputs(x, self.n_inputs)
        out = arr @ self.layers[0].kernel[:, 0] + self.bias
        return float(out[0]) if single else out


def perceptron_lineaire(poids, activation="heaviside"):
    """Perceptron linéaire (§1.1): coefficients a_1…a_n, no bias."""
    return Perceptron(poids, 0.0, activation)


def perceptron_affine(poids, biais, activation="heaviside"):
    """Perceptron affine (§1.2): coefficients a_1…a_n and bias a_0."""
    return Perceptron(poids, biais, activation)


# ---- logic gates (§2.1, §4.1, §4.2 Prop. 4) ---------------------------------------------------
def _check_arity(n):
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer (number of inputs), got {n!r}")


def and_gate(n=2):
    """x_1 ET … ET x_n: coefficients 1, bias −n (§2.1 with n = 2: a = b = 1, c = −2)."""
    _check_arity(n)
    return Perceptron(np.ones(n), -float(n))


def or_gate(n=2):
    """x_1 OU … OU x_n: coefficients 1, bias −1 (§2.1: a = b = 1, c = −1)."""
    _check_arity(n)
    return Perceptron(np.ones(n), -1.0)


def not_gate():
    """NON s = H(1 − 2s) (§4.2, proof of Prop. 4)."""
    return Perceptron([-2.0], 1.0)


def nand_gate(n=2):
    """NON (x_1 ET … ET x_n) = H(n − 1/2 − Σ x_i): one neuron (the margin 1/2 keeps the
    boundary case Σ x_i = n, where H(0) = 1, on the right side)."""
    _check_arity(n)
    return Perceptron(-np.ones(n), n - 0.5)


def xor_network():
    """x OUex y = (x ET non y) OU (non x ET y) (§4.1): two neurons H(x − y − 1) and
    H(−x + y − 1), then OU. F = 0 on the band |x − y| < 1, 1 elsewhere (its border included)."""
    hidden = Layer.from_neurons([([1, -1], -1), ([-1, 1], -1)])
    return Network([hidden, Layer.from_neurons([([1, 1], -1)])])


et, ou, non, ou_exclusif = and_gate, or_gate, not_gate, xor_network


# ---- realisable sets (§4.2) -------------------------------------------------------------------
def half_plane(a, b, c):
    """The half-plane ax + by + c ≥ 0 (one neuron: F = 1 there, 0 elsewhere)."""
    if a == 0 and b == 0:
        raise ValueError("half_plane: a and b are both 0, ax + by + c = 0 is not a line")
    return Perceptron([a, b], c)


def _heaviside_only(net, name):
    if not isinstance(net, Network):
        raise TypeError(f"{name} must be a Network, got {type(net).__name__}")
    if net.n_outputs != 1 or any(layer.activation != "heaviside" for layer in net.layers):
        raise ValueError(f"{name} must realise a set: one output and only heaviside "
                         f"activations")


def _padded(net, depth):
    """net followed by copies of the neuron H(s − 1/2), which passes 0 and 1 unchanged."""
    relay = [Layer([[1.0]], [-0.5]) for _ in range(depth - net.depth)]
    return net.layers + relay


def _side_by_side(nets):
    """The layers of nets evaluated in parallel on the same input (block-diagonal kernels)."""
    depth = max(net.depth for net in nets)
    columns = [_padded(net, depth) for net in nets]
    layers = []
    for k, parts in enumerate(zip(*columns)):
        if k == 0:
            kernel = np.hstack([p.kernel for p in parts])
        else:
            kernel = _block_diagonal([p.kernel for p in parts])
        layers.append(Layer(kernel, np.concatenate([p.bias for p in parts])))
    return layers


def _block_diagonal(blocks):
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out, i, j = np.zeros((rows, cols)), 0, 0
    for b in blocks:
        out[i:i + b.shape[0], j:j + b.shape[1]] = b
        i, j = i + b.shape[0], j + b.shape[1]
    return out


def _combine(nets, gate, name):
    if not nets:
        raise ValueError(f"{name} needs at least one network")
    for k, net in enumerate(nets):
        _heaviside_only(net, f"{name}: argument {k}")
    if len({net.n_inputs for net in nets}) != 1:
        raise ValueError(f"{name}: the networks have different numbers of inputs "
                         f"{[net.n_inputs for net in nets]}")
    return Network(_side_by_side(nets) + gate(len(nets)).layers)


def union(*nets):
    """A ∪ B ∪ …: the networks side by side, then a neuron OU (Prop. 4)."""
    return _combine(nets, or_gate, "union")


def intersection(*nets):
    """A ∩ B ∩ …: the networks side by side, then a neuron ET (Prop. 4)."""
    return _combine(nets, and_gate, "intersection")


def complement(net):
    """The complement of A: its network followed by a neuron NON (Prop. 4)."""
    _heaviside_only(net, "complement: net")
    return Network(net.layers + not_gate().layers)


def difference(a, b):
    """A \\ B = A ∩ B^c (Prop. 4)."""
    return intersection(a, complement(b))


def _vertices(vertices):
    pts = np.asarray(vertices, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"vertices must be at least 3 points (x, y), got shape {pts.shape}")
    area2 = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    if abs(area2) < 1e-12:
        raise ValueError("vertices: the polygon has zero area")
    _check_simple(pts)
    return pts if area2 > 0 else pts[::-1]      # counter-clockwise


def _segments_cross(p, q, r, s):
    """Whether the segments [p, q] and [r, s] meet."""
    d1, d2, d3, d4 = _cross(p, q, r), _cross(p, q, s), _cross(r, s, p), _cross(r, s, q)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    on = [(d1, p, q, r), (d2, p, q, s), (d3, r, s, p), (d4, r, s, q)]
    return any(d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0])
               and min(a[1], b[1]) <= c[1] <= max(a[1], b[1]) for d, a, b, c in on)


def _check_simple(pts):
    n = len(pts)
    for i in range(n):
        for j in range(i + 2, n if i else n - 1):      # sides i and j are not neighbours
            if _segments_cross(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]):
                raise ValueError(f"vertices: the polygon is not simple (sides {i} and {j} "
                                 f"cross)")


def _cross(o, p, q):
    return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])


def convex_polygon(vertices):
    """The convex polygon with these vertices (in order): n neurons, one per side
    (the half-plane on the polygon's side), then ET (Prop. 3: n + 1 neurons)."""
    pts = _vertices(vertices)
    nxt = np.roll(pts, -1, axis=0)
    if any(_cross(p, q, r) < 0 for p, q, r in zip(pts, nxt, np.roll(pts, -2, axis=0))):
        raise ValueError("vertices: the polygon is not convex (use polygon())")
    # inside a counter-clockwise polygon: (q − p) × (X − p) ≥ 0 for every side p → q
    kernel = np.vstack([-(nxt[:, 1] - pts[:, 1]), nxt[:, 0] - pts[:, 0]])
    bias = -(kernel[0] * pts[:, 0] + kernel[1] * pts[:, 1])
    return Network([Layer(kernel, bias)] + and_gate(len(pts)).layers)


def _triangulate(pts):
    """Ear clipping of a simple counter-clockwise polygon: a list of triangles."""
    idx, triangles = list(range(len(pts))), []
    while len(idx) > 3:
        for k in range(len(idx)):
            i, j, m = idx[k - 1], idx[k], idx[(k + 1) % len(idx)]
            tri = pts[[i, j, m]]
            if _cross(*tri) <= 0:
                continue
            others = [pts[v] for v in idx if v not in (i, j, m)]
            if not any(min(_cross(tri[0], tri[1], p), _cross(tri[1], tri[2], p),
                           _cross(tri[2], tri[0], p)) >= 0 for p in others):
                triangles.append(tri)
                del idx[k]
                break
        else:
            raise ValueError("vertices: the polygon could not be triangulated")
    return triangles + [pts[idx]]


def polygon(vertices):
    """Any simple polygon (convex or not): the union of the triangles of a triangulation
    (Prop. 5)."""
    return union(*(convex_polygon(t) for t in _triangulate(_vertices(vertices))))


# ---- universal approximation (§5) -------------------------------------------------------------
def _check_interval(a, b, name="interval"):
    if not (np.isfinite(a) and np.isfinite(b) and a < b):
        raise ValueError(f"{name}: need finite a < b, got ({a!r}, {b!r})")


def step(x0, up=True):
    """Fonction marche (§5.1): H(x − x0) (1 for x ≥ x0) or, with up=False, H(x0 − x)."""
    return Perceptron([1.0 if up else -1.0], -x0 if up else x0)


def _bump_parts(left, right, closed=True):
    """Two step neurons (w, b) and the output combination (c, c0) with
    c·H(w x + b) + c0 = 1 on the créneau, 0 elsewhere. closed: [left, right] as in §5.2
    (H(x − left) + H(right − x) − 1); otherwise [left, right) (H(x − left) − H(x − right)),
    so that créneaux side by side do not add up at their junction (§5.3, Remarque)."""
    if closed:
        return np.array([1.0, -1.0]), np.array([-left, right]), np.array([1.0, 1.0]), -1.0
    return np.array([1.0, 1.0]), np.array([-left, -right]), np.array([1.0, -1.0]), 0.0


def _staircase(edges, heights, closed):
    parts = [_bump_parts(lo, hi, c) for (lo, hi), c in zip(edges, closed)]
    hidden = Layer(np.concatenate([p[0] for p in parts])[None, :],
                   np.concatenate([p[1] for p in parts]))
    out_w = np.concatenate([h * p[2] for h, p in zip(heights, parts)])
    out_b = sum(h * p[3] for h, p in zip(heights, parts))
    return Network([hidden, Layer(out_w[:, None], [out_b], "identity")])


def bump(left, right, height=1.0):
    """Fonction créneau (§5.2): `height` on [left, right], 0 elsewhere (3 neurons)."""
    return staircase([(left, right)], [height])


def staircase(intervals, heights):
    """Fonction en escalier (§5.3, Prop. 6): heights[i] on the closed interval intervals[i],
    0 elsewhere; 2n + 1 neurons. Where two intervals touch the values add (book's remark)."""
    intervals = [tuple(map(float, iv)) for iv in intervals]
    heights = np.asarray(heights, dtype=np.float64).ravel()
    if len(intervals) != len(heights) or not intervals:
        raise ValueError(f"intervals and heights must have the same non-zero length, got "
                         f"{len(intervals)} and {len(heights)}")
    for lo, hi in intervals:
        _check_interval(lo, hi, "intervals")
    return _staircase(intervals, heights, [True] * len(intervals))


def _grid(a, b, n, name):
    _check_interval(a, b, name)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer (number of sub-intervals), got {n!r}")
    x = np.linspace(a, b, n + 1)
    return list(zip(x[:-1], x[1:])), [False] * (n - 1) + [True]


def approximate_1d(f, a, b, n):
    """Theorem 2: the network (2n Heaviside neurons, one identity output) equal to f(x_i)
    on [x_i, x_(i+1)) for the n sub-intervals of [a, b] (the last one closed), 0 outside.
    For f L-Lipschitz, |f − F| ≤ L (b − a)/n on [a, b]."""
    if not callable(f):
        raise TypeError(f"f must be a function of one variable, got {type(f).__name__}")
    edges, closed = _grid(a, b, n, "[a, b]")
    return _staircase(edges, [float(f(lo)) for lo, _ in edges], closed)


def approximate_2d(f, x_range, y_range, n, m=None):
    """Theorem 3 (§5.5): towers. [a, b] × [c, d] is cut into n × m cells; the first layer
    holds the step neurons of every x- and y-interval, the second one neuron per cell (ET of
    its two créneaux: H(I(x) + J(y) − 2)), the identity output weighs cell (i, j) by
    f(x_i, y_j). For f L-Lipschitz in each variable, |f − F| ≤ L((b − a)/n + (d − c)/m)."""
    if not callable(f):
        raise TypeError(f"f must be a function of two variables, got {type(f).__name__}")
    m = n if m is None else m
    x_edges, x_closed = _grid(*x_range, n, "x_range")
    y_edges, y_closed = _grid(*y_range, m, "y_range")
    xs = [_bump_parts(lo, hi, c) for (lo, hi), c in zip(x_edges, x_closed)]
    ys = [_bump_parts(lo, hi, c) for (lo, hi), c in zip(y_edges, y_closed)]
    kernel1 = _block_diagonal([np.concatenate([p[0] for p in xs])[None, :],
                               np.concatenate([p[0] for p in ys])[None, :]])
    bias1 = np.concatenate([p[1] for p in xs + ys])
    kernel2 = np.zeros((2 * (n + m), n * m))
    bias2 = np.empty(n * m)
    for i, px in enumerate(xs):
        for j, py in enumerate(ys):
            cell = i * m + j
            kernel2[2 * i:2 * i + 2, cell] = px[2]
            kernel2[2 * n + 2 * j:2 * n + 2 * j + 2, cell] = py[2]
            bias2[cell] = px[3] + py[3] - 2.0
    heights = [float(f(xl, yl)) for (xl, _) in x_edges for (yl, _) in y_edges]
    return Network([Layer(kernel1, bias1), Layer(kernel2, bias2),
                    Layer(np.array(heights)[:, None], [0.0], "identity")])


marche, creneau, fonction_escalier = step, bump, staircase


# ---- learning rules (chapter "Rétropropagation", §2.2) ----------------------------------------
def _training_data(X, z, P0):
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    z = np.ravel(np.asarray(z, dtype=np.float64))
    if len(X) != len(z):
        raise ValueError(f"X and z: {len(X)} inputs but {len(z)} expected outputs")
    if not np.all((z == 0) | (z == 1)):
        raise ValueError("z: the expected outputs must be 0 or 1")
    P = np.zeros(X.shape[1]) if P0 is None else np.array(P0, dtype=np.float64).ravel()
    if P.shape != (X.shape[1],):
        raise ValueError(f"P0 must have {X.shape[1]} weights (one per input), got {P.shape}")
    return X, z, P


def _correction(P, x, z):
    """(z − F(x)): 0 when the perceptron is right, +1 or −1 otherwise."""
    return z - float(P @ x >= 0)


def hebb_rule(X, z, P0=None, delta=1.0, n_iter=100):
    """Règle de Hebb, as the book writes it: visit the data (X_i, z_i) in turn (and start
    again after the last one), n_iter times; P ← P − 2δX_i when F(X_i) = 1 but z_i = 0,
    P ← P + 2δX_i when F(X_i) = 0 but z_i = 1, where F(X) = H(P·X) is a perceptron linéaire
    (add a column of 1 to X for a bias). Returns the weights P_0, …, P_(n_iter), shape
    (n_iter + 1, n). It is the stochastic gradient step for E_i = (F(X_i) − z_i)² with the
    virtual step H̃, H̃' = 1."""
    X, z, P = _training_data(X, z, P0)
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    history = [P.copy()]
    for k in range(int(n_iter)):
        i = k % len(X)
        P = P + 2.0 * delta * _correction(P, X[i], z[i]) * X[i]
        history.append(P.copy())
    return np.array(history)


regle_de_hebb = hebb_rule


def perceptron_rule(X, z, P0=None, eta=1.0, max_epochs=1000):
    """Rosenblatt's perceptron learning rule P ← P + η (z_i − F(X_i)) X_i (the Hebb rule with
    η = 2δ), run epoch by epoch until every input is classified. Returns (P, epochs): epochs
    is the number of passes it took, None when max_epochs were not enough (data not linearly
    separable, as the OU exclusif, Prop. 1)."""
    X, z, P = _training_data(X, z, P0)
    for epoch in range(1, int(max_epochs) + 1):
        mistakes = 0
        for x, target in zip(X, z):
            c = _correction(P, x, target)
            if c:
                P, mistakes = P + eta * c * x, mistakes + 1
        if not mistakes:
            return P, epoch
    return P, None
