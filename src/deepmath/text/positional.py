"""Positional encoding and tensor product (book, chapter "ChatGPT – partie 2", §4 "Plongement
de position" and §5 "Produit tensoriel").

The position k is coded by w_k ∈ R^n with ω_i = 1 / p^(2i/n):
    book (default):      w_k = (cos kω_0, sin kω_0, cos kω_1, sin kω_1, …)
    "Attention is all you need" (convention='attention'):
                         w_k = (sin kω_0, cos kω_0, sin kω_1, cos kω_1, …)
The book puts the cosine first so that w_{k+ℓ} = R_ℓ w_k with R_ℓ made of the rotation
matrices M(ℓω_i) (Proposition 2); with the sine first the blocks are M(-ℓω_i).

Layout: `positional_encoding(K, n)` is (K, n), one row w_k per position, as the positional
embeddings of Keras/PyTorch; the book's matrix of §4.1 (one column per token) is its
transpose. vec(M) stacks the columns of M (the book's §5.3), i.e. numpy's order 'F'.
"""
import numpy as np

from .stats import _positive_int

CONVENTIONS = ("book", "attention")


def _convention(convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def _even(n):
    n = _positive_int(n, "n", least=2)
    if n % 2:
        raise ValueError(f"n (the embedding dimension) must be even, got {n}")
    return n


def angular_frequencies(n, p=10000):
    """ω_i = 1 / p^(2i/n) for i = 0, …, n/2 - 1 (§4.2; p = 10 000 in GPT2 and in "Attention
    is all you need")."""
    n = _even(n)
    if not float(p) > 1:
        raise ValueError(f"p must be a number > 1, got {p}")
    return float(p) ** (-2.0 * np.arange(n // 2) / n)


def position_vectors(positions, n, p=10000, convention="book"):
    """The vectors w_k of the given positions (any real k), one row each: shape
    (len(positions), n); cos and sin interleaved in the order of `convention`."""
    angles = np.outer(np.asarray(positions, dtype=float).reshape(-1), angular_frequencies(n, p))
    first, second = (np.cos, np.sin) if _convention(convention) == "book" else (np.sin, np.cos)
    return np.stack([first(angles), second(angles)], axis=-1).reshape(len(angles), n)


def positional_encoding(K, n, p=10000, start=0, convention="book"):
    """The position vectors w_start, …, w_{start+K-1} as a (K, n) array (§4.2); the book's
    example K = 4, n = 6, p = 100 gives w_1 = (0.540, 0.841, 0.976, 0.213, 0.998, 0.046)."""
    K = _positive_int(K, "K")
    return position_vectors(np.arange(start, start + K), n, p, convention)


def rotation_matrix(omega):
    """M(ω), the rotation of the plane of angle ω: ((cos ω, -sin ω), (sin ω, cos ω))."""
    c, s = np.cos(omega), np.sin(omega)
    return np.array([[c, -s], [s, c]])


def relative_rotation(ell, n, p=10000, convention="book"):
    """R_ℓ ∈ M_{n,n}, block-diagonal with the rotations M(ℓω_i) (Proposition 2): w_{k+ℓ} =
    R_ℓ w_k for every k, and R_ℓ = R_1^ℓ. With convention 'attention' (sine first) the blocks
    are M(-ℓω_i)."""
    sign = 1.0 if _convention(convention) == "book" else -1.0
    R = np.zeros((_even(n), n))
    for i, omega in enumerate(angular_frequencies(n, p)):
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = rotation_matrix(sign * ell * omega)
    return R


def plot_positional_encoding(K, n, p=10000, convention="book", file=None, show=False):
    """The heatmap of the coordinates of w_k: one column per position k, one row per
    coordinate (§4.3, "Justification via les mathématiques")."""
    from ..plot import finish, pyplot
    W = positional_encoding(K, n, p, convention=convention)
    fig, ax = pyplot().subplots(figsize=(8, 4))
    image = ax.imshow(W.T, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1, origin="lower")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("position k")
    ax.set_ylabel("coordonnée")
    return finish(fig, file, show)


# ---- tensor product (§5) ----------------------------------------------------------------------
def _matrix(a, name):
    m = np.asarray(a)
    if m.ndim != 2:
        raise ValueError(f"{name} must be a matrix (2-D), got shape {m.shape}")
    return m


def vec(M):
    """vec(M): the columns C_1, …, C_p of M stacked into one vector of length np (§5.3)."""
    return _matrix(M, "M").reshape(-1, order="F")


def unvec(v, shape):
    """The matrix M of the given shape (n, p) with vec(M) = v."""
    v = np.asarray(v)
    n, p = shape
    if v.ndim != 1 or v.size != n * p:
        raise ValueError(f"v must be a vector of length {n * p} for shape {tuple(shape)}, got "
                         f"shape {v.shape}")
    return v.reshape((n, p), order="F")


def kron(A, B):
    """The Kronecker product A ⊗ B: the block matrix (a_ij B) of size (pn, qm) for A (p, q)
    and B (n, m) (§5.3), equal to numpy.kron for matrices."""
    A, B = _matrix(A, "A"), _matrix(B, "B")
    (p, q), (n, m) = A.shape, B.shape
    return (A[:, None, :, None] * B[None, :, None, :]).reshape(p * n, q * m)


def tensor_action(A, B, M):
    """(A ⊗ B) M = B M Aᵀ (§5.1): A acts on the columns (the positions), B on the rows (the
    dimension). A is p×p and B n×n for M n×p in the book; any A (p', p), B (n', n) work."""
    A, B, M = _matrix(A, "A"), _matrix(B, "B"), _matrix(M, "M")
    if B.shape[1] != M.shape[0] or A.shape[1] != M.shape[1]:
        raise ValueError(f"(A ⊗ B) M = B M Aᵀ needs B with {M.shape[0]} columns and A with "
                         f"{M.shape[1]} columns for M of shape {M.shape}; got A {A.shape}, "
                         f"B {B.shape}")
    return B @ M @ A.T


# French names used in the book
encodage_de_position = positional_encoding
produit_tensoriel = tensor_action
produit_de_kronecker = kron
