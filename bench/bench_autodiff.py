"""Autodiff overhead: deepmath against PyTorch eager, TensorFlow eager and hand-written numpy.

Two cases, both small enough that the framework's bookkeeping (graph building, backward walk,
gradient accumulation) weighs as much as the arithmetic:

- `scalar_graph_100`: forward + backward of a 100-operation graph on 0-d tensors (the book's
  chapter-1 computational graphs, made longer). No numpy baseline: numpy has no gradients.
- `mlp_step`: one SGD training step of a 784 -> 128 (ReLU) -> 10 network on a batch of 64,
  softmax cross-entropy from logits. The numpy baseline is the same step with its backward
  pass written by hand: what it costs with no framework at all.

Every library starts from the same numbers (generated with numpy from a fixed seed), and
`outputs()` returns the value and gradients of one step, which bench/run.py compares across
libraries before trusting the timings. Peers are imported inside the functions only, so the
process that times deepmath never loads torch or TensorFlow.
"""
import numpy as np

import _harness

CASES = ["scalar_graph_100", "mlp_step"]
TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}  # float32 everywhere; summation orders differ

X0 = 0.5  # input of the scalar graph
BATCH, N_IN, N_HIDDEN, N_OUT = 64, 784, 128, 10
LEARNING_RATE = 0.1
SEED = 0
GRADIENT_NAMES = {"scalar_graph_100": ["dy_dx"], "mlp_step": ["dW1", "db1", "dW2", "db2"]}


# ---- the protocol (see bench/README.md) ------------------------------------------------------

def libraries(case):
    """The libraries this case can be timed on."""
    return list(_BUILDERS[case])


def run_case(case, library, repeats, quick=False):
    """Seconds per step for `repeats` steps (warm-up excluded). Sizes do not depend on `quick`."""
    step = _BUILDERS[case][library]()
    return _harness.time_calls(step, repeats)


def outputs(case, library, quick=False):
    """The value and the gradients computed by the first step, as numpy arrays."""
    value, gradients = _BUILDERS[case][library]()()
    arrays = {"value": _to_numpy(value)}
    arrays.update(zip(GRADIENT_NAMES[case], map(_to_numpy, gradients)))
    return arrays


def _to_numpy(t):
    """A numpy copy of a deepmath / torch / TensorFlow tensor or numpy array."""
    if isinstance(t, (np.ndarray, np.generic)):
        return np.array(t)
    t = t.detach() if hasattr(t, "detach") else t  # torch refuses .numpy() on a graph node
    return np.array(t.numpy())


# ---- scalar_graph_100 ------------------------------------------------------------------------

def scalar_graph(x, m):
    """100 operations on a scalar: 10 blocks of mul, sin, mul, add, tanh, mul, exp, mul, add, sub.

    `m` holds sin, exp and tanh: the deepmath or torch module, or tf.math. tanh keeps the
    values bounded, and x feeds two branches in each block, as in the book's graphs."""
    for _ in range(10):
        x = x * 1.01 + m.sin(x) * 0.1
        x = m.tanh(x) + m.exp(x * -0.5) * 0.05 - 0.01
    return x


def _scalar_eager(m):
    """One forward + backward on deepmath or torch, which share the PyTorch interface."""
    x = m.tensor(X0, requires_grad=True)

    def step():
        x.grad = None
        y = scalar_graph(x, m)
        y.backward()
        return y, [x.grad]
    return step


def _scalar_deepmath():
    import deepmath
    return _scalar_eager(deepmath)


def _scalar_torch():
    import torch
    return _scalar_eager(torch)


def _scalar_tensorflow():
    """TensorFlow eager: the graph under a GradientTape, then tape.gradient."""
    import tensorflow as tf
    x = tf.Variable(X0, dtype=tf.float32)

    def step():
        with tf.GradientTape() as tape:
            y = scalar_graph(x, tf.math)
        return y, [tape.gradient(y, x)]
    return step


# ---- mlp_step --------------------------------------------------------------------------------

def mlp_data():
    """Inputs (64, 784), integer labels (64,) and [W1, b1, W2, b2]: glorot-uniform, zero biases."""
    rng = np.random.default_rng(SEED)

    def glorot(n_in, n_out):
        limit = np.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)
    params = [glorot(N_IN, N_HIDDEN), np.zeros(N_HIDDEN, np.float32),
              glorot(N_HIDDEN, N_OUT), np.zeros(N_OUT, np.float32)]
    x = rng.standard_normal((BATCH, N_IN)).astype(np.float32)
    labels = rng.integers(0, N_OUT, BATCH)
    return x, labels, params


def _mlp_eager(m, cross_entropy):
    """One SGD step on deepmath or torch; `cross_entropy(logits)` holds the labels."""
    x, _, init = mlp_data()
    x = m.tensor(x)
    params = [m.tensor(p, requires_grad=True) for p in init]

    def step():
        w1, b1, w2, b2 = params
        for p in params:
            p.grad = None
        loss = cross_entropy(m.relu(x @ w1 + b1) @ w2 + b2)
        loss.backward()
        with m.no_grad():
            for p in params:
                p -= LEARNING_RATE * p.grad
        return loss, [p.grad for p in params]
    return step


def _mlp_deepmath():
    import deepmath as dm
    labels = mlp_data()[1]
    return _mlp_eager(dm, lambda logits: dm.sparse_categorical_crossentropy(
        labels, logits, from_logits=True))


def _mlp_torch():
    import torch
    labels = torch.from_numpy(mlp_data()[1])
    return _mlp_eager(torch, lambda logits: torch.nn.functional.cross_entropy(logits, labels))


def _mlp_tensorflow():
    """TensorFlow eager: forward under a GradientTape, then assign_sub on each Variable."""
    import tensorflow as tf
    x, labels, init = mlp_data()
    x, labels = tf.constant(x), tf.constant(labels)
    params = [tf.Variable(p) for p in init]

    def step():
        w1, b1, w2, b2 = params
        with tf.GradientTape() as tape:
            logits = tf.nn.relu(x @ w1 + b1) @ w2 + b2
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        grads = tape.gradient(loss, params)
        for p, g in zip(params, grads):
            p.assign_sub(LEARNING_RATE * g)
        return loss, grads
    return step


def _mlp_numpy():
    """The same step with no framework: forward, backward written out by hand, update."""
    x, labels, params = mlp_data()
    one_hot = np.eye(N_OUT, dtype=np.float32)[labels]

    def step():
        w1, b1, w2, b2 = params
        z1 = x @ w1 + b1
        h = np.maximum(z1, 0)
        logits = h @ w2 + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -np.mean(np.sum(log_p * one_hot, axis=1))
        d_logits = (np.exp(log_p) - one_hot) / BATCH  # d loss / d logits = (softmax - y) / N
        d_z1 = (d_logits @ w2.T) * (z1 > 0)
        grads = [x.T @ d_z1, d_z1.sum(axis=0), h.T @ d_logits, d_logits.sum(axis=0)]
        for p, g in zip(params, grads):
            p -= LEARNING_RATE * g
        return loss, grads
    return step


_BUILDERS = {  # case -> library -> function returning a fresh step(): (value, gradients)
    "scalar_graph_100": {"deepmath": _scalar_deepmath, "torch": _scalar_torch,
                         "tensorflow": _scalar_tensorflow},
    "mlp_step": {"deepmath": _mlp_deepmath, "numpy": _mlp_numpy, "torch": _mlp_torch,
                 "tensorflow": _mlp_tensorflow},
}
