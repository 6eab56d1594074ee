"""The backward pass: the book's worked examples, accumulation over paths, deep graphs, freed
graphs, no_grad, grad(f) and GradientTape."""
import math

import numpy as np
import pytest

import deepmath as dm


def test_book_chapter1_composition():
    """F(x) = cos(2x²): F'(3) = -12 sin 18 (chapter "Dérivée", §2.2)."""
    x = dm.tensor(3.0, dtype="float64", requires_grad=True)
    dm.cos(2 * x ** 2).backward()
    assert x.grad.item() == pytest.approx(-12 * math.sin(18), rel=1e-12)


def test_book_chapter7_gradient():
    """grad ln(x²y + sin y) at (3, 2) (chapter "Gradient")."""
    x = dm.tensor(3.0, dtype="float64", requires_grad=True)
    y = dm.tensor(2.0, dtype="float64", requires_grad=True)
    dm.log(x ** 2 * y + dm.sin(y)).backward()
    d = 18 + math.sin(2)
    assert x.grad.item() == pytest.approx(12 / d, rel=1e-12)
    assert y.grad.item() == pytest.approx((9 + math.cos(2)) / d, rel=1e-12)


def test_float32_default_and_float32_gradient():
    x = dm.tensor(3.0, requires_grad=True)
    y = dm.cos(2 * x ** 2)
    assert x.dtype == y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    assert x.grad.item() == pytest.approx(-12 * math.sin(18), rel=1e-4)


def test_fan_out_sums_over_paths():
    """f(x) = x·x + 3x uses x on three paths: f' = 2x + 3."""
    x = dm.tensor(2.0, requires_grad=True)
    (x * x + 3 * x).backward()
    assert x.grad.item() == 7.0


def test_diamond_graph_visits_each_node_once():
    x = dm.tensor(1.5, dtype="float64", requires_grad=True)
    a = dm.sin(x)
    b = a * a + a        # a used three times
    c = b * dm.exp(a)    # and once more
    c.backward()
    s, co = math.sin(1.5), math.cos(1.5)
    expected = ((2 * s + 1) * math.exp(s) + (s * s + s) * math.exp(s)) * co
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)


def test_gradients_accumulate_across_backward_calls():
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3 + 2, 3 + 4])


def test_leaves_never_share_gradient_arrays():
    a = dm.tensor([1.0, 2.0], requires_grad=True)
    b = dm.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data[0] = 100.0
    assert b.grad.data[0] == 1.0


def test_deep_chain_has_no_recursion_limit():
    x = dm.tensor(0.5, dtype="float64", requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    (y + 0).backward()
    assert x.grad.item() == 1.0


def test_non_scalar_backward_needs_a_gradient():
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(3,\)"):
        y.backward()
    y.backward(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad.data, [2, 0, 4])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(np.ones(2))


def test_second_backward_through_freed_graph_raises():
    x = dm.tensor(2.0, requires_grad=True)
    y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = dm.tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0


def test_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dm.tensor(1.0).backward()


def test_retain_grad_on_intermediate():
    x = dm.tensor(3.0, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).backward()
    assert y.grad.item() == 12.0 and x.grad.item() == 24.0


def test_no_grad_records_nothing():
    x = dm.tensor(2.0, requires_grad=True)
    with dm.no_grad():
        y = x * x
    assert not y.requires_grad and y.grad_fn is None
    assert dm.is_grad_enabled()

    @dm.no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad


def test_detach_cuts_the_graph():
    x = dm.tensor(2.0, requires_grad=True)
    y = x * x.detach()      # d/dx = x.detach() only
    y.backward()
    assert x.grad.item() == 2.0


def test_inplace_update_rules():
    w = dm.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match="no_grad"):
        w -= 0.1 * w.grad
    with dm.no_grad():
        w -= 0.1 * w.grad
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    assert w.requires_grad and w.is_leaf and w.dtype == np.float32


def test_inplace_update_keeps_saved_values():
    """An update after the forward pass must not change the gradient computed from it."""
    c = dm.tensor([2.0, 3.0])
    w = dm.tensor([1.0, 1.0], requires_grad=True)
    y = (w * c).sum()
    c += 10.0
    y.backward()
    np.testing.assert_allclose(w.grad.data, [2.0, 3.0])


def test_grad_function_of_scalars():
    f = dm.grad(lambda x: dm.cos(2 * x ** 2))
    assert f(3.0) == pytest.approx(-12 * math.sin(18), rel=1e-12)
    g = dm.grad(lambda x, y: x * y ** 2)
    assert g(2.0, 3.0) == (9.0, 12.0)
    h = dm.grad(lambda x, y: x * y ** 2, argnums=1)
    assert h(2.0, 3.0) == 12.0
    with pytest.raises(ValueError, match="scalar"):
        dm.grad(lambda x: x * 2)(np.ones(3))


def test_grad_function_of_arrays_and_tensors():
    f = dm.grad(lambda w: (w ** 2).sum())
    np.testing.assert_allclose(f(np.array([1.0, -2.0])), [2.0, -4.0])
    out = f(dm.tensor([1.0, 3.0]))
    assert isinstance(out, dm.Tensor)
    np.testing.assert_allclose(out.data, [2.0, 6.0])
    assert dm.grad(lambda x: dm.tensor(5.0))(1.0) == 0.0  # constant function


def test_numpy_functions_build_the_graph():
    x = dm.tensor(3.0, dtype="float64", requires_grad=True)
    y = np.cos(2 * x ** 2)
    assert isinstance(y, dm.Tensor)
    y.backward()
    assert x.grad.item() == pytest.approx(-12 * math.sin(18))
    z = np.ones(2) + dm.tensor([1.0, 2.0])
    assert isinstance(z, dm.Tensor)


def test_gradient_tape_book_examples():
    x = dm.Variable(3.0)
    with dm.GradientTape() as tape:
        y = x ** 2
    assert tape.gradient(y, [x])[0].numpy() == 6.0

    x = dm.arange(1, 4, 0.5)
    with dm.GradientTape() as tape:
        tape.watch(x)
        y = 2 * dm.log(x) + dm.exp(-x)
    g = tape.gradient(y, x).numpy()
    xs = np.arange(1, 4, 0.5)
    np.testing.assert_allclose(y.numpy(), 2 * np.log(xs) + np.exp(-xs), rtol=1e-6)
    np.testing.assert_allclose(g, 2 / xs - np.exp(-xs), rtol=1e-6)
    assert g[1] == pytest.approx(1.110, abs=1e-3)  # the book's f'(1.5)

    x, y = dm.Variable(2.0), dm.Variable(3.0)
    with dm.GradientTape() as tape:
        z = x * y ** 2
    dfx, dfy = [t.numpy() for t in tape.gradient(z, [x, y])]
    assert (dfx, dfy) == (9.0, 12.0)


def test_gradient_tape_rules():
    x, u = dm.Variable(2.0), dm.Variable(1.0)
    with dm.GradientTape() as tape:
        y = x * x
    gx, gu = tape.gradient(y, [x, u])
    assert gx.item() == 4.0 and gu is None  # unconnected source: None, as TensorFlow
    with pytest.raises(RuntimeError, match="persistent"):
        tape.gradient(y, [x])
    with dm.GradientTape(persistent=True) as tape:
        y = x ** 3
    assert tape.gradient(y, x).item() == 12.0
    assert tape.gradient(y, x).item() == 12.0
    with pytest.raises(TypeError, match="deepmath tensors"):
        dm.GradientTape().watch(np.ones(2))
    assert x.grad is None  # tapes never touch .grad


def test_gradients_function():
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 2).sum()
    (g,) = dm.gradients(y, [x])
    np.testing.assert_allclose(g, [2.0, 4.0])
    assert x.grad is None
