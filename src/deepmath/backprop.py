"""Backpropagation on the book's worked networks (chapter "Rétropropagation").

A small dense network whose weights are one explicit vector P = (a_1, a_2, …), in the book's
order: layer after layer, neuron after neuron, its coefficients then its bias. For data
(X_i, z_i), i = 1…N, the error is E(P) = (1/N) Σ (F(X_i) − z_i)² (§1.1) and gradient descent
is P_(k+1) = P_k − δ grad E(P_k) (§1.2). The gradient is computed by hand, layer by layer, by
the chain rule (chapter "Gradient", §4: a derivative is the product of the local derivatives
along the branches), and can be checked against deepmath's autodiff and finite differences.

    from deepmath import backprop as bp
    net, X, z, P0 = bp.sigmoid_neuron_example()     # §1: one neuron, 20 points, P0 = (0, 1, −2)
    path = bp.gradient_descent(net, P0, X, z, delta=1.0, n_iter=1000)
    path.P[1000], path.E[1000]                      # (2.032, −3.860, 3.703), 0.071
    net, X, z, P0 = bp.xor_example()                # §2.1: 2-2-1 sigmoid network, E(P0) = 0.2961
"""
from collections import namedtuple

import numpy as np

from . import descent
from .descent import numerical_gradient
from .perceptron import ACTIVATIONS, Layer, Network

__all__ = ["DenseNetwork", "Trajectory", "gradient_descent", "descente_de_gradient",
           "sigmoid_neuron_example", "xor_example", "step_example"]

# φ'(t) written with t (the value before activation) and y = φ(t).
_DERIVATIVES = {
    "sigmoid": lambda t, y: y * (1.0 - y),           # σ' = σ(1 − σ)
    "tanh": lambda t, y: 1.0 - y * y,
    "relu": lambda t, y: (t > 0).astype(np.float64),
    "identity": lambda t, y: np.ones_like(t),
    "linear": lambda t, y: np.ones_like(t),
    "heaviside": lambda t, y: np.ones_like(t),       # the virtual step H̃, H̃' = 1 (§2.2)
}


def _autodiff_activation(name):
    from . import ops
    if name == "heaviside":
        return lambda t: ops.heaviside(t, straight_through=True)
    if name in ("identity", "linear"):
        return lambda t: t
    return getattr(ops, name)


class DenseNetwork:
    """The architecture of a dense network: sizes (n, n_1, …, p) and one activation per layer
    (a name, or a list of names). Its weights are not stored: every method takes P.
    'heaviside' is the book's virtual step H̃ of §2.2 (H̃' = 1), which turns gradient descent
    into the Hebb rule."""

    def __init__(self, sizes, activation="sigmoid"):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be (n_inputs, …, n_outputs) with at least two positive "
                             f"numbers, got {sizes}")
        activations = [activation] * (len(sizes) - 1) if isinstance(activation, str) \
            else list(activation)
        if len(activations) != len(sizes) - 1:
            raise ValueError(f"activation: give one name or {len(sizes) - 1} names, got "
                             f"{len(activations)}")
        for name in activations:
            if name not in _DERIVATIVES:
                raise ValueError(f"activation: unknown name {name!r}; known: "
                                 f"{', '.join(sorted(_DERIVATIVES))}")
        self.sizes, self.activations = sizes, activations

    @property
    def n_params(self):
        """Number of weights: (n_in + 1) per neuron."""
        return sum((n_in + 1) * n_out for n_in, n_out in zip(self.sizes, self.sizes[1:]))

    def _blocks(self, P):
        """[(offset, n_in, n_out)] with P[offset:offset + n_out(n_in + 1)] for each layer."""
        if np.shape(P) != (self.n_params,):
            raise ValueError(f"P must be a vector of {self.n_params} weights, got shape "
                             f"{np.shape(P)}")
        offsets = np.cumsum([0] + [(a + 1) * b for a, b in zip(self.sizes, self.sizes[1:])])
        return list(zip(offsets, self.sizes, self.sizes[1:]))

    def unpack(self, P):
        """[(W, b)] per layer, W of shape (n_out, n_in): row j = coefficients of neuron j."""
        out = []
        for off, n_in, n_out in self._blocks(P):
            block = P[off:off + n_out * (n_in + 1)].reshape(n_out, n_in + 1)
            out.append((block[:, :n_in], block[:, n_in]))
        return out

    @staticmethod
    def pack(layers):
        """The vector P from [(W, b)] (the inverse of `unpack`)."""
        return np.concatenate([np.column_stack([W, b]).ravel() for W, b in layers])

    def _data(self, X, z=None):
        X = np.asarray(X, dtype=np.float64)
        X = X.reshape(-1, 1) if X.ndim == 1 and self.sizes[0] == 1 else np.atleast_2d(X)
        if X.shape[1] != self.sizes[0]:
            raise ValueError(f"X: the network has {self.sizes[0]} inputs, got shape {X.shape}")
        if z is None:
            return X
        z = np.asarray(z, dtype=np.float64)
        if z.size != len(X) * self.sizes[-1]:
            raise ValueError(f"z must hold {self.sizes[-1]} expected output(s) for each of the "
                             f"{len(X)} inputs, got shape {z.shape}")
        z = z.reshape(len(X), self.sizes[-1])
        return X, z

    def forward(self, P, X):
        """Lists (t_l) and (y_l) of every layer: t = W y_prev + b, y = φ(t); y_0 = X."""
        P = np.asarray(P, dtype=np.float64)
        ts, ys = [], [self._data(X)]
        for (W, b), name in zip(self.unpack(P), self.activations):
            ts.append(ys[-1] @ W.T + b)
            ys.append(ACTIVATIONS[name](ts[-1]))
        return ts, ys

    def __call__(self, P, X):
        """F(X) for the inputs X (N, n): shape (N,) for one output, else (N, p)."""
        out = self.forward(P, X)[1][-1]
        return out[:, 0] if self.sizes[-1] == 1 else out

    def error(self, P, X, z):
        """E(P) = (1/N) Σ_i (F(X_i) − z_i)²."""
        X, z = self._data(X, z)
        return float(np.mean(np.sum((self.forward(P, X)[1][-1] - z) ** 2, axis=1)))

    def gradient(self, P, X, z):
        """grad E(P) by backpropagation. With y_L = F: ∂E/∂t_L = (2/N)(F − z) φ'(t_L); each
        layer gives ∂E/∂W = (∂E/∂t)ᵀ y_prev, ∂E/∂b = Σ ∂E/∂t, and passes back
        ∂E/∂t_prev = (∂E/∂t · W) φ'(t_prev)."""
        X, z = self._data(X, z)
        P = np.asarray(P, dtype=np.float64)
        ts, ys = self.forward(P, X)
        layers = self.unpack(P)
        d = 2.0 / len(X) * (ys[-1] - z)
        grads = []
        for k in reversed(range(len(layers))):
            d = d * _DERIVATIVES[self.activations[k]](ts[k], ys[k + 1])
            grads.append((d.T @ ys[k], d.sum(axis=0)))
            d = d @ layers[k][0]
        return self.pack(grads[::-1])

    retropropagation = gradient

    def gradient_autodiff(self, P, X, z):
        """grad E(P) by deepmath's reverse-mode autodiff (float64), for checking."""
        from . import ops, tensor
        X, z = self._data(X, z)
        Pt = tensor(np.asarray(P, dtype=np.float64), requires_grad=True)
        y = tensor(X)
        for (off, n_in, n_out), name in zip(self._blocks(np.asarray(P)), self.activations):
            block = Pt[off:off + n_out * (n_in + 1)].reshape(n_out, n_in + 1)
            y = _autodiff_activation(name)(y @ block[:, :n_in].T + block[:, n_in])
        E = ops.mean(ops.sum((y - tensor(z)) ** 2, axis=1))
        E.backward()
        return Pt.grad.numpy()

    def gradient_numeric(self, P, X, z, h=1e-6):
        """grad E(P) by central differences (E(P + h e_j) − E(P − h e_j)) / 2h."""
        return numerical_gradient(lambda Q: self.error(Q, X, z), P, h=h)

    def to_network(self, P):
        """The `deepmath.perceptron.Network` with the weights P (then `.to_keras()`)."""
        P = np.asarray(P, dtype=np.float64)
        return Network([Layer(W.T, b, name)
                        for (W, b), name in zip(self.unpack(P), self.activations)])


Trajectory = namedtuple("Trajectory", "P grad E")
Trajectory.__doc__ = ("Gradient descent: P[k] = P_k, grad[k] = grad E(P_k), E[k] = E(P_k) "
                      "for k = 0 … n_iter (the columns of the book's tables).")


def gradient_descent(network, P0, X, z, delta=1.0, n_iter=1000):
    """Classical gradient descent P_(k+1) = P_k − δ grad E(P_k) (§1.2), the gradient by
    backpropagation. Returns the whole `Trajectory`."""
    if not isinstance(network, DenseNetwork):
        raise TypeError(f"network must be a DenseNetwork, got {type(network).__name__}")
    if not delta > 0:
        raise ValueError(f"delta (the step) must be > 0, got {delta}")
    if int(n_iter) != n_iter or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative integer, got {n_iter}")
    X, z = network._data(X, z)
    P0 = np.array(P0, dtype=np.float64)
    network._blocks(P0)
    run = descent.gradient_descent(lambda P: network.error(P, X, z), P0, step=delta,
                                   n_iter=int(n_iter), grad=lambda P: network.gradient(P, X, z))
    return Trajectory(run.points, run.gradients, run.values)


descente_de_gradient = gradient_descent


# ---- the chapter's examples -------------------------------------------------------------------
_BLUE = [(0, 3), (1, 1.5), (1, 4), (1.5, 2.5), (2, 2.5), (3, 3.5), (3.5, 3.25), (4, 3), (4, 4),
         (5, 4)]
_RED = [(1, 1), (2, 0.5), (2, 2), (3, 1.5), (3, 2.75), (4, 1), (4, 2.5), (4.5, 3), (5, 1),
        (5, 2.25)]


def sigmoid_neuron_example():
    """§1: one sigmoid neuron F(x, y) = σ(ax + by + c), the 10 blue dots (z = 0) and 10 red
    squares (z = 1) of the chapter, P_0 = (0, 1, −2). Returns (network, X, z, P0)."""
    X = np.array(_BLUE + _RED, dtype=np.float64)
    z = np.repeat([0.0, 1.0], [len(_BLUE), len(_RED)])
    return DenseNetwork((2, 1), "sigmoid"), X, z, np.array([0.0, 1.0, -2.0])


def xor_example():
    """§2.1: the OU exclusif with a 2-2-1 sigmoid network; a_1…a_3 and a_4…a_6 are the
    hidden neurons (coefficients of x, y, bias), a_7…a_9 the output neuron;
    P_0 = (1, 2, −3, −3, −2, 1, 1, 1, −1). Returns (network, X, z, P0)."""
    X = np.array([[0, 0], [1, 1], [0, 1], [1, 0]], dtype=np.float64)
    z = np.array([0.0, 0.0, 1.0, 1.0])
    P0 = np.array([1.0, 2.0, -3.0, -3.0, -2.0, 1.0, 1.0, 1.0, -1.0])
    return DenseNetwork((2, 2, 1), "sigmoid"), X, z, P0


def step_example():
    """§2.3 (une fonction marche): F = 0 on [0, 2] and [6, 8], 1 on [3, 5]; 10 evenly spaced
    points on each, a 1-2-1 sigmoid network (a_1 x + a_2, a_3 x + a_4, then a_5, a_6, a_7),
    P_0 = (0, 1, 0, −1, 1, 1, −1). Returns (network, X, z, P0)."""
    X = np.concatenate([np.linspace(0, 2, 10), np.linspace(6, 8, 10), np.linspace(3, 5, 10)])
    z = np.repeat([0.0, 1.0], [20, 10])
    P0 = np.array([0.0, 1.0, 0.0, -1.0, 1.0, 1.0, -1.0])
    return DenseNetwork((1, 2, 1), "sigmoid"), X[:, None], z, P0
