"""deepmath.text.positional: chapter "ChatGPT – partie 2", §4–5 (line numbers refer to
book/deepmath-book.txt)."""
import numpy as np
import pytest

from deepmath.text import positional as pe


def test_books_position_vectors():
    # lines 9427-9439: K = 4, n = 6, p = 100
    W = pe.positional_encoding(4, 6, p=100)
    expected = np.array([[1, 0, 1, 0, 1, 0],
                         [0.540, 0.841, 0.976, 0.213, 0.998, 0.046],
                         [-0.416, 0.909, 0.908, 0.417, 0.995, 0.0926],
                         [-0.989, 0.141, 0.798, 0.602, 0.990, 0.138]])
    np.testing.assert_allclose(W, expected, atol=1.5e-3)
    np.testing.assert_allclose(pe.angular_frequencies(6, 100), 100.0 ** (-np.arange(3) / 3))


def test_attention_is_all_you_need_convention():
    K, n, p = 50, 16, 10000
    pos = np.arange(K)[:, None]
    i = np.arange(n // 2)[None, :]
    ref = np.zeros((K, n))
    ref[:, 0::2] = np.sin(pos / p ** (2 * i / n))        # PE(pos, 2i) = sin
    ref[:, 1::2] = np.cos(pos / p ** (2 * i / n))        # PE(pos, 2i+1) = cos
    np.testing.assert_allclose(pe.positional_encoding(K, n, convention="attention"), ref)
    book = pe.positional_encoding(K, n)
    np.testing.assert_allclose(book[:, 0::2], ref[:, 1::2])
    np.testing.assert_allclose(book[:, 1::2], ref[:, 0::2])
    np.testing.assert_allclose(pe.positional_encoding(3, n, start=5), book[5:8])


@pytest.mark.parametrize("convention", ["book", "attention"])
def test_relative_position_is_a_rotation(convention):
    # Proposition 2 (line 9495): w_{k+l} = R_l w_k, R_l = R_1^l
    n, p = 12, 100
    W = pe.positional_encoding(30, n, p, convention=convention)
    R1 = pe.relative_rotation(1, n, p, convention)
    for ell in (1, 3, 7):
        R = pe.relative_rotation(ell, n, p, convention)
        np.testing.assert_allclose((R @ W[:-ell].T).T, W[ell:], atol=1e-12)
        np.testing.assert_allclose(np.linalg.matrix_power(R1, ell), R, atol=1e-12)
        np.testing.assert_allclose(R @ R.T, np.eye(n), atol=1e-12)      # orthogonal
    # block structure: 2×2 rotations on the diagonal, zeros elsewhere
    R = pe.relative_rotation(2, n, p, convention)
    mask = np.kron(np.eye(n // 2), np.ones((2, 2)))
    assert np.all(R[mask == 0] == 0)


def test_rotation_matrix():
    np.testing.assert_allclose(pe.rotation_matrix(np.pi / 2), [[0, -1], [1, 0]], atol=1e-15)
    M = pe.rotation_matrix(0.3)
    np.testing.assert_allclose(np.linalg.matrix_power(M, 5), pe.rotation_matrix(1.5))


def test_positional_errors(tmp_path):
    with pytest.raises(ValueError, match="even"):
        pe.positional_encoding(4, 5)
    with pytest.raises(ValueError, match="convention"):
        pe.positional_encoding(4, 6, convention="gpt")
    with pytest.raises(ValueError, match="p must"):
        pe.positional_encoding(4, 6, p=1)
    with pytest.raises(ValueError, match="K"):
        pe.positional_encoding(0, 6)
    with pytest.raises(TypeError, match="n"):
        pe.positional_encoding(4, 6.0)
    fig = pe.plot_positional_encoding(50, 32, file=tmp_path / "pe.png")
    assert (tmp_path / "pe.png").stat().st_size > 0
    assert fig.axes[0].images[0].get_array().shape == (32, 50)


# ---- tensor product ---------------------------------------------------------------------------
A = np.array([[1, 2], [3, 4]])
B = np.array([[2, -1], [1, 0]])
M = np.array([[1, 2], [0, 1]])


def test_books_tensor_product_example():
    # lines 9524-9530: (A ⊗ B) M = B M Aᵀ = [[8, 18], [5, 11]]
    np.testing.assert_array_equal(pe.tensor_action(A, B, M), [[8, 18], [5, 11]])
    # lines 9596-9602: the Kronecker matrix, vec(M) and (A ⊗ B) vec(M)
    K = pe.kron(A, B)
    np.testing.assert_array_equal(K, [[2, -1, 4, -2], [1, 0, 2, 0], [6, -3, 8, -4],
                                      [3, 0, 4, 0]])
    np.testing.assert_array_equal(pe.vec(M), [1, 0, 2, 1])
    np.testing.assert_array_equal(K @ pe.vec(M), [8, 5, 18, 11])
    np.testing.assert_array_equal(pe.unvec(K @ pe.vec(M), (2, 2)), [[8, 18], [5, 11]])


def test_tensor_product_identities():
    rng = np.random.default_rng(0)
    p, n = 3, 4
    A1, A2 = rng.normal(size=(2, p, p))
    B1, B2 = rng.normal(size=(2, n, n))
    X = rng.normal(size=(n, p))
    # (A ⊗ B) vec(M) = vec(B M Aᵀ), kron = numpy.kron, also for rectangular factors
    np.testing.assert_allclose(pe.kron(A1, B1) @ pe.vec(X), pe.vec(pe.tensor_action(A1, B1, X)))
    R, S = rng.normal(size=(2, 5)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(pe.kron(R, S), np.kron(R, S))
    # bilinearity and the product formula (lines 9552-9566)
    np.testing.assert_allclose(pe.tensor_action(A1 + A2, B1, X),
                               pe.tensor_action(A1, B1, X) + pe.tensor_action(A2, B1, X))
    np.testing.assert_allclose(pe.tensor_action(A1, B1 + B2, X),
                               pe.tensor_action(A1, B1, X) + pe.tensor_action(A1, B2, X))
    np.testing.assert_allclose(pe.kron(A1, B1) @ pe.kron(A2, B2), pe.kron(A1 @ A2, B1 @ B2))
    np.testing.assert_allclose(pe.tensor_action(np.eye(p), B1, X), B1 @ X)
    np.testing.assert_allclose(pe.tensor_action(A1, np.eye(n), X), X @ A1.T)
    assert pe.vec(X).shape == (n * p,)
    np.testing.assert_array_equal(pe.unvec(pe.vec(X), X.shape), X)


def test_tensor_product_errors():
    with pytest.raises(ValueError, match="columns"):
        pe.tensor_action(np.eye(3), np.eye(2), np.ones((2, 2)))
    with pytest.raises(ValueError, match="matrix"):
        pe.kron(np.ones(3), np.eye(2))
    with pytest.raises(ValueError, match="length 6"):
        pe.unvec(np.ones(5), (2, 3))
