"""Central finite differences in float64: the reference every gradient is checked against."""
import numpy as np

import deepmath as dm


def numeric_grad(f, arrays, index, weights, eps=1e-6):
    """d/d arrays[index] of sum(f(*arrays) * weights), by central differences."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    x = base[index]
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = np.sum(f(*[dm.tensor(a, dtype="float64") for a in base]).data * weights)
        x[i] = old - eps
        minus = np.sum(f(*[dm.tensor(a, dtype="float64") for a in base]).data * weights)
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def check_grad(f, *arrays, rtol=1e-5, atol=1e-7, seed=0):
    """Assert that backward() of f at `arrays` matches finite differences for every input."""
    tensors = [dm.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=True)
               for a in arrays]
    out = f(*tensors)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, out.shape)
    (out * dm.tensor(weights, dtype="float64")).sum().backward()
    for i, t in enumerate(tensors):
        expected = numeric_grad(f, arrays, i, weights)
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.data, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")
