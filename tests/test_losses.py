"""Losses: values against NumPy transcriptions of Keras' formulas, gradients against finite
differences, stability at ±1000, and clear errors."""
import numpy as np
import pytest

import deepmath as dm
from gradcheck import check_grad

rng = np.random.default_rng(7)
EPS = 1e-7


def probs(n, c):
    e = np.exp(rng.normal(size=(n, c)))
    return e / e.sum(-1, keepdims=True)


def onehot(labels, c):
    return np.eye(c)[labels]


def t64(a):
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype="float64")


def test_regression_losses_values():
    y, p = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    assert dm.mse(t64(y), t64(p)).item() == pytest.approx(np.mean((p - y) ** 2))
    assert dm.mae(t64(y), t64(p)).item() == pytest.approx(np.mean(np.abs(p - y)))
    yp, pp = np.abs(y), np.abs(p)
    ref = np.mean((np.log1p(np.maximum(pp, EPS)) - np.log1p(np.maximum(yp, EPS))) ** 2)
    assert dm.msle(t64(yp), t64(pp)).item() == pytest.approx(ref)
    per_sample = dm.mean_squared_error(t64(y), t64(p), reduction="none")
    np.testing.assert_allclose(per_sample.data, np.mean((p - y) ** 2, axis=-1))
    assert dm.mse(t64(y), t64(p), reduction="sum").item() == pytest.approx(
        np.mean((p - y) ** 2, axis=-1).sum())


def test_target_of_shape_n_against_predictions_n_by_1():
    y, p = rng.normal(size=5), rng.normal(size=(5, 1))
    assert dm.mse(y, t64(p)).item() == pytest.approx(np.mean((p[:, 0] - y) ** 2))


def test_binary_crossentropy_values():
    y = rng.integers(0, 2, size=(8, 1)).astype(float)
    z = rng.normal(size=(8, 1)) * 3
    p = 1 / (1 + np.exp(-z))
    pc = np.clip(p, EPS, 1 - EPS)
    ref = np.mean(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    assert dm.binary_crossentropy(t64(y), t64(p)).item() == pytest.approx(ref, rel=1e-9)
    exact = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert dm.binary_crossentropy(t64(y), t64(z), from_logits=True).item() == \
        pytest.approx(exact, rel=1e-9)


def test_categorical_crossentropy_values():
    labels = rng.integers(0, 4, size=6)
    p = probs(6, 4)
    y = onehot(labels, 4)
    ref = np.mean(-np.log(p[np.arange(6), labels]))
    assert dm.categorical_crossentropy(t64(y), t64(p)).item() == pytest.approx(ref)
    assert dm.sparse_categorical_crossentropy(labels, t64(p)).item() == pytest.approx(ref)
    z = np.log(p) + 2.0  # logits of the same distribution
    assert dm.categorical_crossentropy(t64(y), t64(z), from_logits=True).item() == \
        pytest.approx(ref)
    assert dm.sparse_categorical_crossentropy(labels, t64(z), from_logits=True).item() == \
        pytest.approx(ref)
    assert dm.sparse_categorical_crossentropy(labels[:, None], t64(z), from_logits=True).item() \
        == pytest.approx(ref)  # (N, 1) labels, as Keras accepts


def test_crossentropy_over_sequences_and_class_axis():
    labels = rng.integers(0, 5, size=(2, 3))
    z = rng.normal(size=(2, 3, 5))
    lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    ref = -np.mean(np.take_along_axis(lp, labels[..., None], -1))
    assert dm.sparse_categorical_crossentropy(labels, t64(z), from_logits=True).item() == \
        pytest.approx(ref)
    zt = np.moveaxis(z, -1, 1)  # classes on axis 1
    assert dm.sparse_categorical_crossentropy(labels, t64(zt), from_logits=True, axis=1).item() \
        == pytest.approx(ref)
    none = dm.sparse_categorical_crossentropy(labels, t64(z), from_logits=True, reduction="none")
    assert none.shape == (2, 3)


LOSS_GRADS = {
    "mse": lambda y, p: dm.mse(y, p),
    "mae": lambda y, p: dm.mae(y, p),
    "msle": lambda y, p: dm.msle(dm.abs(y), dm.abs(p)),
    "bce": lambda y, p: dm.binary_crossentropy(dm.sigmoid(y), dm.sigmoid(p)),
    "bce_logits": lambda y, p: dm.binary_crossentropy(dm.sigmoid(y), p, from_logits=True),
    "cce": lambda y, p: dm.categorical_crossentropy(dm.softmax(y), dm.softmax(p)),
    "cce_logits": lambda y, p: dm.categorical_crossentropy(dm.softmax(y), p, from_logits=True),
}


@pytest.mark.parametrize("name", sorted(LOSS_GRADS))
def test_loss_gradients(name):
    y = rng.uniform(0.2, 1.5, (4, 3)) * rng.choice([-1, 1], (4, 3))
    p = rng.uniform(0.2, 1.5, (4, 3)) * rng.choice([-1, 1], (4, 3))
    check_grad(LOSS_GRADS[name], y, p)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_crossentropy_gradient(from_logits):
    labels = np.array([0, 2, 1, 2])
    f = (lambda z: dm.sparse_categorical_crossentropy(labels, z, from_logits=True)) if \
        from_logits else (lambda z: dm.sparse_categorical_crossentropy(labels, dm.softmax(z)))
    check_grad(f, rng.normal(size=(4, 3)))


def test_crossentropy_stable_at_1000():
    z = dm.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], requires_grad=True)
    loss = dm.sparse_categorical_crossentropy([1, 0], z, from_logits=True)
    assert loss.item() == pytest.approx(2000.0)
    loss.backward()
    assert np.isfinite(z.grad.data).all()
    zb = dm.tensor([[1000.0], [-1000.0]], requires_grad=True)
    b = dm.binary_crossentropy(np.array([[0.0], [1.0]]), zb, from_logits=True)
    assert b.item() == pytest.approx(1000.0)
    b.backward()
    np.testing.assert_allclose(zb.grad.data, [[0.5], [-0.5]])
    p = dm.sigmoid(dm.tensor([[1000.0], [-1000.0]], requires_grad=True))
    bp = dm.binary_crossentropy(np.array([[1.0], [0.0]]), p)
    assert np.isfinite(bp.item()) and bp.item() < 1e-6


def test_loss_errors():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        dm.mse(np.ones(3), dm.tensor(np.ones(4)))
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        dm.sparse_categorical_crossentropy([0, 3], dm.tensor(np.ones((2, 3))), from_logits=True)
    with pytest.raises(ValueError, match="out of range"):
        dm.sparse_categorical_crossentropy([-1, 0], dm.tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match="integers"):
        dm.sparse_categorical_crossentropy(np.array(["a", "b"]), dm.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="integers"):
        dm.sparse_categorical_crossentropy([0.5, 1.0], dm.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\)"):
        dm.sparse_categorical_crossentropy([0, 1, 2], dm.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="reduction"):
        dm.mse(np.ones(3), dm.tensor(np.ones(3)), reduction="avg")
